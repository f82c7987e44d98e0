"""Every fix `homefire doctor` prints is a command that works on the server it diagnosed.

Each case puts a server in a state doctor must complain about, runs doctor as a user does,
takes the commands from its `fix:` line, runs them one by one (the last is doctor again), and
checks that the check that failed now passes. The servers are the fakes of LM Studio, Ollama
and LocalAI, and a real llama.cpp server started by `launch()`, with an API key.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeOllama
from homefire.cli._app import app
from homefire.servers.doctor import KEY
from homefire.servers.launch import LaunchedServer, launch
from threaded_http import threaded_http

ENV = {"HOMEFIRE_CONFIG": None, "HOMEFIRE_API_KEY": None, "HOMEFIRE_DEBUG": None}


def homefire(command: str, key: str | None = None) -> Result:
    """A suggested command line, run as typed (KEY replaced by the server's key)."""
    words = shlex.split(command)
    assert words[0] == "homefire", command
    if key is not None:
        words = [key if w == KEY else w for w in words]
    return CliRunner().invoke(app, words[1:], env=ENV)


def doctor(*args: str) -> Result:
    return CliRunner().invoke(app, ["doctor", *args], env=ENV)


def fix_of(result: Result, check: str) -> list[str]:
    """The commands printed under the `fix:` line of the failed `check` (`  $ homefire ...`)."""
    lines = result.stdout.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith(f"[FAIL] {check} "))
    assert lines[failed + 2].startswith("         fix:   "), result.stdout
    commands = [line[13:] for line in lines[failed + 3 :] if line.startswith("           $ ")]
    assert commands, result.stdout
    return commands


def status(result: Result, check: str) -> str:
    line = next(x for x in result.stdout.splitlines() if x[7:].startswith(f"{check} "))
    return line[1:5].strip()


def follow(result: Result, check: str, key: str | None = None) -> Result:
    """Run every command of the fix; the last one is doctor again, whose result is returned."""
    assert status(result, check) == "FAIL", result.stdout
    *steps, again = fix_of(result, check)
    assert again.startswith("homefire doctor "), again
    for step in steps:
        done = homefire(step, key)
        assert done.exit_code == 0, (step, done.output)
    final = homefire(again, key)
    assert status(final, check) == "ok", (again, final.output)
    return final


def address(url: str) -> str:
    return url.removeprefix("http://")


# --- fakes ------------------------------------------------------------------------------------


@pytest.fixture
def lmstudio() -> Iterator[FakeLMStudio]:
    server = FakeLMStudio().start()
    yield server
    server.stop()


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    server = FakeOllama().start()
    yield server
    server.stop()


@pytest.fixture
def localai() -> Iterator[FakeLocalAI]:
    server = FakeLocalAI().start()
    yield server
    server.stop()


@pytest.mark.unit
def test_lmstudio_missing_unloaded_and_wrong_context(lmstudio: FakeLMStudio) -> None:
    spec = f"lmstudio://{address(lmstudio.base_url)}"
    missing = doctor(f"{spec}/ibm/granite-4-micro")
    follow(missing, "model")
    unloaded = doctor(f"{spec}/qwen2.5-7b-instruct", "-c", "4096")
    follow(unloaded, "loaded")
    assert homefire(f"homefire load {spec} smollm2-135m-instruct -c 8192").exit_code == 0
    mismatch = doctor(f"{spec}/smollm2-135m-instruct", "-c", "4096")
    healthy = follow(mismatch, "context")
    assert healthy.exit_code == 0, healthy.output


@pytest.mark.unit
def test_lmstudio_key(lmstudio: FakeLMStudio) -> None:
    lmstudio.api_key = "secret"
    spec = f"lmstudio://{address(lmstudio.base_url)}/smollm2-135m-instruct"
    follow(doctor(spec), "auth", key="secret")
    follow(doctor(spec, "--api-key", "wrong"), "auth", key="secret")


