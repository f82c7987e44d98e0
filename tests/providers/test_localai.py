"""hf.LocalAI against the fake LocalAI: inference, readiness, backends, gallery, API keys."""

from __future__ import annotations

import pytest

import homefire as hf
from fakes.localai import FakeLocalAI
from homefire.progress import Progress

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
    with pytest.raises(hf.ModelNotFoundError):
        llm.load("missing")


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
