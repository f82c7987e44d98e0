"""`homefire serve` as an attacker meets it: huge and endless bodies, forged Host headers (DNS
rebinding), cross-origin posts from web pages, missing keys, malformed requests and sockets.

Each case checks what the server answered, that nothing ran that should not have (the
engine's own token counter did not move), and that the server still answers afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import serving

from homefire.servers.launch import LaunchedServer, launch
from tinymodels import write_tiny_model

pytestmark = pytest.mark.integration

CHAT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
APP = "http://app.example:3000"


def _client(base_url: str, key: str | None = None, **headers: str) -> httpx.Client:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.Client(base_url=base_url, headers=headers, timeout=60)


def _generated(base_url: str, key: str | None) -> float:
    """Tokens the engine generated so far, by its own count."""
    with _client(base_url, key) as http:
        for line in http.get("/metrics").text.splitlines():
            if line.startswith("llamacpp:tokens_predicted_total"):
                return float(line.split()[1])
    raise AssertionError("no llamacpp:tokens_predicted_total in /metrics")


def _healthy(base_url: str) -> bool:
    with _client(base_url) as http:
        return http.get("/health").status_code == 200


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def open_server() -> Iterator[str]:
    """A server started with --no-api-key (the case DNS rebinding preys on) and one allowed
    web origin."""
    args = ("--ctx", "256", "--threads", "2", "--no-api-key", "--allow-origin", APP)
    env = {k: v for k, v in os.environ.items() if k != "HOMEFIRE_API_KEY"}
    with serving(*args, env=env, cli=False) as server:
        yield server.url
        assert server.stop() == 0


# --- bodies -----------------------------------------------------------------------------------


def test_a_50_mb_body_is_refused_and_not_kept(front_server: LaunchedServer) -> None:
    before = _rss_mib(front_server.process.pid)
    body = b'{"messages": [{"role": "user", "content": "' + b"x" * (50 * 1024 * 1024) + b'"}]}'
    with _client(front_server.base_url, front_server.api_key) as http:
        for _ in range(3):
            answer = http.post(
                "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 413
            assert "--max-body" in answer.json()["error"]["message"]
    assert _rss_mib(front_server.process.pid) - before < 40
    assert _healthy(front_server.base_url)


def test_a_body_without_length_is_cut_off_at_the_limit(front_server: LaunchedServer) -> None:
    def endless() -> Iterator[bytes]:
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(50):
            yield b"x" * (1024 * 1024)

    with _client(front_server.base_url, front_server.api_key) as http:
        answer = http.post(
            "/v1/chat/completions", content=endless(), headers={"content-type": "application/json"}
        )
    assert answer.status_code == 413
    assert _healthy(front_server.base_url)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": ' + b"9" * 5000 + b"}",
        b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
        b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1000000000000}',
        b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
        b'{"messages": [{"role": {"a": 1}, "content": "x"}]}',
        b'{"messages": "hi"}',
        b'{"messages": [{"role": "user", "content": "x"}], "tools": "all of them"}',
        b'{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}',
        b"\xff\xfe\x00garbage",
        b"",
    ],
)
def test_malformed_requests_get_a_400_and_run_nothing(
    front_server: LaunchedServer, body: bytes
) -> None:
    before = _generated(front_server.base_url, front_server.api_key)
    with _client(front_server.base_url, front_server.api_key) as http:
        for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
            answer = http.post(path, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["error"]["message"]
    assert _generated(front_server.base_url, front_server.api_key) == before


# --- keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/index.html"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/x"),
        ("GET", "/metrics"),
        ("GET", "/props"),
        ("GET", "/slots"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"),
        ("POST", "/v1/embeddings"),
        ("POST", "/completion"),
        ("POST", "/tokenize"),
        ("POST", "/apply-template"),
        ("POST", "/no/such/route"),
    ],
)
def test_every_route_but_health_needs_the_key(
    front_server: LaunchedServer, method: str, path: str
) -> None:
    for key in (None, "wrong", front_server.api_key + "x"):
        with _client(front_server.base_url, key) as http:
            answer = http.request(method, path, json=CHAT)
        assert answer.status_code == 401, (path, key)
        assert answer.json()["error"]["type"] == "authentication_error"
    with _client(front_server.base_url) as http:
        assert http.get("/health").json() == {"status": "ok"}
        right = http.get("/v1/models", headers={"x-api-key": front_server.api_key})
        assert right.status_code == 200


# --- Host, Origin and content types -------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.nip.io", ""])
def test_a_foreign_host_header_is_refused_even_without_a_key(open_server: str, host: str) -> None:
    before = _generated(open_server, None)
    with _client(open_server) as http:
        for method, path in (("POST", "/v1/chat/completions"), ("GET", "/health")):
            answer = http.request(method, path, json=CHAT, headers={"host": host})
            assert answer.status_code in (400, 403), (host, answer.text)
    assert _generated(open_server, None) == before


def test_a_cross_origin_post_is_never_executed(open_server: str) -> None:
    before = _generated(open_server, None)
    with _client(open_server) as http:
        page = {"origin": "http://evil.example", "content-type": "text/plain"}
        assert (
            http.post("/v1/chat/completions", content=json.dumps(CHAT), headers=page).status_code
            == 403
        )
        no_origin = {"content-type": "text/plain"}  # an old browser, or a form post
        assert (
            http.post(
                "/v1/chat/completions", content=json.dumps(CHAT), headers=no_origin
            ).status_code
            == 415
        )
        form = {"content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "cross-site"}
        assert http.post("/v1/chat/completions", content="a=b", headers=form).status_code == 403
        assert http.get("/slots", headers={"sec-fetch-site": "cross-site"}).status_code == 403
        assert http.get("/v1/models", headers={"origin": "null"}).status_code == 403
        preflight = http.options(
            "/v1/chat/completions",
            headers={"origin": "http://evil.example", "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 403
        assert "access-control-allow-origin" not in preflight.headers
    assert _generated(open_server, None) == before


def test_an_allowed_origin_gets_cors_answers(open_server: str) -> None:
    with _client(open_server) as http:
        preflight = http.options(
            "/v1/chat/completions",
            headers={"origin": APP, "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == APP
        answer = http.post("/v1/chat/completions", json=CHAT, headers={"origin": APP})
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == APP
        assert (
            http.get(
                "/health", headers={"host": f"localhost:{open_server.rsplit(':', 1)[1]}"}
            ).status_code
            == 200
        )


# --- the socket -----------------------------------------------------------------------------------


def _raw(base_url: str, payload: bytes) -> bytes:
    """What the server answers to `payload`; a connection it resets answers nothing."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    chunks = []
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        try:
            sock.sendall(payload)
            # The server may already have answered and closed (a header too big, say).
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:  # reset, broken pipe or gone: whatever arrived is the answer
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # a TLS hello
        os.urandom(4096),
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
    ],
)
def test_garbage_on_the_socket_leaves_the_server_answering(
    front_server: LaunchedServer, payload: bytes
) -> None:
    answer = _raw(front_server.base_url, payload)
    assert not answer or answer.startswith(b"HTTP/1.1 4")
    assert _healthy(front_server.base_url)


