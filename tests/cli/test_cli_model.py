"""The `homefire` command with the real embedded model, run as a child process.

What the model says is never checked: its words change with the machine (thread count and CPU
features change the float rounding). The tests check what the command does with them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pty_session import Terminal

from threaded_http import serving_files

pytestmark = pytest.mark.integration

FRANCE = "What is the capital of France?"
GREEDY = ("--temperature", "0", "--system", "You are a helpful assistant.")


def _run(
    *args: str, stdin: str = "", timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homefire.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.parametrize("engine", ["xllamacpp", "llama-cpp-python"])
def test_chat_answers_once_and_prints_nothing_else(engine: str) -> None:
    if engine == "llama-cpp-python":
        pytest.importorskip("llama_cpp")
    result = _run("chat", "--engine", engine, *GREEDY, "--max-tokens", "40", FRANCE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() and result.stdout.endswith("\n")
    assert result.stderr == ""


def test_chat_reads_the_prompt_from_a_pipe() -> None:
    result = _run(
        "chat",
        *GREEDY,
        "--max-tokens",
        "40",
        "--system",
        "Answer in one sentence.",
        stdin=FRANCE + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() and result.stderr == ""


def test_chat_json_is_one_object() -> None:
    result = _run("chat", *GREEDY, "--max-tokens", "40", "--json", FRANCE)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"text", "finish_reason", "usage", "timings", "model"}
    assert isinstance(body["text"], str) and body["text"].strip()
    assert body["finish_reason"] in ("stop", "length")
    assert body["usage"]["completion_tokens"] > 0
    assert body["model"]


def test_complete_streams_a_continuation() -> None:
    result = _run(
        "complete", "--temperature", "0", "--max-tokens", "8", "--json", "The capital of France is"
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["finish_reason"] in ("stop", "length")
    assert 0 < body["usage"]["completion_tokens"] <= 8
    streamed = _run(
        "complete", "--temperature", "0", "--max-tokens", "8", "The capital of France is"
    )
    assert streamed.stdout == body["text"] + ("" if body["text"].endswith("\n") else "\n")


def test_interactive_chat_through_a_pipe_keeps_the_history() -> None:
    # Each turn fits the 200-token window alone; the second no longer fits after the first
    # and its answer, so the window runs out only because the history is kept.
    turn = "hello " * 90
    alone = _run("chat", "-i", *GREEDY, "-c", "200", "-n", "20", stdin=f"/help\n{turn}\n")
    assert alone.returncode == 0, alone.stderr
    assert "context window is 200" not in alone.stderr
    assert "/reset" in alone.stderr
    both = _run("chat", "-i", *GREEDY, "-c", "200", "-n", "20", stdin=f"{turn}\n{turn}\n")
    assert both.returncode == 0, both.stderr
    assert "context window is 200" in both.stderr


def test_interactive_chat_survives_a_turn_that_overflows_the_context() -> None:
    turns = "Tell me a long story about a dragon.\n" + "more please " * 40 + "\nSay hi.\n"
    result = _run("chat", "-i", *GREEDY, "-c", "128", "-n", "30", stdin=turns)
    assert result.returncode == 0, result.stderr
    assert "context window is 128" in result.stderr
    assert "/reset" in result.stderr
    assert len([line for line in result.stdout.splitlines() if line.strip()]) >= 2


def test_bad_model_path_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    result = _run("chat", "--model", str(missing), "hi")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_prompt_longer_than_the_context_names_both_numbers() -> None:
    result = _run("complete", "--context-window", "64", "hello " * 100)
    assert result.returncode == 1
    assert "context window is 64" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.fixture
def served_model(smollm2_path: Path, tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copyfile(smollm2_path, folder / "smol.gguf")
    with serving_files(folder) as url:
        yield f"{url}smol.gguf"


def test_model_url_is_downloaded_into_the_cache_then_used(
    served_model: str, tmp_path: Path
) -> None:
    env = {**os.environ, "HOMEFIRE_CACHE_DIR": str(tmp_path / "cache")}
    result = _run("chat", *GREEDY, "--max-tokens", "40", "--model", served_model, FRANCE, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert [p.name for p in (tmp_path / "cache" / "models").glob("*/*.gguf")] == ["smol.gguf"]


@pytest.fixture(scope="module")
def endless(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> dict[str, str]:
    """An environment whose config names `endless`: the embedded model (xllamacpp) with its
    end-of-turn tokens banned, so an answer runs until stopped or --max-tokens, never ending
    on its own before the test presses Ctrl-C."""
    config = tmp_path_factory.mktemp("config") / "config.toml"
    config.write_text(
        "[endpoints.endless]\n"
        'provider = "llamacpp"\n'
        f"model = {json.dumps(str(smollm2_path))}\n"
        "n_threads = 2\n"
        'engine_kwargs = { "sampling.ignore_eos" = true }\n'
    )
    return {**os.environ, "HOMEFIRE_CONFIG": str(config)}


def _exit_with_ctrl_c(terminal: Terminal) -> int:
    """Ctrl-C at the prompt until the program exits: CPython's readline loses a SIGINT that
    lands between printing the prompt and waiting for input, which a person never hits."""
    for _ in range(20):
        terminal.send("\x03")
        try:
            return terminal.wait(timeout=1)
        except AssertionError:
            continue
    return terminal.wait()


def test_ctrl_c_stops_the_answer_not_the_chat(endless: dict[str, str]) -> None:
    terminal = Terminal(
        [sys.executable, "-m", "homefire.cli", "chat", "-m", "endless", *GREEDY, "-n", "1500"],
        env=endless,
    )
    try:
        terminal.expect(r">>> ", timeout=120)
        terminal.send("Write a very long story about a dragon who learns to cook.\n")
        terminal.expect(r"cook\.\n")
        terminal.expect(r"\w+ \w+ \w+ \w+")
        terminal.send("\x03")
        terminal.expect(r"\(stopped\)\n", timeout=20)
        terminal.expect(r">>> ", timeout=20)
        if Path("/proc").is_dir():  # a stopped generation leaves the process idle at the prompt
            before = _cpu_seconds(terminal.pid)
            time.sleep(2)
            assert _cpu_seconds(terminal.pid) - before < 0.5
        terminal.send(FRANCE + "\n")  # the chat goes on: the next question is answered
        terminal.expect(r"France\?\n")
        terminal.expect(r"\w+ \w+ \w+ \w+", timeout=60)
        terminal.send("\x03")
        terminal.expect(r"\(stopped\)\n", timeout=20)
        terminal.expect(r">>> ")
        assert _exit_with_ctrl_c(terminal) == 0
        assert "Traceback" not in terminal.text
    finally:
        terminal.close()


COUNTING = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"  # a completion that goes on for as long as it may


@pytest.mark.parametrize("engine", ["xllamacpp", "llama-cpp-python"])
def test_ctrl_c_ends_a_one_shot_answer_with_status_130(
    engine: str, endless: dict[str, str]
) -> None:
    if engine == "llama-cpp-python":
        # llama-cpp-python takes no default sampling settings to ban the end-of-turn tokens
        # with; counting goes on without them
        pytest.importorskip("llama_cpp")
        command = ["complete", "--engine", engine, "-t", "0", "-n", "1500", COUNTING]
    else:
        command = ["complete", "-m", "endless", "-t", "0", "-n", "1500", COUNTING]
    terminal = Terminal([sys.executable, "-m", "homefire.cli", *command], env=endless)
    try:
        terminal.expect(r"\d+, \d+, \d+, \d+", timeout=120)
        terminal.send("\x03")
        assert terminal.wait() == 130
        assert "Traceback" not in terminal.text
    finally:
        terminal.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
