"""Every command that talks to a server, against every way the server can be wrong.

Conditions: nothing listens at the port; another (non-LLM) HTTP service answers there; the
address is malformed; the server is real (`launch()`: homefire's llama.cpp server, with a
key) and the key is wrong (`--api-key`) or right (`HOMEFIRE_API_KEY`). Each cell is the
command as a user runs it (a child process), checked by exit code and the first line it
prints, and never a traceback. `load`, `unload` and `pull` meet the key through a keyed LM
Studio fake, since a llama.cpp server cannot do them at all (a row below says so too).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from fakes.lmstudio import FakeLMStudio
from homefire.servers.launch import LaunchedServer, launch
from threaded_http import threaded_http

pytestmark = pytest.mark.integration

CONDITIONS = ("no server", "wrong port", "malformed", "wrong key", "right key")
LIFECYCLE = ("load", "unload", "pull")


@dataclass
class Places:
    """Where each condition points a command, and the key the servers want."""

    refused: str
    plain: str
    server: str
    lmstudio: str
    key: str

    def url(self, command: str, condition: str) -> str:
        if condition == "no server":
            return self.refused
        if condition == "wrong port":
            return self.plain
        if condition == "malformed":
            return "http://127.0.0.1:99999"
        return self.lmstudio if command in LIFECYCLE else self.server


def _args(command: str, url: str) -> list[str]:
    host_port = url.removeprefix("http://")
    return {
        "chat": ["chat", "-m", url, "-n", "4", "hi"],
        "complete": ["complete", "-m", url, "-n", "4", "Once"],
        "models": ["models", url],
        "load": ["load", url, "qwen2.5-7b-instruct"],
        "unload": ["unload", url, "smollm2-135m-instruct"],
        "pull": ["pull", url, "ibm/granite-4-micro"],
        "discover": ["discover", host_port, "--timeout", "2"],
        "doctor": ["doctor", url],
        "bench": ["bench", url, "-p", "8", "-n", "4", "-r", "1", "--no-warmup"],
    }[command]


COMMANDS = ("chat", "complete", "models", *LIFECYCLE, "discover", "doctor", "bench")

REFUSED = (
    r"error: nothing is listening at http://127\.0\.0\.1:\d+ \(.*\); start the server, or "
    r"check its address \({}\)$"
)
NOT_LLM = r"error: http://127\.0\.0\.1:\d+ answers, but not like any LLM server homefire knows"
MALFORMED = (
    r"error: invalid value for {}: 'http://127\.0\.0\.1:99999' is not a server address: "
    r"the port 99999 is out of range \(1-65535\)"
)
UNAUTHORIZED = (
    r"error: HTTP 401 from http://127\.0\.0\.1:\d+/\S+: .*Pass the server's key with "
    r"--api-key or HOMEFIRE_API_KEY"
)
NO_SERVER_FOUND = r"error: no LLM server found on 127\.0\.0\.1:\d+"

MALFORMED_HOST = (
    r"error: invalid value for HOSTS: '127\.0\.0\.1:99999' is not a host, host:port or URL: "
    r"the port 99999 is out of range \(1-65535\)"
)
_SPEC = {"chat": "--model", "complete": "--model", "doctor": "TARGET", "bench": "TARGETS"}


@dataclass(frozen=True)
class Expect:
    code: int
    first: str
    """A regex the first line of stderr (or, with `stdout`, of stdout) must match."""
    stdout: bool = False
    more: Callable[[str], bool] | None = None
    """A further check of stdout."""


def expected(command: str, condition: str) -> Expect:
    if condition == "malformed" and command == "discover":
        return Expect(1, MALFORMED_HOST)
    if condition == "malformed":
        return Expect(1, MALFORMED.format(_SPEC.get(command, "ENDPOINT")))
    if command == "doctor":
        failing = {
            "no server": "reachable",
            "wrong port": "server",
            "wrong key": "auth",
        }
        if condition in failing:
            name = failing[condition]
            return Expect(
                1, r"homefire doctor: ", stdout=True, more=lambda out: f"[FAIL] {name} " in out
            )
        return Expect(0, r"homefire doctor: ", stdout=True, more=lambda out: "[FAIL]" not in out)
    if command == "discover":
        if condition in ("no server", "wrong port"):
            return Expect(1, NO_SERVER_FOUND)
        if condition == "wrong key":
            return Expect(
                0,
                r"http://127\.0\.0\.1:\d+  llama\.cpp server",
                stdout=True,
                more=lambda out: "models: unavailable (HTTP 401" in out and "--api-key" in out,
            )
        return Expect(
            0,
            r"http://127\.0\.0\.1:\d+  llama\.cpp server",
            stdout=True,
            more=lambda out: "SmolLM2-135M-Instruct.Q4_1  loaded" in out,
        )
    if condition == "no server":
        return Expect(1, REFUSED.format(_SPEC.get(command, "ENDPOINT")))
    if condition == "wrong port":
        return Expect(1, NOT_LLM)
    if condition == "wrong key":
        return Expect(1, UNAUTHORIZED)
    success = {
        "chat": r"\S",  # the small model's words are not asserted; exit 0 and a quiet stderr are
        "complete": r"\S",
        "models": r"MODEL +LOADED +CONTEXT",
        "load": r"loaded qwen2\.5-7b-instruct",
        "unload": r"unloaded smollm2-135m-instruct",
        "pull": r"pulled ibm/granite-4-micro",
        "bench": r".+",
    }
    return Expect(0, success[command], stdout=True)


# --- the places -------------------------------------------------------------------------------


class _NotAnLLM(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>a web app</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def places() -> Iterator[Places]:
    refused = socket.socket()  # bound, never listening: connections to it are refused
    refused.bind(("127.0.0.1", 0))
    with contextlib.closing(refused), threaded_http(_NotAnLLM) as plain:
        server: LaunchedServer = launch(context_window=1024, n_threads=2, ready_timeout=120)
        lmstudio = FakeLMStudio(api_key=server.api_key).start()
        try:
            lmstudio.loaded["smollm2-135m-instruct"] = _instance()
            yield Places(
                refused=f"http://127.0.0.1:{refused.getsockname()[1]}",
                plain=plain.rstrip("/"),
                server=server.base_url,
                lmstudio=f"lmstudio://{lmstudio.base_url.removeprefix('http://')}",
                key=server.api_key,
            )
        finally:
            lmstudio.stop()
            server.stop()


def _instance() -> object:
    from fakes.lmstudio import Instance

    return Instance(context_length=4096)


def run(args: list[str], env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOMEFIRE_")}
    return subprocess.run(
        [sys.executable, "-m", "homefire", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**clean, "XDG_CONFIG_HOME": str(home), **env},
    )


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize("command", COMMANDS)
def test_cell(command: str, condition: str, places: Places, tmp_path: Path) -> None:
    args = _args(command, places.url(command, condition))
    env: dict[str, str] = {}
    if condition == "wrong key":
        args += ["--api-key", "wrong-key"]
    elif condition == "right key":
        env["HOMEFIRE_API_KEY"] = places.key
    result = run(args, env, tmp_path)
    want = expected(command, condition)
    shown = f"{args}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.returncode == want.code, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    text = result.stdout if want.stdout else result.stderr
    first = text.splitlines()[0] if text else ""
    assert re.match(want.first, first), shown
    if want.more is not None:
        assert want.more(result.stdout), shown
    if want.code == 0 and command != "bench":
        assert result.stderr == "", shown


def test_a_llamacpp_server_says_it_cannot_load(places: Places, tmp_path: Path) -> None:
    result = run(["load", places.server, "other"], {"HOMEFIRE_API_KEY": places.key}, tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: llama.cpp server cannot load models;"), result.stderr
    assert "homefire serve" in result.stderr


def test_the_flag_wins_over_the_variable(places: Places, tmp_path: Path) -> None:
    result = run(
        ["models", places.server, "--api-key", places.key],
        {"HOMEFIRE_API_KEY": "stale-key"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MODEL")
