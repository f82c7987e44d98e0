"""hf.LMStudio against the fake LM Studio: context applied by loading, TTL on JIT requests,
stats, lifecycle, and the load settings LM Studio's API does not take."""

from __future__ import annotations

import asyncio

import pytest

import homefire as hf
from fakes._server import FakeServer, Reply, Request
from fakes.lmstudio import FakeLMStudio, Instance
from homefire.progress import Progress

pytestmark = pytest.mark.unit

MODEL = "qwen2.5-7b-instruct"


def test_context_window_is_applied_by_loading_first(fake_lmstudio: FakeLMStudio) -> None:
    llm = hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url, context_window=16384)
    answer = llm.chat("hello there")
    assert answer.text == "You said: hello there"
    load = fake_lmstudio.last("/api/v1/models/load").json()
    assert load == {"model": MODEL, "context_length": 16384, "echo_load_config": True}
    assert fake_lmstudio.loaded[MODEL].context_length == 16384
    assert not fake_lmstudio.loaded[MODEL].jit
    [info] = [m for m in llm.models() if m.id == MODEL]
    assert info.loaded and info.context_length == 16384 and info.max_context_length == 32768
    assert llm.metadata.context_window == 16384
    llm.chat("again")
    loads = [r for r in fake_lmstudio.requests if r.path == "/api/v1/models/load"]
    assert len(loads) == 1


def test_metadata_reports_the_loaded_context(fake_lmstudio: FakeLMStudio) -> None:
    hf.LMStudio(base_url=fake_lmstudio.base_url).load(MODEL, context_length=8192)
    assert hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url).metadata.context_window == 8192


def test_ttl_rides_on_every_request_and_stats_become_timings(fake_lmstudio: FakeLMStudio) -> None:
    llm = hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url, ttl=300)
    assert llm.complete("x").text == "You said: x"
    assert fake_lmstudio.last("/api/v0/completions").json()["ttl"] == 300
    answer = llm.chat("hi", max_tokens=2, top_k=5, repeat_penalty=1.1)
    sent = fake_lmstudio.last("/api/v0/chat/completions").json()
    assert (sent["ttl"], sent["max_tokens"], sent["top_k"], sent["repeat_penalty"]) == (
        300,
        2,
        5,
        1.1,
    )
    assert answer.finish_reason == "length"
    assert answer.timings is not None
    assert answer.timings.tokens_per_second == pytest.approx(38.2)
    assert answer.timings.time_to_first_token_ms == pytest.approx(240)
    assert fake_lmstudio.loaded[MODEL].jit and fake_lmstudio.loaded[MODEL].ttl == 300


def test_streams_and_completion(fake_lmstudio: FakeLMStudio) -> None:
    llm = hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url)
    pieces = list(llm.stream_chat("a b"))
    assert pieces[-1].text == "You said: a b" and pieces[-1].usage is not None
    assert llm.complete("Once").text == "You said: Once"
    assert list(llm.stream_complete("x"))[-1].finish_reason == "stop"


async def test_async_applies_the_context_too(fake_lmstudio: FakeLMStudio) -> None:
    llm = hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url, context_window=4000)
    assert (await llm.achat("hi")).text == "You said: hi"
    assert fake_lmstudio.loaded[MODEL].context_length == 4000
    pieces = [p async for p in llm.astream_chat("x y")]
    assert pieces[-1].text == "You said: x y"
    assert (await llm.acomplete("z")).text == "You said: z"
    await llm.aclose()


def test_what_lm_studio_rejects(fake_lmstudio: FakeLMStudio) -> None:
    llm = hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url)
    with pytest.raises(hf.APIStatusError, match="json_schema' or 'text'") as caught:
        llm.chat("x", extra={"response_format": {"type": "json_object"}})
    assert caught.value.status == 400
    with pytest.raises(hf.ModelNotFoundError):
        hf.LMStudio("nope", base_url=fake_lmstudio.base_url).chat("x")
    with pytest.raises(hf.ModelNotFoundError, match="Invalid model identifier"):
        llm.load("nope")
    with pytest.raises(hf.InvalidParameterError, match="ttl"):
        hf.LMStudio(MODEL, ttl=0)


def test_gpu_offload_and_a_load_ttl_are_for_lms_load(fake_lmstudio: FakeLMStudio) -> None:
    llm = hf.LMStudio(base_url=fake_lmstudio.base_url)
    with pytest.raises(hf.NotSupportedError, match=r"lms load qwen2\.5-7b-instruct --gpu"):
        llm.load(MODEL, context_length=2048, gpu=0.5)
    with pytest.raises(hf.NotSupportedError, match="--ttl 60"):
        llm.load(MODEL, ttl=60)
    with pytest.raises(hf.NotSupportedError, match="lms load"):
        hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url, gpu="max")
    assert not any(r.path == "/api/v1/models/load" for r in fake_lmstudio.requests)
    assert not fake_lmstudio.loaded


def test_one_loaded_model_answers_whatever_the_name(fake_lmstudio: FakeLMStudio) -> None:
    """LM Studio's quirk: the only loaded model serves a request naming another."""
    hf.LMStudio(base_url=fake_lmstudio.base_url).load(MODEL, context_length=2048)
    answer = hf.LMStudio("nope", base_url=fake_lmstudio.base_url).chat("hi")
    assert answer.text == "You said: hi"


