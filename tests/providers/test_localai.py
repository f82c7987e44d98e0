"""hf.LocalAI against the fake LocalAI: inference, readiness, backends, gallery, API keys,
and its documented failures (an error mid-stream, a model still loading)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

import homefire as hf
from fakes.localai import RUN_FAILURE, FakeLocalAI
from homefire.progress import Progress

WAIT = 30.0

pytestmark = pytest.mark.unit


def test_chat_stream_complete_and_options(fake_localai: FakeLocalAI) -> None:
    llm = hf.LocalAI("smollm2", base_url=fake_localai.base_url)
    answer = llm.chat("hello", max_tokens=3, min_p=0.1, top_k=4)
    assert answer.text == "You said: hello" and answer.finish_reason == "stop"
    sent = fake_localai.last("/v1/chat/completions").json()
    assert (sent["max_tokens"], sent["min_p"], sent["top_k"]) == (3, 0.1, 4)
    assert answer.timings is not None  # asked for with the Extra-Usage header
    assert (answer.timings.prompt_ms, answer.timings.generation_ms) == (12.5, 80.0)
    assert answer.timings.tokens_per_second == pytest.approx(3 / 0.08)
    assert list(llm.stream_chat("a b"))[-1].text == "You said: a b"
    assert llm.complete("c").text == "You said: c"


async def test_async(fake_localai: FakeLocalAI) -> None:
    llm = hf.LocalAI("smollm2", base_url=fake_localai.base_url)
    assert (await llm.achat("hi")).text == "You said: hi"
    assert [p async for p in llm.astream_complete("x")][-1].text == "You said: x"
    await llm.aclose()


def test_models_load_monitor_unload(fake_localai: FakeLocalAI) -> None:
    llm = hf.LocalAI(base_url=fake_localai.base_url)
    assert [(m.id, m.loaded) for m in llm.models()] == [("smollm2", False), ("phi-3-mini", False)]
    assert llm.load("smollm2").loaded
    assert dict((m.id, m.loaded) for m in llm.models())["smollm2"]
    assert llm.backend_status("smollm2") == "ready"
    llm.unload("smollm2")
    assert not dict((m.id, m.loaded) for m in llm.models())["smollm2"]
    with pytest.raises(hf.NotSupportedError, match="YAML"):
        llm.load("smollm2", context_length=4096)
    with pytest.raises(hf.APIStatusError, match="failed to load model") as caught:
        llm.load("missing")
    assert caught.value.status == 500
    with pytest.raises(hf.ModelNotFoundError, match="is not loaded"):
        llm.unload("smollm2")
    with pytest.raises(hf.ModelNotFoundError, match="call GET /v1/models"):
        hf.LocalAI("missing", base_url=fake_localai.base_url).chat("hi")


def test_gallery_install_reports_progress_and_failure(fake_localai: FakeLocalAI) -> None:
    llm = hf.LocalAI(base_url=fake_localai.base_url)
    assert [g["name"] for g in llm.gallery()] == ["tinyllama-1.1b-chat"]
    steps: list[Progress] = []
    llm.pull("localai@tinyllama-1.1b-chat", progress=steps.append, poll_interval=0.01)
    assert steps[0].fraction == 0.5 and steps[-1].done
    assert "tinyllama-1.1b-chat" in {m.id for m in llm.models()}
    with pytest.raises(hf.DownloadError, match="no model found"):
        llm.pull("localai@nope", poll_interval=0.01)


def test_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeLocalAI(api_keys=["secret"]).start()
    try:
        with pytest.raises(hf.AuthenticationError, match="authentication key"):
            hf.LocalAI("smollm2", base_url=server.base_url).chat("hi")
        with pytest.raises(hf.AuthenticationError):
            hf.LocalAI("smollm2", base_url=server.base_url, api_key="wrong").models()
        assert hf.LocalAI(base_url=server.base_url).health()  # /readyz stays public
        monkeypatch.setenv("LOCALAI_API_KEY", "secret")
        assert hf.LocalAI("smollm2", base_url=server.base_url).chat("hi").text
    finally:
        server.stop()


def test_readiness(fake_localai: FakeLocalAI) -> None:
    llm = hf.LocalAI(base_url=fake_localai.base_url)
    fake_localai.ready = False
    assert llm.health() is False
    with pytest.raises(hf.HomefireTimeoutError):
        llm.wait_until_ready(timeout=0.6)
    fake_localai.ready = True
    llm.wait_until_ready(timeout=5)


async def test_async_readiness(fake_localai: FakeLocalAI) -> None:
    llm = hf.LocalAI(base_url=fake_localai.base_url)
    fake_localai.ready = False
    assert await llm.ahealth() is False
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        await llm.await_until_ready(timeout=0.6)
    assert caught.value.which == "ready"
    polls = sum(r.path == "/readyz" for r in fake_localai.requests)
    assert polls >= 2  # it asked again, it did not give up after one answer
    fake_localai.ready = True
    await llm.await_until_ready(timeout=5)
    assert fake_localai.last("/readyz") is fake_localai.requests[-1]
    await llm.aclose()


def test_an_error_mid_stream_is_raised_not_returned(fake_localai: FakeLocalAI) -> None:
    """LocalAI ends a failed chat stream with `data: {"error": ...}` then `[DONE]`, and a
    failed completion stream with the error as its last text: both raise."""
    fake_localai.fail_stream_after = 2
    llm = hf.LocalAI("smollm2", base_url=fake_localai.base_url)
    with pytest.raises(hf.GenerationError, match="error reading from server") as caught:
        list(llm.stream_chat("one two three"))
    assert not isinstance(caught.value, hf.StreamInterruptedError)
    with pytest.raises(hf.GenerationError, match="backend failed mid-stream") as caught:
        list(llm.stream_complete("one two three"))
    assert RUN_FAILURE in str(caught.value)


async def test_an_error_mid_stream_is_raised_async(fake_localai: FakeLocalAI) -> None:
    fake_localai.fail_stream_after = 2
    llm = hf.LocalAI("smollm2", base_url=fake_localai.base_url)
    with pytest.raises(hf.GenerationError, match="error reading from server"):
        async for _ in llm.astream_chat("one two three"):
            pass
    with pytest.raises(hf.GenerationError, match="backend failed mid-stream"):
        async for _ in llm.astream_complete("one two three"):
            pass
    await llm.aclose()


# A model still loading answers 503 `model_loading` with Retry-After. These tests rely on the
# transport waiting for a loading server (today its retries, which honour Retry-After; later
# the client's wait for a loading server): the answer comes once the fake stops loading.
PATIENT = hf.RetryPolicy(attempts=30)  # Retry-After is 1 s: up to ~30 s of loading


def test_a_model_still_loading_is_waited_for(fake_localai: FakeLocalAI) -> None:
    fake_localai.loading = True
    llm = hf.LocalAI("smollm2", base_url=fake_localai.base_url, retry=PATIENT)
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(llm.chat, "hi")
        assert fake_localai.loading_answered.wait(WAIT)
        fake_localai.finish_loading()
        assert answer.result(timeout=WAIT).text == "You said: hi"
    refused = [r for r in fake_localai.requests if r.path == "/v1/chat/completions"]
    assert len(refused) >= 2  # the 503 was answered, then the request was sent again


async def test_a_model_still_loading_is_waited_for_async(fake_localai: FakeLocalAI) -> None:
    fake_localai.loading = True
    llm = hf.LocalAI("smollm2", base_url=fake_localai.base_url, retry=PATIENT)
    answer = asyncio.ensure_future(llm.acomplete("hi"))
    assert await asyncio.to_thread(fake_localai.loading_answered.wait, WAIT)
    fake_localai.finish_loading()
    assert (await asyncio.wait_for(answer, WAIT)).text == "You said: hi"
    await llm.aclose()


def test_a_model_that_keeps_loading_is_a_busy_error(fake_localai: FakeLocalAI) -> None:
    fake_localai.loading = True
    llm = hf.LocalAI("smollm2", base_url=fake_localai.base_url, retry=hf.RetryPolicy(attempts=1))
    with pytest.raises(hf.ServerBusyError, match="is loading") as caught:
        llm.chat("hi")
    assert caught.value.status == 503
