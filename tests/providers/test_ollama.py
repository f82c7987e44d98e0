"""hf.Ollama against the fake Ollama: native NDJSON, options on the wire, lifecycle."""

from __future__ import annotations

import pytest

import homefire as hf
from fakes.ollama import FakeOllama
from homefire.errors import ContextTruncatedWarning
from homefire.progress import Progress

pytestmark = pytest.mark.unit


def test_chat_sends_options_and_maps_timings(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama(
        "smollm2:135m",
        base_url=fake_ollama.base_url,
        context_window=2048,
        keep_alive="10m",
        num_gpu=0,
        num_thread=2,
    )
    answer = llm.chat("hello there", temperature=0.1, max_tokens=50, seed=3, stop=["\n"])
    assert answer.text == "You said: hello there"
    assert answer.finish_reason == "stop"
    sent = fake_ollama.last("/api/chat").json()
    assert sent["options"] == {
        "num_ctx": 2048,
        "num_gpu": 0,
        "num_thread": 2,
        "temperature": 0.1,
        "num_predict": 50,
        "seed": 3,
        "stop": ["\n"],
    }
    assert sent["keep_alive"] == "10m" and sent["stream"] is False
    assert answer.timings is not None and answer.timings.prompt_ms == pytest.approx(210.0)
    assert answer.usage is not None and answer.usage.prompt_tokens == 2
    assert llm.metadata.context_window == 2048


def test_stream_chat_and_complete_sync(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url)
    pieces = list(llm.stream_chat("one two three", max_tokens=3))
    assert [p.delta for p in pieces] == ["You", " said:", " one", ""]
    assert pieces[-1].finish_reason == "length" and pieces[-1].text == "You said: one"
    assert pieces[-1].timings is not None and pieces[-1].timings.generated_tokens == 3
    completion = llm.complete("Once upon", formatted=True)
    assert completion.text == "You said: Once upon"
    assert fake_ollama.last("/api/generate").json()["raw"] is True
    streamed = list(llm.stream_complete("a b"))
    assert streamed[-1].text == "You said: a b" and streamed[-1].finish_reason == "stop"


async def test_async_is_native(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url)
    assert (await llm.achat("hi")).text == "You said: hi"
    pieces = [p async for p in llm.astream_chat("hi there")]
    assert pieces[-1].text == "You said: hi there"
    assert (await llm.acomplete("x")).text == "You said: x"
    streamed = [p async for p in llm.astream_complete("y")]
    assert streamed[-1].finish_reason == "stop"
    await llm.aclose()


def test_thinking_becomes_reasoning_and_tools_take_objects(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama("qwen3:0.6b", base_url=fake_ollama.base_url, think=True)
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    answer = llm.chat("Weather in Tokyo?", tools=[weather])
    assert answer.message.reasoning == "Let me think."
    assert answer.text == "You said: Weather in Tokyo?"
    assert answer.message.tool_calls[0].name == "get_weather"
    assert answer.message.tool_calls[0].arguments == {"city": "Tokyo"}
    assert fake_ollama.last("/api/chat").json()["think"] is True
    streamed = list(llm.stream_chat("hi", tools=[weather]))
    assert streamed[0].reasoning_delta == "Let me think."
    assert streamed[-1].message.tool_calls[0].arguments == {"city": "Tokyo"}


def test_json_schema_becomes_format(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url)
    llm.chat("hi", json_schema={"type": "object"})
    assert fake_ollama.last("/api/chat").json()["format"] == {"type": "object"}


def test_forced_tool_choice_is_enforced_by_format(fake_ollama: FakeOllama) -> None:
    tool_spec = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    llm = hf.Ollama("qwen3:0.6b", base_url=fake_ollama.base_url)
    answer = llm.chat("weather?", tools=[tool_spec], tool_choice="get_weather")
    sent = fake_ollama.last("/api/chat").json()
    assert "tools" not in sent
    assert sent["format"]["properties"]["name"]["enum"] == ["get_weather"]
    [call] = answer.message.tool_calls
    assert call.name == "get_weather"
    assert isinstance(call.arguments["city"], str)
    streamed = list(llm.stream_chat("weather?", tools=[tool_spec], tool_choice="required"))
    assert [c.name for c in streamed[-1].message.tool_calls] == ["get_weather"]


def test_refusals_are_typed(fake_ollama: FakeOllama) -> None:
    with pytest.raises(hf.ModelNotFoundError, match="not found"):
        hf.Ollama("missing", base_url=fake_ollama.base_url).chat("hi")
    tool_spec = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(hf.APIStatusError, match="does not support tools"):
        hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url).chat("hi", tools=[tool_spec])
    with pytest.raises(hf.InvalidParameterError, match="model"):
        hf.Ollama(base_url=fake_ollama.base_url).chat("hi")
    with pytest.raises(hf.InvalidParameterError, match="on_truncation"):
        hf.Ollama("m", on_truncation="ignore")  # type: ignore[arg-type]


def test_silent_truncation_is_detected(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url, context_window=32)
    long_history = [{"role": "user", "content": "word " * 20}] * 3
    with pytest.raises(hf.ContextOverflowError, match="num_ctx=32") as caught:
        llm.chat(long_history)
    assert caught.value.context_window == 32
    with pytest.raises(hf.ContextOverflowError):
        list(llm.stream_chat(long_history))
    warn = hf.Ollama(
        "smollm2:135m", base_url=fake_ollama.base_url, context_window=32, on_truncation="warn"
    )
    with pytest.warns(ContextTruncatedWarning):
        answer = warn.chat(long_history)
    assert answer.usage is not None and answer.usage.prompt_tokens <= 32
    assert llm.chat("short").text == "You said: short"


def test_models_show_load_unload(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url)
    assert not any(m.loaded for m in llm.models())
    info = llm.load(context_length=1024, gpu=0, ttl="1h")
    assert info.loaded and info.context_length == 1024
    sent = fake_ollama.last("/api/generate").json()
    assert sent["keep_alive"] == "1h" and sent["options"] == {"num_ctx": 1024, "num_gpu": 0}
    [loaded] = [m for m in llm.models() if m.loaded]
    assert (loaded.id, loaded.context_length, loaded.quantization) == ("smollm2:135m", 1024, "Q4_1")
    assert llm.metadata.context_window == 1024
    shown = llm.show()
    assert shown.max_context_length == 8192 and shown.capabilities == ["completion"]
    llm.unload()
    assert fake_ollama.last("/api/generate").json()["keep_alive"] == 0
    assert not any(m.loaded for m in llm.models())


def test_pull_reports_progress_and_failures(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama(base_url=fake_ollama.base_url)
    steps: list[Progress] = []
    llm.pull("tinyllama", progress=steps.append)
    assert steps[0].status == "pulling manifest" and steps[-1].done
    assert any(s.fraction == 0.5 for s in steps)
    assert "tinyllama:latest" in {m.id for m in llm.models()}
    with pytest.raises(hf.DownloadError, match="file does not exist"):
        llm.pull("no-such-model")


def test_pull_cut_short_is_a_download_error(fake_ollama: FakeOllama) -> None:
    fake_ollama.pull_cut_after = 3
    steps: list[Progress] = []
    with pytest.raises(hf.DownloadError, match="ended before Ollama said"):
        hf.Ollama(base_url=fake_ollama.base_url).pull("tinyllama", progress=steps.append)
    assert len(steps) == 3 and not steps[-1].done


def test_chat_after_load_keeps_the_loaded_context(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url)
    llm.load(context_length=1024, gpu=0)
    assert llm.chat("hi").text == "You said: hi"
    assert fake_ollama.last("/api/chat").json()["options"] == {"num_ctx": 1024, "num_gpu": 0}
    assert fake_ollama.loaded["smollm2:135m"].num_ctx == 1024
    llm.load("qwen3:0.6b", context_length=512)  # another model: this one's settings stay
    llm.chat("again")
    assert fake_ollama.last("/api/chat").json()["options"]["num_ctx"] == 1024


def test_health_and_wait(fake_ollama: FakeOllama, refusing_url: str) -> None:
    llm = hf.Ollama(base_url=fake_ollama.base_url)
    assert llm.health()
    llm.wait_until_ready(timeout=5)
    assert fake_ollama.requests[-1].path == "/api/version"
    stopped = hf.Ollama(base_url=refusing_url)
    with pytest.raises(hf.ServerNotRunningError, match="ollama serve"):
        stopped.models()
    with pytest.raises(hf.HomefireTimeoutError):
        stopped.wait_until_ready(timeout=0.6)


async def test_async_wait(fake_ollama: FakeOllama, refusing_url: str) -> None:
    llm = hf.Ollama(base_url=fake_ollama.base_url)
    await llm.await_until_ready(timeout=5)
    assert fake_ollama.requests[-1].path == "/api/version"
    await llm.aclose()
    stopped = hf.Ollama(base_url=refusing_url)
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        await stopped.await_until_ready(timeout=0.6)
    assert caught.value.which == "ready"
    await stopped.aclose()


# --- Ollama's in-stream failures ------------------------------------------------------------


def test_an_error_line_mid_stream_raises(fake_ollama: FakeOllama) -> None:
    """A crashed runner: the stream had started (200), then an `{"error": ...}` line ends it."""
    fake_ollama.fail_stream_after = 2
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url)
    for stream in (llm.stream_chat("one two three"), llm.stream_complete("one two three")):
        with pytest.raises(hf.GenerationError, match=r"mid-stream.*running the model") as caught:
            list(stream)
        assert not isinstance(caught.value, hf.StreamInterruptedError)


async def test_an_error_line_mid_stream_raises_async(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_stream_after = 2
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url)
    with pytest.raises(hf.GenerationError, match=r"mid-stream.*running the model"):
        async for _ in llm.astream_chat("one two three"):
            pass
    with pytest.raises(hf.GenerationError, match=r"mid-stream.*running the model"):
        async for _ in llm.astream_complete("one two three"):
            pass
    await llm.aclose()


async def test_a_failure_before_any_piece_is_the_status(fake_ollama: FakeOllama) -> None:
    """Before anything was written, Ollama answers the error with status 500 instead."""
    fake_ollama.fail_stream_after = 0
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url)
    with pytest.raises(hf.APIStatusError, match="running the model") as caught:
        list(llm.stream_chat("hi"))
    assert caught.value.status == 500
    with pytest.raises(hf.APIStatusError, match="running the model"):
        llm.complete("hi")
    with pytest.raises(hf.APIStatusError, match="running the model"):
        await llm.achat("hi")
    await llm.aclose()