def test_models_fall_back_to_rest_v0_before_lm_studio_0_4(fake_lmstudio: FakeLMStudio) -> None:
    fake_lmstudio.rest_v1 = False
    fake_lmstudio.loaded[MODEL] = Instance(context_length=4096)
    models = hf.LMStudio(base_url=fake_lmstudio.base_url).models()
    assert {m.id for m in models} == {"smollm2-135m-instruct", MODEL, "nomic-embed-text"}
    loaded = next(m for m in models if m.id == MODEL)
    assert (loaded.loaded, loaded.context_length, loaded.quantization) == (True, 4096, "Q4_K_M")
    embedder = next(m for m in models if m.id == "nomic-embed-text")
    assert embedder.capabilities == ["embeddings"]  # it says nothing of its capabilities


def test_v0_without_the_loaded_context_reports_it_unknown(fake_lmstudio: FakeLMStudio) -> None:
    """`loaded_context_length` is undocumented: without it the context in effect is unknown,
    and a context asked for cannot be checked nor applied before LM Studio 0.4."""
    fake_lmstudio.rest_v1 = False
    fake_lmstudio.v0_reports_loaded_context = False
    fake_lmstudio.loaded[MODEL] = Instance(context_length=4096)
    [loaded] = [m for m in hf.LMStudio(base_url=fake_lmstudio.base_url).models() if m.id == MODEL]
    assert (loaded.loaded, loaded.context_length, loaded.max_context_length) == (True, None, 32768)
    idle = next(m for m in hf.LMStudio(base_url=fake_lmstudio.base_url).models() if not m.loaded)
    assert idle.context_length == idle.max_context_length
    llm = hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url, context_window=4096)
    with pytest.raises(hf.NotSupportedError, match=r"lms load \S+ --context-length 4096"):
        llm.chat("hi")
    with pytest.raises(hf.NotSupportedError, match=r"before 0\.4"):
        hf.LMStudio(base_url=fake_lmstudio.base_url).load(MODEL, context_length=2048)
    assert hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url).chat("hi").text == "You said: hi"


async def test_async_falls_back_to_rest_v0_too(fake_lmstudio: FakeLMStudio) -> None:
    fake_lmstudio.rest_v1 = False
    fake_lmstudio.loaded[MODEL] = Instance(context_length=4096)
    llm = hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url, context_window=4096)
    assert {m.id for m in await llm.amodels()} >= {MODEL}
    assert (await llm.achat("hi")).text == "You said: hi"
    assert not any(r.path == "/api/v1/models/load" for r in fake_lmstudio.requests)
    await llm.aclose()


async def test_concurrent_async_calls_load_once(fake_lmstudio: FakeLMStudio) -> None:
    llm = hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url, context_window=8192)
    answers = await asyncio.gather(*(llm.achat(f"hi {i}") for i in range(4)))
    assert [a.text for a in answers] == [f"You said: hi {i}" for i in range(4)]
    loads = [r for r in fake_lmstudio.requests if r.path == "/api/v1/models/load"]
    assert len(loads) == 1 and fake_lmstudio.loaded[MODEL].context_length == 8192
    await llm.aclose()


class OtherWebApp(FakeServer):
    """Another web app on LM Studio's port: 200 with an HTML page on every route."""

    def unknown_route(self, request: Request) -> Reply:
        return Reply(200, "<!doctype html>", content_type="text/html")


async def test_health_wants_lm_studio_s_greeting_sync_and_async() -> None:
    other = OtherWebApp().start()
    try:
        llm = hf.LMStudio(base_url=other.base_url)
        assert not llm.health()
        assert not await llm.ahealth()
        with pytest.raises(hf.HomefireTimeoutError):
            await llm.await_until_ready(timeout=0.6)
        await llm.aclose()
    finally:
        other.stop()


def test_load_unload_pull(fake_lmstudio: FakeLMStudio) -> None:
    llm = hf.LMStudio(base_url=fake_lmstudio.base_url)
    info = llm.load(MODEL, context_length=2048)
    assert (info.id, info.loaded, info.context_length) == (MODEL, True, 2048)
    assert fake_lmstudio.loaded[MODEL].context_length == 2048
    llm.unload(MODEL)
    assert MODEL not in fake_lmstudio.loaded
    steps: list[Progress] = []
    llm.pull("ibm/granite-4-micro", progress=steps.append, poll_interval=0.01)
    assert steps[-1].done and steps[-1].fraction == 1.0
    assert "ibm/granite-4-micro" in {m.id for m in llm.models()}
    with pytest.raises(hf.ModelNotFoundError):
        llm.pull("no/such-model")


def test_auth(fake_lmstudio: FakeLMStudio, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_lmstudio.api_key = "sk-lm-abcdefgh:0123456789abcdefghij"
    with pytest.raises(hf.AuthenticationError):
        hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url).chat("hi")
    monkeypatch.setenv("LMSTUDIO_API_TOKEN", fake_lmstudio.api_key)
    assert hf.LMStudio(MODEL, base_url=fake_lmstudio.base_url).chat("hi").text


def test_health(fake_lmstudio: FakeLMStudio, refusing_url: str) -> None:
    llm = hf.LMStudio(base_url=fake_lmstudio.base_url)
    assert llm.health()
    llm.wait_until_ready(timeout=5)
    with pytest.raises(hf.ServerNotRunningError, match="lms server start"):
        hf.LMStudio(base_url=refusing_url).health()
