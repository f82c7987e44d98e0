"""Misbehaving servers: endless lines, HTML pages from proxies, redirects; each a clear error."""

from __future__ import annotations

import asyncio
import json

import pytest
from loopback import LoopbackServer, chunked, reply

import homefire as hf
from homefire.http import HTTPClient, RetryPolicy
from homefire.http.streams import MAX_LINE_BYTES, NDJSONDecoder, SSEDecoder

pytestmark = pytest.mark.unit

MiB = 1024 * 1024
NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in - Portal</title></head><body></body></html>"
)


def client(server: LoopbackServer) -> HTTPClient:
    return HTTPClient(server.url, retry=RetryPolicy(attempts=1))


def pieces(data: bytes, size: int = 64 * 1024) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def long_event(size: int) -> bytes:
    return b'data: {"text": "' + b"x" * size + b'"}\n\n'


def test_a_16_mib_line_is_decoded_whole(loopback: LoopbackServer) -> None:
    loopback.routes["/s"] = chunked([*pieces(long_event(16 * MiB)), b"data: [DONE]\n\n"])
    events = list(client(loopback).stream_sse("/s", {}))
    assert [len(e["text"]) for e in events] == [16 * MiB]


@pytest.mark.parametrize("framing", ["sse", "ndjson"])
def test_a_100_mib_line_without_newline_is_refused(loopback: LoopbackServer, framing: str) -> None:
    loopback.routes["/s"] = chunked(pieces(b"x" * (100 * MiB), 1024 * 1024))
    http = client(loopback)
    stream = http.stream_sse("/s", {}) if framing == "sse" else http.stream_ndjson("/s", {})
    with pytest.raises(hf.ProtocolError, match=f"longer than {MAX_LINE_BYTES} bytes"):
        list(stream)


def test_an_event_of_many_data_lines_is_capped_too() -> None:
    decoder = SSEDecoder("http://x", max_line_bytes=1000)
    with pytest.raises(hf.ProtocolError, match="event longer than 1000 bytes"):
        decoder.feed(b"data: xxxxxxxxxx\n" * 200)


@pytest.mark.parametrize("decoder", [SSEDecoder, NDJSONDecoder])
def test_the_line_cap_is_settable(decoder: type[SSEDecoder] | type[NDJSONDecoder]) -> None:
    small = decoder("http://x", max_line_bytes=10)
    with pytest.raises(hf.ProtocolError, match="longer than 10 bytes"):
        small.feed(b"data: 0123456789abcdef")
    with pytest.raises(hf.InvalidParameterError, match="max_line_bytes"):
        decoder("http://x", max_line_bytes=0)


@pytest.mark.parametrize("cut", [1, 7, 4096])
def test_lines_cut_anywhere_decode_the_same(cut: int) -> None:
    body = b"".join(
        b"data: " + json.dumps({"n": n, "pad": "y" * (n * 37 % 5000)}).encode() + b"\r\n\r\n"
        for n in range(200)
    )
    decoder = SSEDecoder()
    events = [e for part in pieces(body, cut) for e in decoder.feed(part)] + decoder.finish()
    assert [e["n"] for e in events] == list(range(200))


async def test_a_long_line_does_not_block_the_event_loop(loopback: LoopbackServer) -> None:
    loopback.routes["/s"] = chunked([*pieces(long_event(16 * MiB)), b"data: [DONE]\n\n"])
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(ticker())
    events = [e async for e in client(loopback).astream_sse("/s", {})]
    done.set()
    await task
    assert len(events) == 1
    assert ticks > 1  # other tasks ran while the line arrived, chunk by chunk


def test_an_html_error_page_names_itself_and_its_title(loopback: LoopbackServer) -> None:
    loopback.routes["/v1/models"] = reply(502, NGINX_502, {"Content-Type": "text/html"})
    with pytest.raises(hf.ServerBusyError) as info:
        client(loopback).get_json("/v1/models")
    message = str(info.value)
    assert "HTTP 502" in message and "'502 Bad Gateway'" in message
    assert "HTML page" in message and "proxy" in message
    assert "<html>" not in message


def test_an_html_page_with_a_success_status_is_named_too(loopback: LoopbackServer) -> None:
    loopback.routes["/v1/models"] = reply(200, LOGIN_PAGE, {"Content-Type": "text/html"})
    with pytest.raises(hf.ProtocolError, match="HTML page titled 'Sign in - Portal'"):
        client(loopback).get_json("/v1/models")


def test_an_empty_body_is_named(loopback: LoopbackServer) -> None:
    loopback.routes["/v1/models"] = reply(200, b"")
    with pytest.raises(hf.ProtocolError, match="empty body where JSON was expected"):
        client(loopback).get_json("/v1/models")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_says_where_to_point_base_url(loopback: LoopbackServer, status: int) -> None:
    target = "https://models.example.org/v1/models"
    loopback.routes["/v1/models"] = reply(status, b"", {"Location": target})
    with pytest.raises(hf.APIStatusError) as info:
        client(loopback).get_json("/v1/models")
    assert info.value.status == status
    assert f"redirected (HTTP {status}) to {target}; point base_url there" in str(info.value)
    assert "not JSON" not in str(info.value)


def test_a_redirect_through_request_keeps_its_status(loopback: LoopbackServer) -> None:
    loopback.routes["/health"] = reply(302, b"", {"Location": "/login"})
    answer = client(loopback).request("GET", "/health")
    assert answer.status == 302
    with pytest.raises(hf.APIStatusError, match="to /login; point base_url there"):
        answer.json()


def test_json_nested_thousands_deep_is_a_protocol_error(loopback: LoopbackServer) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    loopback.routes["/v1/models"] = reply(200, deep)
    loopback.routes["/v1/broken"] = reply(500, deep)
    loopback.routes["/s"] = chunked([b"data: " + deep + b"\n\n"])
    http = client(loopback)
    with pytest.raises(hf.ProtocolError, match="not JSON"):
        http.get_json("/v1/models")
    with pytest.raises(hf.APIStatusError, match="HTTP 500"):
        http.get_json("/v1/broken")
    with pytest.raises(hf.ProtocolError, match="not JSON"):
        list(http.stream_sse("/s", {}))
