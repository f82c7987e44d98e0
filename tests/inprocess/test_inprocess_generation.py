"""The real model on both engines: same answers on every path, options that reach the engine.

The model's words are never checked (they change with the machine's threads and CPU): each
path must give the answer another path gave, on this machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from inprocess_helpers import FRANCE

import homefire as hf

pytestmark = pytest.mark.integration


def test_greedy_answer_is_identical_on_every_path(llm: hf.LlamaCPP) -> None:
    chat = llm.chat(FRANCE, temperature=0)
    assert chat.text.strip()
    assert chat.finish_reason in ("stop", "length")
    assert chat.usage is not None and chat.usage.completion_tokens > 0
    assert chat.timings is not None and chat.timings.generated_tokens
    streamed = list(llm.stream_chat(FRANCE, temperature=0))
    assert "".join(c.delta or "" for c in streamed) == chat.text
    assert streamed[-1].text == chat.text
    assert streamed[-1].finish_reason == chat.finish_reason
    assert streamed[-1].usage is not None


async def test_async_paths_give_the_same_answer(llm: hf.LlamaCPP) -> None:
    expected = llm.chat(FRANCE, temperature=0).text
    assert (await llm.achat(FRANCE, temperature=0)).text == expected
    pieces = [c.delta or "" async for c in llm.astream_chat(FRANCE, temperature=0)]
    assert "".join(pieces) == expected
    assert (await llm.acomplete("The capital of France is", max_tokens=4, temperature=0)).text


def test_max_tokens_reaches_the_engine(llm: hf.LlamaCPP) -> None:
    response = llm.complete("Once upon a time", max_tokens=3, temperature=0)
    assert response.usage is not None and response.usage.completion_tokens == 3
    assert response.finish_reason == "length"
    chunks = list(llm.stream_complete("Once upon a time", max_tokens=3, temperature=0))
    assert chunks[-1].text == response.text
    assert chunks[-1].finish_reason == "length"


def test_stop_string_stops(llm: hf.LlamaCPP) -> None:
    free = llm.complete("Count: 1, 2, 3,", max_tokens=12, temperature=0).text
    words = free.split()
    assert len(words) >= 2, free
    marker = words[-1]  # a stop string this machine's answer is known to contain
    stopped = llm.complete("Count: 1, 2, 3,", max_tokens=12, temperature=0, stop=[marker])
    assert stopped.text == free[: free.index(marker)]
    assert stopped.finish_reason == "stop"


def test_seed_makes_sampling_reproducible(llm: hf.LlamaCPP) -> None:
    def sample(**options: Any) -> str:
        return llm.complete("My favourite animal is", max_tokens=8, temperature=2.0, **options).text

    assert sample(seed=1234) == sample(seed=1234)
    assert len({sample() for _ in range(3)}) > 1  # no seed: a fresh one each call


def test_extra_passes_through(llm: hf.LlamaCPP) -> None:
    token = llm.tokenize(" banana")[0]
    forced = llm.complete(
        "The capital of France is",
        max_tokens=3,
        temperature=0,
        extra={"logit_bias": {str(token): 100.0}}
        if llm.engine == "xllamacpp"
        else {"logit_bias": {token: 100.0}},
    )
    assert llm.tokenize(forced.text) == [token] * 3


@pytest.mark.parametrize("call", ["complete", "stream_complete", "chat", "stream_chat"])
def test_a_misspelled_extra_field_is_refused(llm: hf.LlamaCPP, call: str) -> None:
    def run() -> object:
        result = getattr(llm, call)("hi", extra={"top_kk": 3})
        return list(result) if call.startswith("stream") else result

    with pytest.raises(hf.InvalidParameterError, match="did you mean top_k"):
        run()


def test_json_schema_constrains_the_answer(llm: hf.LlamaCPP) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}},
        "required": ["city"],
        "additionalProperties": False,
    }
    text = llm.chat(FRANCE, temperature=0, max_tokens=24, json_schema=schema).text
    import json

    assert set(json.loads(text)) == {"city"}


@pytest.mark.parametrize("path", ["complete", "stream_complete", "chat", "stream_chat"])
def test_context_overflow_names_both_numbers(llm: hf.LlamaCPP, path: str) -> None:
    def call(text: str) -> object:
        result = getattr(llm, path)(text)
        return list(result) if path.startswith("stream") else result

    with pytest.raises(hf.ContextOverflowError) as info:
        call("hello " * 3000)
    assert info.value.context_window == 2048
    assert info.value.prompt_tokens is not None and info.value.prompt_tokens > 2048
    assert "2048" in str(info.value) and str(info.value.prompt_tokens) in str(info.value)


@pytest.mark.parametrize("path", ["complete", "stream_complete"])
def test_empty_prompt_is_refused(llm: hf.LlamaCPP, path: str) -> None:
    with pytest.raises(hf.InvalidParameterError, match="empty"):
        getattr(llm, path)("")


def test_prompt_overrides(llm: hf.LlamaCPP, smollm2_path: Path) -> None:
    custom = hf.LlamaCPP(
        smollm2_path,
        engine=llm.engine,
        n_threads=2,
        context_window=512,
        messages_to_prompt=lambda ms: "".join(f"<{m.role}>{m.content}" for m in ms),
        completion_to_prompt=lambda p: f"[{p}]",
    )
    try:
        assert custom.messages_to_prompt([hf.user("hi")]) == "<user>hi"
        assert custom.completion_to_prompt("x") == "[x]"
        raw = custom.complete("Paris is", max_tokens=3, temperature=0, formatted=True).text
        wrapped = custom.complete("Paris is", max_tokens=3, temperature=0).text
        assert raw == llm.complete("Paris is", max_tokens=3, temperature=0).text
        assert wrapped == llm.complete("[Paris is]", max_tokens=3, temperature=0).text
    finally:
        custom.close()


def test_model_template_renders_chatml(llm: hf.LlamaCPP) -> None:
    prompt = llm.messages_to_prompt([hf.system("S"), hf.user("U")])
    assert prompt == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n" + (
        "<|im_start|>assistant\n"
    )
    assert llm.tokenize("<|im_start|>user") == [1, 4093]  # the special token is one token
    assert llm.count_tokens("hello world") == 2


def test_metadata(llm: hf.LlamaCPP, smollm2_path: Path) -> None:
    meta = llm.metadata
    assert meta.context_window == 2048
    assert meta.is_chat_model
    assert meta.extra["trained_context"] == 8192
    assert meta.extra["engine"] == llm.engine
    assert llm.model_path == smollm2_path


def test_default_is_the_embedded_model_with_its_trained_context() -> None:
    llm = hf.LlamaCPP(n_threads=2)
    try:
        assert llm.engine == "xllamacpp"
        assert llm.model_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
        assert llm.metadata.context_window == 8192  # trained 8192, within the cap
        assert llm.chat(FRANCE, temperature=0, max_tokens=8).text.strip()
    finally:
        llm.close()


def test_bad_file_in_load_model_keeps_the_current_model(tmp_path: Path, tiny_model: Path) -> None:
    empty = tmp_path / "empty.gguf"
    empty.touch()
    llm = hf.LlamaCPP(tiny_model, n_threads=2, n_parallel=1)
    try:
        with pytest.raises(hf.ModelFileError, match="empty"):
            llm.load_model(empty)
        assert llm.model_path == tiny_model
        assert llm.complete("hello", max_tokens=2, temperature=0).usage is not None
    finally:
        llm.close()
    with pytest.raises(hf.GenerationError, match="closed"):
        llm.complete("hello")
