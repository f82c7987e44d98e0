"""The transport against a scripted loopback server: retries, timeouts, streams, faults, pools."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from loopback import LoopbackServer, chunked, hang_up, partial, reply, sequence, sse

import homefire as hf
from homefire.http import HTTPClient, RetryPolicy, Timeouts

pytestmark = pytest.mark.unit

FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)
OVERFLOW = {
    "error": {
        "code": 400,
        "message": "request (631 tokens) exceeds the available context size (256 tokens)",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 631,
        "n_ctx": 256,
    }
}
LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}


def client(server: LoopbackServer, **kwargs: object) -> HTTPClient:
    kwargs.setdefault("retry", FAST)
    return HTTPClient(server.url, **kwargs)  # type: ignore[arg-type]


def test_json_round_trip_with_and_without_a_key(loopback: LoopbackServer) -> None:
    loopback.routes["/echo"] = reply(200, {"ok": True})
    assert client(loopback).post_json("/echo", {"a": 1}) == {"ok": True}
    assert "authorization" not in loopback.requests[-1].headers
    assert json.loads(loopback.requests[-1].body) == {"a": 1}
    keyed = client(loopback, api_key="sekrit", headers={"X-Extra": "1"})
    assert keyed.get_json("/echo") == {"ok": True}
    assert loopback.requests[-1].headers["authorization"] == "Bearer sekrit"
    assert loopback.requests[-1].headers["x-extra"] == "1"
    assert loopback.requests[-1].headers["user-agent"].startswith("homefire/")


def test_retries_503_honouring_retry_after(loopback: LoopbackServer) -> None:
    busy = reply(503, LOADING, {"Retry-After": "0.3"})
    loopback.routes["/v"] = sequence(busy, busy, reply(200, {"ok": 1}))
    assert client(loopback).get_json("/v") == {"ok": 1}
    assert loopback.attempts["/v"] == 3
    # the server's clock: each retry came no sooner than Retry-After asked (a lower bound,
    # which a busy machine can only make longer)
    first, second, third = loopback.arrivals["/v"]
    assert second - first >= 0.3 and third - second >= 0.3


def test_gives_up_after_the_attempts_with_a_busy_error(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(503, {"error": {"code": 503, "message": "no slot available"}})
    with pytest.raises(hf.ServerBusyError, match="no slot available"):
        client(loopback).post_json("/v", {})
    assert loopback.attempts["/v"] == 3


def test_never_retries_a_deterministic_failure(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(400, OVERFLOW)
    with pytest.raises(hf.ContextOverflowError) as caught:
        client(loopback).post_json("/v", {})
    assert (caught.value.prompt_tokens, caught.value.context_window) == (631, 256)
    assert loopback.attempts["/v"] == 1


def test_plain_text_and_garbage_bodies_become_homefire_errors(loopback: LoopbackServer) -> None:
    loopback.routes["/text"] = reply(500, b"Internal Server Error: model failed")
    loopback.routes["/garbage"] = reply(200, b"{not json")
    loopback.routes["/latin"] = reply(200, b'{"a": "\xe9\xff"}')
    loopback.routes["/model"] = reply(404, {"error": {"message": "model 'x' not found"}})
    http = client(loopback)
    with pytest.raises(hf.APIStatusError, match="model failed") as caught:
        http.get_json("/text")
    assert caught.value.status == 500
    for path in ("/garbage", "/latin"):
        with pytest.raises(hf.ProtocolError, match="not JSON"):
            http.get_json(path)
    with pytest.raises(hf.ModelNotFoundError):
        http.get_json("/model")


def test_request_returns_any_status_without_retrying(loopback: LoopbackServer) -> None:
    loopback.routes["/h"] = reply(503, LOADING)
    response = client(loopback).request("GET", "/h")
    assert response.status == 503 and response.json() == LOADING
    assert loopback.attempts["/h"] == 1


def test_retry_false_sends_a_call_that_must_not_run_twice_once(loopback: LoopbackServer) -> None:
    loopback.routes["/launch"] = reply(503, {"detail": "No available slot found for the model"})
    loopback.routes["/h"] = sequence(reply(503, LOADING), reply(200, {"ok": 1}))
    http = client(loopback)
    with pytest.raises(hf.APIStatusError, match="No available slot"):
        http.post_json("/launch", {}, retry=False)
    assert loopback.attempts["/launch"] == 1
    assert http.request("GET", "/h", retry=True).status == 200
    assert loopback.attempts["/h"] == 2


async def test_async_retry_false_sends_once(loopback: LoopbackServer) -> None:
    loopback.routes["/launch"] = reply(503, LOADING)
    loopback.routes["/h"] = sequence(reply(503, LOADING), reply(200, {"ok": 1}))
    http = client(loopback)
    with pytest.raises(hf.ServerBusyError):
        await http.apost_json("/launch", {}, retry=False)
    assert loopback.attempts["/launch"] == 1
    assert (await http.arequest("GET", "/h", retry=True)).status == 200
    assert loopback.attempts["/h"] == 2
    await http.aclose()


def test_conflict_is_not_retried_nor_called_busy(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(409, {"detail": "model uid already exists"})
    with pytest.raises(hf.APIStatusError, match="already exists") as caught:
        client(loopback).post_json("/v", {})
    assert not isinstance(caught.value, hf.ServerBusyError)
    assert loopback.attempts["/v"] == 1


def test_answer_cut_short_is_reported_and_never_sent_again(loopback: LoopbackServer) -> None:
    loopback.routes["/v1/chat/completions"] = partial(200, {"choices": ["x" * 80]}, 20)
    loopback.routes["/err"] = partial(500, {"error": "x" * 80}, 10)
    http = client(loopback)
    with pytest.raises(hf.ServerError, match="cut off after 20 bytes"):
        http.post_json("/v1/chat/completions", {})
    assert loopback.attempts["/v1/chat/completions"] == 1
    with pytest.raises(hf.ServerError, match="cut off after 10 bytes"):
        list(http.stream_sse("/err", {}))
    assert loopback.attempts["/err"] == 1


async def test_async_answer_cut_short_is_never_sent_again(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = partial(200, {"choices": ["x" * 80]}, 20)
    http = client(loopback)
    with pytest.raises(hf.ServerError, match="cut off after 20 bytes"):
        await http.apost_json("/v", {})
    assert loopback.attempts["/v"] == 1
    await http.aclose()


def test_hang_up_before_any_answer_is_retried(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = sequence(hang_up, reply(200, {"ok": 1}))
    loopback.routes["/s"] = sequence(hang_up, chunked(sse({"n": 1})))
    http = client(loopback)
    assert http.post_json("/v", {}) == {"ok": 1}
    assert loopback.attempts["/v"] == 2
    assert list(http.stream_sse("/s", {})) == [{"n": 1}]
    assert loopback.attempts["/s"] == 2


def test_nothing_listening_names_the_url_and_how_to_start(refusing_url: str) -> None:
    url = refusing_url
    http = HTTPClient(url, retry=FAST, start_hint="run `homefire serve`")
    with pytest.raises(hf.ServerNotRunningError, match="homefire serve") as caught:
        http.get_json("/v1/models")
    assert caught.value.url == url and url in str(caught.value)
    with pytest.raises(hf.ServerNotRunningError):
        list(http.stream_sse("/v1/chat/completions", {}))


def test_sse_stream_skips_comments_and_stops_at_done(loopback: LoopbackServer) -> None:
    pieces = [b": ping\n\n", *sse({"n": 1}, {"n": 2}), b'data: {"n": 3}\n\n']
    loopback.routes["/s"] = chunked(pieces)
    assert list(client(loopback).stream_sse("/s", {})) == [{"n": 1}, {"n": 2}]


def test_sse_stream_without_done_ends_quietly(loopback: LoopbackServer) -> None:
    loopback.routes["/s"] = chunked(sse({"n": 1}, {"n": 2}, done=False))
    assert list(client(loopback).stream_sse("/s", {})) == [{"n": 1}, {"n": 2}]


def test_in_band_errors_raise(loopback: LoopbackServer) -> None:
    loopback.routes["/overflow"] = chunked(sse({"n": 1}, OVERFLOW))
    loopback.routes["/old"] = chunked([b'error: {"code":500,"message":"slot crashed"}\n\n'])
    http = client(loopback)
    with pytest.raises(hf.ContextOverflowError):
        list(http.stream_sse("/overflow", {}))
    with pytest.raises(hf.APIStatusError, match="slot crashed"):
        list(http.stream_sse("/old", {}))


def test_cut_stream_is_interrupted_and_never_retried(loopback: LoopbackServer) -> None:
    loopback.routes["/s"] = chunked(sse({"n": 1}, {"n": 2}, done=False), then="cut")
    received = []
    with pytest.raises(hf.StreamInterruptedError, match="cut off"):
        received.extend(client(loopback).stream_sse("/s", {}))
    assert received == [{"n": 1}, {"n": 2}]
    assert loopback.attempts["/s"] == 1


def test_stream_retries_before_the_first_byte(loopback: LoopbackServer) -> None:
    loopback.routes["/s"] = sequence(
        reply(503, LOADING, {"Retry-After": "0"}), chunked(sse({"n": 1}))
    )
    assert list(client(loopback).stream_sse("/s", {})) == [{"n": 1}]
    assert loopback.attempts["/s"] == 2


def test_stall_between_chunks_fires_that_timeout(loopback: LoopbackServer) -> None:
    loopback.routes["/s"] = chunked(
        sse({"n": 1}, done=False), then="stall", stopping=loopback.stopping
    )
    http = client(loopback, timeouts=Timeouts(between_chunks=0.3))
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        list(http.stream_sse("/s", {}))
    assert caught.value.which == "between_chunks"


def test_total_timeout_bounds_a_stream_that_keeps_trickling(loopback: LoopbackServer) -> None:
    loopback.routes["/s"] = chunked(sse(*({"n": n} for n in range(40))), gap=0.05)
    http = client(loopback, timeouts=Timeouts(between_chunks=5.0, total=0.5))
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        list(http.stream_sse("/s", {}))
    assert caught.value.which == "total"


def test_slow_headers_fire_first_token_and_total(loopback: LoopbackServer) -> None:
    loopback.routes["/slow"] = reply(200, {"ok": 1}, delay=1.0)
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        client(loopback, timeouts=Timeouts(first_token=0.2)).get_json("/slow")
    assert caught.value.which == "first_token"
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        client(loopback, timeouts=Timeouts(total=0.2)).get_json("/slow")
    assert caught.value.which == "total"
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        client(loopback).get_json("/slow", timeout=0.2)
    assert caught.value.which == "total"


def test_ndjson_stream(loopback: LoopbackServer) -> None:
    lines = [b'{"a": 1}\n{"a"', b": 2}\n\n", b'{"a": 3}']
    loopback.routes["/n"] = chunked(lines, content_type="application/x-ndjson")
    assert list(client(loopback).stream_ndjson("/n", {})) == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_clients_for_one_server_share_a_pool(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(200, {"ok": 1})
    first, second = client(loopback, api_key="k"), client(loopback, api_key="k")
    for _ in range(3):
        first.get_json("/v")
        second.get_json("/v")
    assert loopback.connections == 1
    first.close()
    second.get_json("/v")
    second.close()
    with pytest.raises(hf.ServerError, match="closed"):
        second.get_json("/v")


def test_max_concurrency_limits_requests_in_flight(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(200, {"ok": 1}, delay=0.15)
    http = client(loopback, max_concurrency=2)
    threads = [threading.Thread(target=http.get_json, args=("/v",)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert loopback.attempts["/v"] == 6
    assert loopback.max_in_flight == 2


def test_waiting_for_a_slot_held_by_an_open_stream_times_out(loopback: LoopbackServer) -> None:
    loopback.routes["/s"] = chunked(sse({"n": 1}, {"n": 2}))
    loopback.routes["/v"] = reply(200, {"ok": 1})
    http = client(loopback, max_concurrency=1, timeouts=Timeouts(first_token=0.3))
    stream = http.stream_sse("/s", {})
    assert next(stream) == {"n": 1}
    with pytest.raises(hf.HomefireTimeoutError, match="max_concurrency=1") as caught:
        http.get_json("/v")
    assert caught.value.which == "max_concurrency"
    assert list(stream) == [{"n": 2}]
    assert http.get_json("/v") == {"ok": 1}


async def test_async_waiting_for_a_slot_times_out(loopback: LoopbackServer) -> None:
    loopback.routes["/s"] = chunked(sse({"n": 1}, {"n": 2}))
    loopback.routes["/v"] = reply(200, {"ok": 1})
    http = client(loopback, max_concurrency=1, timeouts=Timeouts(first_token=0.3))
    stream = http.astream_sse("/s", {})
    assert await anext(stream) == {"n": 1}
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        await asyncio.wait_for(http.aget_json("/v"), 5)
    assert caught.value.which == "max_concurrency"
    assert [e async for e in stream] == [{"n": 2}]
    assert await http.aget_json("/v") == {"ok": 1}
    await http.aclose()


async def test_async_limits_retries_and_streams(loopback: LoopbackServer) -> None:
    loopback.routes["/v"] = reply(200, {"ok": 1}, delay=0.15)
    loopback.routes["/busy"] = sequence(reply(429, {"error": "slow down"}), reply(200, {"ok": 2}))
    loopback.routes["/s"] = chunked(sse({"n": 1}, {"n": 2}))
    loopback.routes["/cut"] = chunked(sse({"n": 1}, done=False), then="cut")
    http = client(loopback, max_concurrency=2)
    results = await asyncio.gather(*(http.aget_json("/v") for _ in range(6)))
    assert results == [{"ok": 1}] * 6 and loopback.max_in_flight == 2
    assert await http.apost_json("/busy", {}) == {"ok": 2}
    assert loopback.attempts["/busy"] == 2
    assert [e async for e in http.astream_sse("/s", {})] == [{"n": 1}, {"n": 2}]
    with pytest.raises(hf.StreamInterruptedError):
        async for _ in http.astream_sse("/cut", {}):
            pass
    assert (await http.arequest("GET", "/v")).status == 200
    await http.aclose()


async def test_async_timeouts_say_which(loopback: LoopbackServer, refusing_url: str) -> None:
    loopback.routes["/slow"] = reply(200, {"ok": 1}, delay=1.0)
    loopback.routes["/s"] = chunked(
        sse({"n": 1}, done=False), then="stall", stopping=loopback.stopping
    )
    http = client(loopback, timeouts=Timeouts(first_token=0.2, between_chunks=0.2))
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        await http.aget_json("/slow")
    assert caught.value.which == "first_token"
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        async for _ in http.astream_sse("/s", {}):
            pass
    assert caught.value.which == "between_chunks"
    await http.aclose()
    nothing = HTTPClient(refusing_url, retry=FAST)
    with pytest.raises(hf.ServerNotRunningError):
        await nothing.aget_json("/")
    await nothing.aclose()


def test_bad_settings_are_refused_early() -> None:
    with pytest.raises(hf.InvalidParameterError):
        HTTPClient("127.0.0.1:8080")
    with pytest.raises(hf.InvalidParameterError):
        HTTPClient("http://127.0.0.1:8080", max_concurrency=0)
    with pytest.raises(hf.InvalidParameterError):
        Timeouts(connect=0)
    with pytest.raises(hf.InvalidParameterError):
        RetryPolicy(attempts=0)