# --- silent truncation on every path ----------------------------------------------------------


LONG_PROMPT = "word " * 60


def test_truncation_is_caught_on_the_completion_paths(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url, context_window=32)
    with pytest.raises(hf.ContextOverflowError, match="num_ctx=32"):
        llm.complete(LONG_PROMPT)
    with pytest.raises(hf.ContextOverflowError, match="num_ctx=32"):
        list(llm.stream_complete(LONG_PROMPT))
    assert llm.complete("short").text == "You said: short"


async def test_truncation_is_caught_async(fake_ollama: FakeOllama) -> None:
    llm = hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url, context_window=32)
    history = [{"role": "user", "content": "word " * 20}] * 3
    with pytest.raises(hf.ContextOverflowError, match="num_ctx=32"):
        await llm.achat(history)
    with pytest.raises(hf.ContextOverflowError):
        async for _ in llm.astream_chat(history):
            pass
    with pytest.raises(hf.ContextOverflowError):
        await llm.acomplete(LONG_PROMPT)
    with pytest.raises(hf.ContextOverflowError):
        async for _ in llm.astream_complete(LONG_PROMPT):
            pass
    warn = hf.Ollama(
        "smollm2:135m", base_url=fake_ollama.base_url, context_window=32, on_truncation="warn"
    )
    with pytest.warns(ContextTruncatedWarning):
        answer = await warn.acomplete(LONG_PROMPT)
    assert answer.usage is not None and answer.usage.prompt_tokens == 32
    assert (await llm.acomplete("short")).text == "You said: short"
    await llm.aclose()
    await warn.aclose()
