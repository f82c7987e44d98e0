"""The `homefire` command as a user runs it: a child process, checked by exit code and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def _run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homefire.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_version() -> None:
    result = _run("--version")
    assert (result.returncode, result.stdout) == (0, "homefire 0.1.0\n")


def test_python_dash_m_homefire_and_the_console_script() -> None:
    module = subprocess.run(
        [sys.executable, "-m", "homefire", "-V"], capture_output=True, text=True, timeout=60
    )
    assert module.stdout == "homefire 0.1.0\n"
    script = Path(sys.executable).with_name("homefire")
    if script.exists():
        scripted = subprocess.run(
            [str(script), "--version"], capture_output=True, text=True, timeout=60
        )
        assert scripted.stdout == "homefire 0.1.0\n"


def test_help_lists_every_command_without_importing_them() -> None:
    probe = (
        "import json, sys\n"
        "from homefire.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    help_text, _, modules_json = result.stdout.rpartition("\n[")
    for name in (
        "chat",
        "complete",
        "serve",
        "inspect",
        "plan",
        "discover",
        "models",
        "load",
        "unload",
        "pull",
        "doctor",
        "bench",
    ):
        assert f"  {name} " in help_text
    modules = json.loads("[" + modules_json)
    loaded = [
        m
        for m in modules
        if m.startswith(
            ("homefire.providers", "homefire.cli.", "xllamacpp", "llama_cpp", "httpx", "rich.")
        )
        and m
        not in (
            "homefire.cli._app",
            "homefire.cli._common",
            "homefire.providers",
            "homefire.providers._registry",
        )
    ]
    assert loaded == []


def test_missing_click_says_how_to_install_it() -> None:
    probe = (
        "import sys\nsys.modules['click'] = None\nfrom homefire.cli import main\nmain(['--help'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "pip install 'homefire[cli]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_spec_is_one_red_line() -> None:
    result = _run("chat", "--model", "no-such-model", "hello")
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid value for --model: 'no-such-model'")
    assert "no-such-model" in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_debug_shows_the_traceback() -> None:
    result = _run("chat", "--debug", "--model", "no-such-model", "hello")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "InvalidParameterError" in result.stderr


def test_debug_from_the_environment() -> None:
    env = {**os.environ, "HOMEFIRE_DEBUG": "1"}
    result = _run("complete", "--model", "no-such-model", "hello", env=env)
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_bad_options_fail_before_loading_anything() -> None:
    for args in (
        ["chat", "--temperature", "-1", "hi"],
        ["complete", "--max-tokens", "0", "hi"],
        ["chat", "--engine", "nope", "hi"],
        ["chat", "--json", "-i"],
    ):
        # a model that does not exist: refusing it (status 1) would mean it was looked at
        result = _run(*args, "--model", "/no/such/model.gguf")
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error: "), result.stderr


@pytest.mark.parametrize("args", [["chat"], ["chat", "-"], ["complete", "-"], ["complete"]])
def test_empty_prompt_on_stdin_is_refused(args: list[str]) -> None:
    result = _run(*args, stdin="  \n")
    assert result.returncode == 2
    assert "the prompt is empty" in result.stderr


def test_a_command_whose_module_is_missing_says_so() -> None:
    probe = (
        "import sys\n"
        "from homefire.cli import _app, main\n"
        "_app.COMMANDS['ghost'] = ('homefire.cli.ghost_cmd:command', 'Not here.')\n"
        "main(['ghost'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: 'homefire ghost' is not available in this installation "
        "(module homefire.cli.ghost_cmd is missing); reinstall homefire\n"
    )


def test_every_registered_command_resolves_to_a_click_command() -> None:
    probe = (
        "import click\n"
        "from homefire.cli._app import COMMANDS, app\n"
        "ctx = click.Context(app)\n"
        "for name in COMMANDS:\n"
        "    assert isinstance(app.get_command(ctx, name), click.Command), name\n"
        "print(len(COMMANDS))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "12\n"
