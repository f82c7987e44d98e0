"""`homefire inspect` and `homefire plan` as a user runs them: a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homefire.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_inspect_json(smollm2_path: Path) -> None:
    result = _run("inspect", str(smollm2_path), "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["architecture"] == "llama"
    assert (facts["block_count"], facts["context_length"], facts["head_count_kv"]) == (30, 8192, 3)
    assert facts["quantization"] == "Q4_1"
    assert facts["has_chat_template"] is True


def test_inspect_table(smollm2_path: Path) -> None:
    result = _run("inspect", str(smollm2_path))
    assert result.returncode == 0, result.stderr
    assert "architecture" in result.stdout and "Q4_1" in result.stdout


def test_inspect_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all, just some text")
    result = _run("inspect", str(bad))
    assert result.returncode == 1
    assert "bad model file" in result.stderr and str(bad) in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_json_for_another_machine(smollm2_path: Path) -> None:
    result = _run(
        "plan", str(smollm2_path), "--json", "--gpu-memory", "600MiB", "--gpu-memory", "600MiB",
        "--ram", "16GiB", "--ctx", "4096", "--kv-type", "q8_0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rec, memory = data["recommendation"], data["memory"]
    assert (rec["context_window"], rec["kv_cache_type"], rec["n_gpu_layers"]) == (4096, "q8_0", 31)
    assert [d["device"] for d in memory["devices"]] == ["CPU", "GPU 0", "GPU 1"]
    for key in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "total_bytes"):
        assert memory[key] > 0


def test_plan_table(smollm2_path: Path) -> None:
    result = _run("plan", str(smollm2_path), "--no-gpu", "--ram", "150MiB")
    assert result.returncode == 0, result.stderr
    assert "recommended settings" in result.stdout
    assert "verdict: fits" in result.stdout


def test_plan_bad_size(smollm2_path: Path) -> None:
    result = _run("plan", str(smollm2_path), "--gpu-memory", "lots")
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid value for '--gpu-memory': 'lots' is not a size")
