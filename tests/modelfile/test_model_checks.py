"""What llama.cpp aborts on is refused by read_model_file first, naming what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gguf import GGUFValueType as T

import homefire as hf
from tinymodels import tiny_vocab, value, write_tiny_model

pytestmark = pytest.mark.unit

TOKENS, TYPES, MERGES = tiny_vocab(320)
DUPLICATE = [*TOKENS[:300], TOKENS[5], *TOKENS[301:]]
TWO_EMPTY = [*TOKENS[:299], "", "[EMPTY_299]", *TOKENS[301:]]
NAN, INF = float("nan"), float("inf")


def ids(key: str, token: Any, kind: T = T.UINT32) -> dict[str, Any]:
    return {f"tokenizer.ggml.{key}_token_id": value(token, kind)}


DAMAGED: dict[str, tuple[dict[str, Any], str]] = {
    "a duplicate token": (
        {"tokenizer.ggml.tokens": value(DUPLICATE, T.ARRAY, T.STRING)},
        "token 'ą' twice \\(ids 5 and 300\\)",
    ),
    "an empty token next to its llama.cpp name": (
        {"tokenizer.ggml.tokens": value(TWO_EMPTY, T.ARRAY, T.STRING)},
        "twice",
    ),
    "fewer token types than tokens": (
        {"tokenizer.ggml.token_type": value(TYPES[:-5], T.ARRAY, T.INT32)},
        "token_type has 315 items for 320 tokens",
    ),
    "more token types than tokens": (
        {"tokenizer.ggml.token_type": value([*TYPES, 1, 1], T.ARRAY, T.INT32)},
        "322 items for 320 tokens",
    ),
    "token types of the wrong type": (
        {"tokenizer.ggml.token_type": value(TYPES, T.ARRAY, T.FLOAT32)},
        "float32 values, not int32",
    ),
    "too few scores": (
        {"tokenizer.ggml.scores": value([0.0] * 100, T.ARRAY, T.FLOAT32)},
        "scores has 100 items for 320 tokens",
    ),
    "scores that are strings": (
        {"tokenizer.ggml.scores": value(["x"] * 320, T.ARRAY, T.STRING)},
        "string values",
    ),
    "tokens that are numbers": (
        {"tokenizer.ggml.tokens": value(list(range(320)), T.ARRAY, T.INT32)},
        "not strings",
    ),
    "a BOS id past the vocabulary": (ids("bos", 100_000), "beginning-of-text token id 100000"),
    "an EOS id near 2**32": (ids("eos", 4_000_000_000), "end-of-text token id 4000000000"),
    "a negative EOS id": (ids("eos", -5, T.INT32), "end-of-text token id -5"),
    "an EOS id that is text": (ids("eos", "2", T.STRING), "end-of-text token id '2'"),
    "an end-of-turn id past the vocabulary": (ids("eot", 320), "end-of-turn token id 320"),
    "an unknown-token id past the vocabulary": (ids("unknown", 999), "unknown token id 999"),
    "a padding id past the vocabulary": (ids("padding", 999), "padding token id 999"),
    "a separator id past the vocabulary": (ids("seperator", 999), "separator token id 999"),
    "a fill-in-the-middle id past the vocabulary": (ids("fim_pre", 999), "prefix token id 999"),
    "more experts used than there are": (
        {"llama.expert_used_count": value(2, T.UINT32)},
        "expert_used_count is 2 for 0 experts",
    ),
    "experts none of which is used": (
        {"llama.expert_count": value(8, T.UINT32), "llama.expert_used_count": value(0, T.UINT32)},
        "expert_used_count is 0 for 8 experts",
    ),
    "more experts than llama.cpp holds": (
        {"llama.expert_count": value(100_000, T.UINT32)},
        "expert_count is 100000",
    ),
    "expert groups that do not divide the experts": (
        {
            "llama.expert_count": value(8, T.UINT32),
            "llama.expert_used_count": value(2, T.UINT32),
            "llama.expert_group_count": value(3, T.UINT32),
            "llama.expert_group_used_count": value(1, T.UINT32),
        },
        "expert_group_count 3",
    ),
    "an unknown RoPE scaling type": (
        {"llama.rope.scaling.type": value("weird", T.STRING)},
        "rope.scaling.type is 'weird'",
    ),
    "a NaN epsilon": (
        {"llama.attention.layer_norm_rms_epsilon": value(NAN, T.FLOAT32)},
        "epsilon is nan",
    ),
    "a negative epsilon": (
        {"llama.attention.layer_norm_rms_epsilon": value(-1e-6, T.FLOAT32)},
        "cannot be negative",
    ),
    "an infinite RoPE base": ({"llama.rope.freq_base": value(INF, T.FLOAT32)}, "freq_base is inf"),
    "a context length of zero": (
        {"llama.context_length": value(0, T.UINT32)},
        "context_length is 0",
    ),
    "a SentencePiece vocabulary without byte tokens": (
        {"tokenizer.ggml.model": value("llama", T.STRING)},
        "no token for the byte 0x00",
    ),
}


@pytest.mark.parametrize("case", DAMAGED)
def test_damage_llama_cpp_aborts_on_is_refused(case: str, tmp_path: Path) -> None:
    metadata, words = DAMAGED[case]
    path = write_tiny_model(tmp_path / "m.gguf", metadata=metadata)
    with pytest.raises(hf.ModelFileError, match=words) as info:
        hf.read_model_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"tokenizer.ggml.merges": value([*MERGES, "zz qq", "nospace", ""], T.ARRAY, T.STRING)},
        {"tokenizer.ggml.token_type": value([99] * 320, T.ARRAY, T.INT32)},
        {"tokenizer.ggml.eos_token_id": value(319, T.UINT32)},
        {"llama.rope.scaling.type": value("yarn", T.STRING)},
    ],
)
def test_what_llama_cpp_accepts_reads_fine(metadata: dict[str, Any], tmp_path: Path) -> None:
    read = hf.read_model_file(write_tiny_model(tmp_path / "m.gguf", metadata=metadata))
    assert read.vocab_size == 320


def test_the_control_tokens_are_listed(tmp_path: Path) -> None:
    read = hf.read_model_file(write_tiny_model(tmp_path / "m.gguf"))
    assert read.control_tokens == ("<|endoftext|>", "<|im_end|>", "<|im_start|>")
    untyped = write_tiny_model(tmp_path / "u.gguf", metadata={"tokenizer.ggml.token_type": None})
    # without types llama.cpp still treats end-of-turn tokens it knows by their text as control
    assert hf.read_model_file(untyped).control_tokens == ("<|endoftext|>", "<|im_end|>")


@pytest.mark.parametrize(
    "path",
    ["a" * 300 + ".gguf", "deep/" * 1000 + "m.gguf", "nul\x00byte.gguf"],
)
def test_paths_the_file_system_cannot_hold_are_model_file_errors(path: str, tmp_path: Path) -> None:
    with pytest.raises(hf.ModelFileError, match="path"):
        hf.read_model_file(tmp_path / path)