def test_many_idle_connections_do_not_shut_others_out(front_server: LaunchedServer) -> None:
    host, port = front_server.base_url.removeprefix("http://").rsplit(":", 1)
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(100)]
    try:
        assert _healthy(front_server.base_url)
    finally:
        for sock in idle:
            sock.close()


def test_unknown_routes_and_methods_answer_json(front_server: LaunchedServer) -> None:
    with _client(front_server.base_url, front_server.api_key) as http:
        missing = http.get("/no/such/route")
        wrong_method = http.put("/v1/chat/completions", json=CHAT)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]


def test_a_client_that_leaves_mid_answer_frees_its_slot(front_server: LaunchedServer) -> None:
    long = {**CHAT, "max_tokens": 400, "ignore_eos": True, "stream": True}
    with _client(front_server.base_url, front_server.api_key) as http:
        for path in ("/v1/chat/completions", "/completion"):
            body = long if path != "/completion" else {"prompt": "Once", **long}
            with http.stream("POST", path, json=body) as stream:
                next(stream.iter_bytes())
        deadline = time.monotonic() + 30
        while any(slot["is_processing"] for slot in http.get("/slots").json()):
            assert time.monotonic() < deadline, "a slot kept generating for a client that left"
            time.sleep(0.05)


RECURSIVE_TEMPLATE = "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"


def test_a_hostile_chat_template_never_reaches_llama_cpp(tmp_path: Path) -> None:
    """llama.cpp's own template engine crashes loading this template; homefire's sandbox
    renders it instead, and refuses it with a clear error, request after request."""
    model = write_tiny_model(tmp_path / "recursive.gguf", chat_template=RECURSIVE_TEMPLATE)
    with launch(model, context_window=256, n_threads=1) as server:
        with _client(server.base_url, server.api_key) as http:
            for path in ("/v1/chat/completions", "/apply-template"):
                answer = http.post(path, json=CHAT)
                assert answer.status_code == 400, answer.text
                assert "chat template" in answer.json()["error"]["message"]
            native = http.post("/completion", json={"prompt": "hello", "n_predict": 2})
            assert native.status_code == 200 and native.json()["tokens_predicted"] == 2
        assert _healthy(server.base_url) and server.running


def test_stopping_mid_answer_ends_the_stream_in_band(smollm2_path: Path) -> None:
    server = launch(smollm2_path, context_window=256, n_threads=1)
    try:
        body = {**CHAT, "max_tokens": 2000, "ignore_eos": True, "stream": True}
        with (
            _client(server.base_url, server.api_key) as http,
            http.stream("POST", "/v1/chat/completions", json=body) as stream,
        ):
            lines = stream.iter_lines()
            next(lines)
            server.process.terminate()
            events = [line for line in lines if line.startswith("data: ")]
    finally:
        server.stop()
    assert json.loads(events[-1].removeprefix("data: "))["error"]["code"] == 503
    assert server.process.returncode == 0
    assert "Traceback" not in server.log_path.read_text("utf-8", "replace")
