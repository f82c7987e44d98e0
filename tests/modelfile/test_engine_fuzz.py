"""Damaged model files against the real engines: whatever read_model_file accepts, llama.cpp
loads without stopping the process.

Each example damages the metadata of a tiny model (values of the wrong type or size, ids out
of range, tokens repeated or emptied, keys removed), then reads it. A file the reader accepts
is loaded by both engines in a child process (`trial_load`), where an abort ends the child,
not pytest; a child that dies means the reader missed something llama.cpp asserts on.
The budget is fixed (HOMEFIRE_FUZZ_EXAMPLES, 20 by default) so CI time stays bounded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from gguf import GGUFValueType as T
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import homefire as hf
from homefire.providers.llamacpp.trial import trial_load
from tinymodels import tiny_vocab, value, write_tiny_model

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("HOMEFIRE_FUZZ_EXAMPLES", "20"))
ENGINES = [
    engine
    for engine, module in (("xllamacpp", "xllamacpp"), ("llama-cpp-python", "llama_cpp"))
    if __import__("importlib.util").util.find_spec(module) is not None
]
TOKENS, TYPES, _ = tiny_vocab(320)
KEYS = [
    "general.alignment",
    "llama.context_length",
    "llama.embedding_length",
    "llama.block_count",
    "llama.feed_forward_length",
    "llama.attention.head_count",
    "llama.attention.head_count_kv",
    "llama.attention.key_length",
    "llama.attention.value_length",
    "llama.attention.layer_norm_rms_epsilon",
    "llama.attention.sliding_window",
    "llama.rope.dimension_count",
    "llama.rope.freq_base",
    "llama.rope.scaling.type",
    "llama.rope.scaling.factor",
    "llama.expert_count",
    "llama.expert_used_count",
    "llama.vocab_size",
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.scores",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.token_type_count",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_eos_token",
    "tokenizer.chat_template",
]
INTS = [0, 1, 2, 3, 4, 16, 63, 64, 255, 256, 319, 320, 321, 65536, 2**31 - 1, 2**32 - 1]
scalars = st.one_of(
    st.builds(value, st.sampled_from(INTS), st.just(T.UINT32)),
    st.builds(value, st.sampled_from([-1, -2, -(2**31)]), st.just(T.INT32)),
    st.builds(value, st.sampled_from([2**40, 2**64 - 1]), st.just(T.UINT64)),
    st.builds(
        value,
        st.sampled_from([float("nan"), float("inf"), -1.0, 0.0, 1e-6, 1e30]),
        st.just(T.FLOAT32),
    ),
    st.builds(
        value,
        st.sampled_from(["", "llama", "gpt2", "bert", "t5", "rwkv", "none", "yarn", "x" * 300]),
        st.just(T.STRING),
    ),
    st.builds(value, st.booleans(), st.just(T.BOOL)),
)
arrays = st.one_of(
    st.builds(
        value,
        st.lists(
            st.sampled_from(INTS[:12]), min_size=1, max_size=6
        ),  # no empty arrays: the writer refuses
        st.just(T.ARRAY),
        st.just(T.UINT32),
    ),
    st.builds(
        value,
        st.lists(st.sampled_from(["a", "", "a b", "<|im_end|>"]), min_size=1, max_size=4),
        st.just(T.ARRAY),
        st.just(T.STRING),
    ),
)


@st.composite
def token_edits(draw: st.DrawFn) -> tuple[str, Any]:
    tokens = list(TOKENS)
    position = draw(st.integers(0, len(tokens) - 1))
    edit = draw(st.sampled_from(["repeat", "empty", "control-text", "shorten"]))
    if edit == "repeat":
        tokens[position] = tokens[draw(st.integers(0, len(tokens) - 1))]
    elif edit == "empty":
        tokens[position] = ""
    elif edit == "control-text":
        tokens[position] = "<|im_start|>"
    else:
        tokens = tokens[: max(position, 1)]
    return "tokenizer.ggml.tokens", value(tokens, T.ARRAY, T.STRING)


mutations = st.one_of(
    st.tuples(st.sampled_from(KEYS), st.one_of(scalars, arrays, st.none())),
    token_edits(),
)
_DIR = Path(tempfile.mkdtemp(prefix="homefire-engine-fuzz-"))


@pytest.mark.skipif(not ENGINES, reason="no in-process engine is installed")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(mutations, min_size=1, max_size=3))
def test_what_the_reader_accepts_the_engines_load_without_dying(
    edits: list[tuple[str, Any]],
) -> None:
    path = write_tiny_model(_DIR / "case.gguf", metadata=dict(edits))
    try:
        hf.read_model_file(path)
    except hf.ModelFileError:
        return  # refused, with a message: what the reader is for
    for engine in ENGINES:
        trial_load(engine, path)  # ModelFileError here: llama.cpp stopped the child


@pytest.mark.skipif(not ENGINES, reason="no in-process engine is installed")
@pytest.mark.parametrize("engine", ENGINES)
def test_an_engine_abort_in_the_trial_is_a_model_file_error(engine: str, tmp_path: Path) -> None:
    duplicate = [*TOKENS[:300], TOKENS[5], *TOKENS[301:]]
    path = write_tiny_model(
        tmp_path / "dup.gguf",
        metadata={"tokenizer.ggml.tokens": value(duplicate, T.ARRAY, T.STRING)},
    )
    with pytest.raises(hf.ModelFileError, match="stopped the process loading it") as info:
        trial_load(engine, path)  # the reader refuses this file; the trial is tried alone here
    assert "SIGABRT" in str(info.value) or "exit status" in str(info.value)
