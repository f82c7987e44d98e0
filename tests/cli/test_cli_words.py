"""The command line speaks its own words: flags where the library names Python arguments,
sizes with units, the embedded model as every model command's default, a config file that
must exist, and a banner that names the model by its file."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import homefire as hf
from homefire.cli._app import app
from homefire.cli._words import cli_message, in_cli_words, option, vocabulary
from homefire.errors import ContextOverflowError, InvalidParameterError

WORDS = {
    "api_key": "--api-key or HOMEFIRE_API_KEY",
    "context_window": "--ctx",
    "kv_cache_type": "--kv-type",
    "model": "--model",
    "base_url": "ENDPOINT",
}


def invoke(*args: str, **env: str | None) -> Result:
    return CliRunner().invoke(app, list(args), env={"HOMEFIRE_CONFIG": None, **env})


@pytest.mark.unit
@pytest.mark.parametrize(
    ("python", "cli"),
    [
        (
            "Pass the server's key with api_key= (or fix it)",
            "Pass the server's key with --api-key or HOMEFIRE_API_KEY (or fix it)",
        ),
        ("load the model with a larger context_window", "load the model with a larger --ctx"),
        ("try kv_cache_type='q8_0' or less", "try --kv-type q8_0 or less"),
        ("or check its address (base_url=)", "or check its address (ENDPOINT)"),
        ("use OpenAILike(model=...) for it", "use OpenAILike(model=...) for it"),
        ("must be hf.Timeouts(connect=...)", "must be hf.Timeouts(connect=...)"),
        ("settings.context_window is 8", "settings.context_window is 8"),
        ("the model is loaded", "the model is loaded"),
        ("--kv-type is set", "--kv-type is set"),
    ],
)
def test_python_words_become_flags(python: str, cli: str) -> None:
    assert in_cli_words(python, WORDS) == cli


@pytest.mark.unit
def test_options_say_which_arguments_they_set() -> None:
    @click.command()
    @option("-c", "--ctx", "context", type=int, sets=("context_window",))
    @option("--api-key", envvar="HOMEFIRE_API_KEY")
    @click.argument("endpoint")
    def command(context: int, api_key: str, endpoint: str) -> None:
        pass

    words = vocabulary(command)
    assert words["context_window"] == "--ctx"
    assert words["context"] == "--ctx"
    assert words["api_key"] == "--api-key or HOMEFIRE_API_KEY"
    assert words["endpoint"] == "ENDPOINT"
    error = InvalidParameterError("context_window", "must be at least 1, got 0")
    assert cli_message(error, command) == "invalid value for --ctx: must be at least 1, got 0"
    overflow = ContextOverflowError(500, 128)
    assert cli_message(overflow, command).endswith("load the model with a larger --ctx")


@pytest.mark.unit
def test_a_library_argument_is_named_by_its_flag() -> None:
    result = invoke("plan", "--kv-type", "q3")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid value for --kv-type: 'q3' is not one of")


@pytest.mark.unit
@pytest.mark.parametrize("size", ["8", "8.5", " 24 "])
def test_a_size_without_a_unit_is_refused(size: str) -> None:
    result = invoke("plan", "--gpu-memory", size)
    assert result.exit_code == 2
    number = size.strip()
    assert result.stderr.startswith(
        f"error: invalid value for '--gpu-memory': '{number}' has no unit; write {number}GiB"
    )


@pytest.mark.unit
def test_sizes_with_units_plan_for_that_machine() -> None:
    result = invoke("plan", "--gpu-memory", "8GiB", "--ram", "16GB", "--json")
    assert result.exit_code == 0, result.output
    hardware = json.loads(result.stdout)["hardware"]
    assert [gpu["free_bytes"] for gpu in hardware["gpus"]] == [8 * 1024**3]
    assert hardware["ram_available_bytes"] == 16 * 1000**3


@pytest.mark.unit
def test_inspect_and_plan_default_to_the_embedded_model(smollm2_path: Path) -> None:
    inspected = invoke("inspect", "--json")
    assert inspected.exit_code == 0, inspected.output
    assert json.loads(inspected.stdout)["path"] == str(smollm2_path)
    planned = invoke("plan", "--json")
    assert planned.exit_code == 0, planned.output
    assert json.loads(planned.stdout)["model"]["path"] == str(smollm2_path)


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["folder", "missing"])
def test_a_bad_config_variable_is_an_error(kind: str, tmp_path: Path) -> None:
    path = tmp_path if kind == "folder" else tmp_path / "nowhere.toml"
    result = invoke("models", "work", HOMEFIRE_CONFIG=str(path))
    assert result.exit_code == 1
    said = "is a folder" if kind == "folder" else "does not exist"
    assert result.stderr.startswith(f"error: invalid value for $HOMEFIRE_CONFIG: '{path}' {said}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOMEFIRE_CONFIG", str(path))
        with pytest.raises(hf.InvalidParameterError, match=said):
            hf.connect("work")


@pytest.mark.unit
def test_a_key_for_a_model_file_is_a_usage_error() -> None:
    result = invoke("chat", "-m", "model.gguf", "--api-key", "k", "hi")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --api-key is for a server")
    in_process = invoke("models", "llamacpp:model.gguf", "--api-key", "k")
    assert in_process.exit_code == 2
    assert in_process.stderr.startswith("error: --api-key is for a server; 'llamacpp:model.gguf'")


@pytest.mark.integration
def test_the_key_variable_leaves_models_loaded_here_alone(smollm2_path: Path) -> None:
    result = invoke("models", f"llamacpp:{smollm2_path}", HOMEFIRE_API_KEY="for-servers")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("MODEL")


@pytest.mark.unit
def test_gpu_layers_are_for_models_loaded_here() -> None:
    result = invoke("chat", "-m", "http://127.0.0.1:9", "--gpu-layers", "4", "hi")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --gpu-layers sets how a model is loaded in-process")
    bad = invoke("chat", "--gpu-layers", "lots", "hi")
    assert bad.exit_code == 2
    assert "'lots' is not a number of layers or auto" in bad.stderr


@pytest.mark.integration
def test_a_context_overflow_names_the_flag() -> None:
    result = invoke("complete", "-c", "64", "-n", "8", "word " * 200)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.rstrip().endswith("load the model with a larger --ctx"), result.stderr


@pytest.mark.integration
def test_the_banner_names_the_model_file() -> None:
    from homefire.cli.chat_cmd import model_label

    with hf.LlamaCPP(n_threads=2, context_window=512) as llm:
        assert model_label(llm) == "SmolLM2-135M-Instruct.Q4_1"