@pytest.mark.unit
def test_a_spec_naming_another_server(lmstudio: FakeLMStudio) -> None:
    follow(doctor(f"ollama://{address(lmstudio.base_url)}/smollm2:135m"), "server")


@pytest.mark.unit
def test_ollama_missing_unloaded_and_wrong_context(ollama: FakeOllama) -> None:
    spec = f"ollama://{address(ollama.base_url)}"
    follow(doctor(f"{spec}/tinyllama"), "model")
    follow(doctor(f"{spec}/smollm2:135m", "-c", "2048"), "loaded")
    healthy = follow(doctor(f"{spec}/smollm2:135m", "-c", "8192"), "context")
    assert healthy.exit_code == 0, healthy.output


@pytest.mark.unit
def test_localai_missing_unloaded_not_ready_and_key() -> None:
    server = FakeLocalAI(api_keys=["right"], ready=False).start()
    try:
        url = server.base_url
        not_ready = doctor(url, "-m", "smollm2", "--api-key", "right")
        assert status(not_ready, "ready") == "FAIL", not_ready.output
        server.ready = True
        follow(not_ready, "ready", key="right")
        follow(doctor(url, "-m", "smollm2"), "auth", key="right")
        follow(doctor(url, "-m", "tinyllama-1.1b-chat", "--api-key", "right"), "model", "right")
        follow(doctor(url, "-m", "smollm2", "--api-key", "right"), "loaded", key="right")
    finally:
        server.stop()


@pytest.mark.unit
def test_localai_context_points_at_the_model_file(localai: FakeLocalAI) -> None:
    """LocalAI sizes the context in the model's YAML file: doctor says so, and the restart it
    suggests after the edit works."""
    homefire(f"homefire load {localai.base_url} smollm2")
    result = doctor(localai.base_url, "-m", "smollm2", "-c", "4096")
    assert status(result, "context") == "FAIL", result.output
    assert "context_size: 4096" in result.stdout
    for step in fix_of(result, "context")[:-1]:
        assert homefire(step).exit_code == 0, step


@pytest.mark.unit
def test_nothing_listening_or_not_an_llm_server() -> None:
    class Plain(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"hi")

        def log_message(self, *args: object) -> None:
            pass

    with threaded_http(Plain) as plain:
        result = doctor(plain.rstrip("/"))
        assert status(result, "server") == "FAIL", result.output
        (discover,) = fix_of(result, "server")
        listed = homefire(discover)
        assert listed.exit_code in (0, 1), listed.output
        assert listed.exit_code == 0 or "no LLM server found" in listed.stderr


# --- a real llama.cpp server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def llamacpp() -> Iterator[LaunchedServer]:
    with launch(context_window=1024, n_threads=2, ready_timeout=120) as server:
        yield server


@pytest.mark.integration
def test_llamacpp_key_and_model(llamacpp: LaunchedServer) -> None:
    url = llamacpp.base_url
    follow(doctor(url), "auth", key=llamacpp.api_key)
    other = doctor(url, "-m", "llama3.2", "--api-key", llamacpp.api_key)
    follow(other, "model", key=llamacpp.api_key)


@pytest.mark.integration
def test_llamacpp_context_is_fixed_by_starting_it_again(tmp_path: Path) -> None:
    server = launch(context_window=1024, n_threads=2, ready_timeout=120)
    key = server.api_key
    model = server.llm().models()[0].id
    try:
        mismatch = doctor(server.base_url, "-m", model, "-c", "2048", "--api-key", key)
    finally:
        server.stop()
    serve, again = fix_of(mismatch, "context")
    assert serve.startswith("homefire serve "), serve
    args = [key if w == KEY else w for w in shlex.split(serve)[1:]] + ["--threads", "2"]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "homefire", *args], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        from homefire.providers.llamafile import Llamafile

        with Llamafile(base_url=server.base_url, api_key=key) as llm:
            llm.wait_until_ready(timeout=120)
        final = homefire(again, key)
        assert status(final, "context") == "ok", final.output
        assert final.exit_code == 0, final.output
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
