"""`launch` and `serve`: settings checked before anything starts, keys, and the binary route."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from realserver import smollm2_path

import homefire as hf
from homefire.servers.launch import launch
from homefire.servers.serve import API_KEY_ENV, resolve_api_key, run

# Stands in for a `llama-server` binary: takes llama-server's arguments and environment and
# runs homefire's own server with them, so the binary route is exercised end to end.
FAKE_LLAMA_SERVER = f"""#!{sys.executable}
import argparse, os, sys
parser = argparse.ArgumentParser()
for flag in ("-m", "--host", "--port", "--parallel", "-c", "-t"):
    parser.add_argument(flag)
args = parser.parse_args()
os.environ["{API_KEY_ENV}"] = os.environ["LLAMA_API_KEY"]
argv = [sys.executable, "-m", "homefire.servers.serve", args.m, "--host", args.host,
        "--port", args.port, "--threads", args.t]
# llama-server splits -c between the slots of an explicit --parallel; without it, its
# slots share all -c tokens, as homefire's do.
if args.parallel:
    argv += ["--parallel", args.parallel, "--ctx", str(int(args.c) // int(args.parallel))]
else:
    argv += ["--ctx", args.c]
os.execv(sys.executable, argv)
"""


@pytest.mark.unit
def test_api_key_comes_from_flag_then_environment_then_is_generated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert resolve_api_key("given", False) == ("given", False)
    assert resolve_api_key(None, True) == (None, False)
    key, generated = resolve_api_key(None, False)
    assert generated and len(key) >= 24 and key != resolve_api_key(None, False)[0]
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    assert resolve_api_key(None, False) == ("from-env", False)


@pytest.mark.unit
def test_bad_settings_fail_before_any_model_loads(tmp_path: Path) -> None:
    with pytest.raises(hf.ModelFileError):
        run(tmp_path / "missing.gguf")
    with pytest.raises(hf.InvalidParameterError, match="parallel"):
        run(smollm2_path(), parallel=0)
    with pytest.raises(hf.InvalidParameterError, match="port"):
        run(smollm2_path(), port=70000)
    with pytest.raises(hf.ModelFileError):
        launch(tmp_path / "missing.gguf")
    with pytest.raises(hf.InvalidParameterError, match="binary"):
        launch(smollm2_path(), binary=tmp_path / "nope")
    with pytest.raises(hf.InvalidParameterError, match="ready_timeout"):
        launch(smollm2_path(), ready_timeout=0)


@pytest.mark.integration
def test_launch_runs_a_llama_server_binary_with_its_key(tmp_path: Path) -> None:
    binary = tmp_path / "llama-server"
    binary.write_text(FAKE_LLAMA_SERVER)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "server.log"
    with launch(
        smollm2_path(), binary=binary, context_window=256, n_threads=2, log_path=log
    ) as server:
        llm = server.llm()
        assert llm.props().n_ctx == 256
        assert llm.complete("The capital of France is", max_tokens=3, temperature=0).text
        with pytest.raises(hf.AuthenticationError):
            hf.Llamafile(base_url=server.base_url).complete("Hi", max_tokens=1)
    assert not server.running
    assert log.stat().st_size > 0


@pytest.mark.integration
def test_serve_checks_the_model_file_before_llama_cpp_sees_it(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my shopping list")
    truncated = tmp_path / "truncated.gguf"
    with smollm2_path().open("rb") as model:
        truncated.write_bytes(model.read(1 << 20))
    for bad in (notes, truncated):
        done = subprocess.run(
            [sys.executable, "-m", "homefire.cli", "serve", str(bad), "--port", "0"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done.stderr
        assert "bad model file" in done.stderr
        assert "Traceback" not in done.stderr and "llama_model_load" not in done.stderr


@pytest.mark.integration
def test_serve_takes_the_planner_and_cache_settings() -> None:
    args = ["--ctx", "auto", "--n-gpu-layers", "auto", "--kv-type", "q8_0", "--parallel", "2"]
    with launch(n_threads=2, extra_args=args) as server, server.llm() as llm:
        props = llm.props()
        assert props.total_slots == 2
        assert 32 <= props.n_ctx <= 8192  # planned for this machine, within the trained context
        assert llm.complete("Once upon a time", max_tokens=2).usage.completion_tokens == 2  # type: ignore[union-attr]
