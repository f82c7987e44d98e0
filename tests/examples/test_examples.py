"""Every example runs, with the very commands the documentation shows for it.

The pages show commands a reader types (`python examples/ollama.py http://127.0.0.1:11434
llama3.2`); each is run here as a subprocess, with the addresses in it replaced by a stand-in
for that server (the real component where it runs here, a faithful fake otherwise), in a
folder where `model.gguf` is a real model. The output is checked for its structure: the
lines each example prints, never the small model's words.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from standins import StandIns, substitute, usual_addresses, working_folder

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
DOCS = REPO / "docs"
_COMMAND = re.compile(r"^\s*(python examples/(\w+)\.py\b.*)$")
TIMEOUT = 600


@dataclass(frozen=True)
class Case:
    """What an example needs, and the lines its output must have (as regular expressions)."""

    servers: tuple[str, ...] = ()
    expect: tuple[str, ...] = ()
    needs: str | None = None
    """A module the example imports that `make integrations` installs."""
    down: tuple[str, ...] = ()
    """Addresses where nothing must listen (to show a backend that is down)."""
    slow: bool = False


CASES: dict[str, Case] = {
    "inprocess": Case(expect=("^model: .*context 4096", "^chat: ", "^usage: ", "^complete: ")),
    "llamacpp_server": Case(
        servers=("llamafile",),
        expect=("^model: .*\\.gguf", "^context: 2048 tokens per slot", "^tokens in ", "^chat: "),
    ),
    "lmstudio": Case(
        servers=("lmstudio",),
        expect=(
            "^qwen2.5-7b-instruct: Q4_K_M, up to 32768 tokens",
            "^chat: ",
            "^qwen2.5-7b-instruct runs with a 8192-token context",
            "^qwen2.5-7b-instruct unloaded",
        ),
    ),
    "localai": Case(
        servers=("localai",),
        expect=("^llama-3.2-1b-instruct: configured", "^backend: ready", "^chat: "),
    ),
    "xinference": Case(
        servers=("xinference",),
        expect=("^running homefire-example: context 2048", "^chat: ", "^terminated "),
        slow=True,
    ),
    "ollama": Case(
        servers=("ollama",),
        expect=(
            "^llama3.2:latest: Q4_K_M",
            "^chat: ",
            "^loaded: llama3.2:latest with a 8192-token context",
        ),
    ),
    "openai_compatible": Case(
        servers=("openai",),
        expect=("^models: \\[", "^using .*context 2048", "^chat: ", "^structured: \\{'capital': "),
    ),
    "tools": Case(expect=("^call: get_weather\\(\\{'city': ", "^result: ", "^answer: ")),
    "structured_output": Case(
        expect=("^pydantic: City\\(", "^dataclass: Colour\\(", "^JSON schema: \\{'answer': ")
    ),
    "embeddings": Case(
        servers=("embeddings",), expect=("^3 vectors of 576 dimensions$", "^\\d\\.\\d{3}  The")
    ),
    "planning": Case(
        expect=("^recommended: n_gpu_layers=", "^memory for ", "^loaded with context ")
    ),
    "serve": Case(expect=("^serving at http://127.0.0.1:", "^homefire: ", "^HTTP: 200 ")),
    "router": Case(
        servers=("llamafile",),
        down=("127.0.0.1:8081",),
        expect=(
            "^one: ",
            "^four at once: \\[",
            "^http://127.0.0.1:\\d+: up, answered [1-9]",
            "^http://127.0.0.1:\\d+: down \\(nothing is listening",
        ),
    ),
    "bench": Case(expect=("x1: first token ", "x2: first token ", "^wrote bench.json"), slow=True),
    "llamaindex_rag": Case(
        needs="llama_index.llms.homefire", expect=("^chat: ", "^answer: ", "^source: ")
    ),
    "langchain_chat": Case(
        needs="langchain_homefire",
        expect=("^invoke: ", "^tool calls: \\[\\('get_weather'", "^structured: City\\("),
    ),
}


def shown_commands() -> dict[str, list[str]]:
    """example name -> the commands the documentation shows for it."""
    found: dict[str, list[str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for line in page.read_text(encoding="utf-8").splitlines():
            match = _COMMAND.match(line)
            if match:
                command = shlex.split(match[1], comments=True)
                found.setdefault(match[2], []).append(shlex.join(command))
    return found


def _params() -> Iterator[object]:
    commands = shown_commands()
    for name, case in CASES.items():
        for command in commands.get(name, []):
            marks = [pytest.mark.integration, *([pytest.mark.slow] if case.slow else [])]
            yield pytest.param(name, command, marks=marks, id=command.removeprefix("python "))


@pytest.mark.unit
def test_every_example_is_shown_and_tested() -> None:
    scripts = {path.stem for path in EXAMPLES.glob("*.py")}
    assert scripts == set(CASES), f"untested: {scripts - set(CASES)}; gone: {set(CASES) - scripts}"
    shown = shown_commands()
    assert set(shown) == scripts, f"no page shows how to run {sorted(scripts - set(shown))}"


@pytest.mark.unit
def test_each_example_says_how_to_run_it() -> None:
    for path in EXAMPLES.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert f"python examples/{path.name}" in text, f"{path.name}'s docstring shows no command"


def _nothing_listening(held: list[socket.socket]) -> str:
    """The `host:port` of a port bound but not listening (connections are refused), held
    until the test ends so that no one else takes it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    held.append(sock)
    return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(("name", "command"), list(_params()))
def test_example_runs_as_shown(
    name: str, command: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    case = CASES[name]
    if case.needs is not None:
        pytest.importorskip(case.needs, reason="install the integrations with `make integrations`")
    standins = StandIns(request)
    text, env = command, {}
    for server in case.servers:  # those whose address this command names
        if substitute(text, usual_addresses(server), "")[1]:
            text, more = standins.rewrite(text, {server: usual_addresses(server)})
            env.update(more)
    held: list[socket.socket] = []
    try:
        for address in case.down:
            text = text.replace(address, _nothing_listening(held))
        workdir = working_folder(tmp_path, request.getfixturevalue("smollm2_path"))
        (workdir / "examples").symlink_to(EXAMPLES)
        argv = shlex.split(text)
        result = subprocess.run(
            [sys.executable, *argv[1:]],
            cwd=workdir,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    finally:
        for sock in held:
            sock.close()
    output = result.stdout
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    for pattern in case.expect:
        assert re.search(pattern, output, re.MULTILINE), f"{command}: no {pattern!r} in\n{output}"
