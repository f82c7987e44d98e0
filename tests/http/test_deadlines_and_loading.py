"""`Timeouts.total` bounds every call however the answer trickles in, and a server that is
still loading its model is waited for (up to `Timeouts.load`), not given up on."""

from __future__ import annotations

import threading

import pytest
from loopback import LoopbackServer, chunked, reply, sequence, sse, trickle

import homefire as hf
from homefire.http import HTTPClient, RetryPolicy, Timeouts

pytestmark = pytest.mark.unit

FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)
LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
ANSWER = {"text": "x" * 400}


def client(server: LoopbackServer, **kwargs: object) -> HTTPClient:
    kwargs.setdefault("retry", FAST)
    return HTTPClient(server.url, **kwargs)  # type: ignore[arg-type]


def trickling(server: LoopbackServer) -> threading.Event:
    """Route /t to an answer sent a byte at a time; the event is set if it all went out."""
    finished = threading.Event()
    server.routes["/t"] = trickle(ANSWER, gap=0.02, stopping=server.stopping, finished=finished)
    return finished


def test_total_bounds_a_whole_answer_that_trickles(loopback: LoopbackServer) -> None:
    finished = trickling(loopback)
    http = client(loopback, timeouts=Timeouts(total=0.5))
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        http.get_json("/t")
    assert caught.value.which == "total"
    assert not finished.is_set()
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        client(loopback).get_json("/t", timeout=0.5)
    assert caught.value.which == "total"
    assert not finished.is_set()


async def test_async_total_bounds_a_whole_answer_that_trickles(loopback: LoopbackServer) -> None:
    finished = trickling(loopback)
    http = client(loopback, timeouts=Timeouts(total=0.5))
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        await http.aget_json("/t")
    assert caught.value.which == "total"
    assert not finished.is_set()


async def test_async_total_bounds_a_trickling_stream(loopback: LoopbackServer) -> None:
    loopback.routes["/s"] = chunked(sse(*({"n": n} for n in range(200))), gap=0.02)
    http = client(loopback, timeouts=Timeouts(between_chunks=5.0, total=0.5))
    seen: list[object] = []

    async def read() -> None:
        async for event in http.astream_sse("/s", {}):
            seen.append(event)

    with pytest.raises(hf.HomefireTimeoutError) as caught:
        await read()
    assert caught.value.which == "total"
    assert 0 < len(seen) < 200


def test_a_fast_answer_under_a_total_deadline_is_untouched(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(200, {"ok": 1})
    loopback.routes["/s"] = chunked(sse({"n": 1}, {"n": 2}))
    http = client(loopback, timeouts=Timeouts(total=30))
    for _ in range(20):
        assert http.get_json("/v") == {"ok": 1}
    assert list(http.stream_sse("/s", {})) == [{"n": 1}, {"n": 2}]
    assert loopback.connections == 1


def test_a_loading_server_is_waited_for_past_the_retry_attempts(loopback: LoopbackServer) -> None:
    loading = reply(503, LOADING)
    loopback.routes["/v"] = sequence(*[loading] * 6, reply(200, {"ok": 1}))
    loopback.routes["/s"] = sequence(*[loading] * 6, chunked(sse({"n": 1})))
    http = client(loopback)
    assert http.post_json("/v", {}) == {"ok": 1}
    assert loopback.attempts["/v"] == 7
    assert list(http.stream_sse("/s", {})) == [{"n": 1}]
    assert loopback.attempts["/s"] == 7


async def test_async_waits_for_a_loading_server(loopback: LoopbackServer) -> None:
    loading = reply(503, {"detail": "Model is loading, please retry later"})
    loopback.routes["/v"] = sequence(*[loading] * 5, reply(200, {"ok": 1}))
    loopback.routes["/s"] = sequence(*[loading] * 5, chunked(sse({"n": 1})))
    http = client(loopback)
    assert await http.apost_json("/v", {}) == {"ok": 1}
    assert [e async for e in http.astream_sse("/s", {})] == [{"n": 1}]
    assert loopback.attempts["/v"] == loopback.attempts["/s"] == 6


def test_loading_is_waited_for_up_to_the_load_timeout(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(503, LOADING, {"Retry-After": "0.05"})
    with pytest.raises(hf.HomefireTimeoutError, match="loading its model") as caught:
        client(loopback, timeouts=Timeouts(load=0.4)).post_json("/v", {})
    assert caught.value.which == "load"
    assert loopback.attempts["/v"] > FAST.attempts
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        client(loopback, timeouts=Timeouts(total=0.4)).post_json("/v", {})
    assert caught.value.which == "total"


async def test_async_load_timeout(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(503, LOADING)
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        await client(loopback, timeouts=Timeouts(load=0.3)).apost_json("/v", {})
    assert caught.value.which == "load"


def test_load_zero_and_probes_do_not_wait(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(503, LOADING)
    with pytest.raises(hf.HomefireTimeoutError):
        client(loopback, timeouts=Timeouts(load=0)).post_json("/v", {})
    assert loopback.attempts["/v"] == 1
    assert client(loopback).request("GET", "/v").status == 503
    with pytest.raises(hf.ServerBusyError):
        client(loopback, retry=RetryPolicy(attempts=1)).post_json("/v", {})
    with pytest.raises(hf.ServerBusyError):
        client(loopback).post_json("/v", {}, retry=False)
    assert loopback.attempts["/v"] == 4


def test_busy_is_not_loading(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(503, {"error": "Server overloaded"})
    with pytest.raises(hf.ServerBusyError):
        client(loopback, timeouts=Timeouts(load=30)).post_json("/v", {})
    assert loopback.attempts["/v"] == FAST.attempts
    with pytest.raises(hf.InvalidParameterError):
        Timeouts(load=-1)


PROVIDERS = ["Llamafile", "LMStudio", "LocalAI", "Xinference", "Ollama", "OpenAILike"]
CHAT_PATHS = ("/v1/chat/completions", "/api/v0/chat/completions", "/api/chat")


@pytest.mark.parametrize("name", PROVIDERS)
def test_every_http_provider_keeps_the_total_deadline(loopback: LoopbackServer, name: str) -> None:
    finished = threading.Event()
    action = trickle(ANSWER, gap=0.02, stopping=loopback.stopping, finished=finished)
    for path in CHAT_PATHS:
        loopback.routes[path] = action
    llm = getattr(hf, name)(model="m", base_url=loopback.url, timeouts=Timeouts(total=0.5))
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        llm.chat("hi")
    assert caught.value.which == "total"
    assert not finished.is_set()


@pytest.mark.parametrize("name", PROVIDERS)
async def test_every_http_provider_keeps_the_total_deadline_async(
    loopback: LoopbackServer, name: str
) -> None:
    finished = threading.Event()
    action = trickle(ANSWER, gap=0.02, stopping=loopback.stopping, finished=finished)
    for path in CHAT_PATHS:
        loopback.routes[path] = action
    llm = getattr(hf, name)(model="m", base_url=loopback.url, timeouts=Timeouts(total=0.5))
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        await llm.achat("hi")
    assert caught.value.which == "total"
    assert not finished.is_set()
