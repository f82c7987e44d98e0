"""`hf.bench` and `homefire bench` with the real model, in-process and behind a real
llama.cpp server. Runs are tiny (16 tokens, 2 reps); no assertion is about speed itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import homefire as hf

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("engine", ["xllamacpp", "llama-cpp-python"])
def test_client_speed_agrees_with_the_engine_timings(engine: str) -> None:
    pytest.importorskip("xllamacpp" if engine == "xllamacpp" else "llama_cpp")
    # The two clocks differ by a fixed cost (the first token's sampling and delivery):
    # 32 tokens keep it far below 5% even on a fast machine, and the run still takes seconds.
    report = hf.bench(
        engine=engine,
        n_threads=2,
        context_window=512,
        prompt_tokens=32,
        gen_tokens=32,
        reps=2,
        concurrency=1,
    )
    (row,) = report.rows
    assert row.target == "embedded"
    assert row.settings["engine"] == engine
    assert row.settings["n_threads"] == 2
    assert row.settings["context_window"] == 512
    assert row.load_ms is not None and row.load_ms > 0
    assert row.end_ban == "logit_bias"
    assert row.prompt_exact, row.notes
    assert row.notes == ()
    assert len(row.samples) == 2
    for sample in row.samples:
        assert sample.prompt_tokens == 32
        assert sample.generated_tokens == 32
        # Two measurements of the same run: the client's clock and llama.cpp's own timings.
        assert sample.gen_tps is not None and sample.gen_tps_client is not None
        assert sample.gen_tps_client == pytest.approx(sample.gen_tps, rel=0.05)


def _endpoint_config(path: Path, server: Any, key_variable: str) -> Path:
    path.write_text(
        "[endpoints.server]\n"
        'provider = "llamafile"\n'
        f'base_url = "{server.base_url}"\n'
        f'api_key_env = "{key_variable}"\n',
        encoding="utf-8",
    )
    return path


def test_one_run_benches_in_process_and_a_server(
    tmp_path: Path, smollm2_path: Path, smollm2_server: Any
) -> None:
    config = _endpoint_config(tmp_path / "config.toml", smollm2_server, "BENCH_TEST_KEY")
    results, chart = tmp_path / "bench.json", tmp_path / "bench.svg"
    env = {
        **os.environ,
        "HOMEFIRE_CONFIG": str(config),
        "BENCH_TEST_KEY": smollm2_server.api_key,
    }
    command = [sys.executable, "-m", "homefire.cli", "bench", str(smollm2_path), "server"]
    options = ["-p", "32", "-n", "16", "-r", "2", "--concurrency", "1,2"]
    outputs = ["--json", str(results), "--plot", str(chart)]
    result = subprocess.run(
        [*command, *options, *outputs],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert f"plot written to {chart}" in result.stderr

    table = result.stdout
    for header in ("target", "backend", "conc", "ttft ms", "tg t/s (cl)", "total t/s"):
        assert header in table
    assert smollm2_path.name in table
    assert "llama.cpp server" in table

    data = json.loads(results.read_text())
    rows = data["rows"]
    assert [(r["target"], r["concurrency"]) for r in rows] == [
        (smollm2_path.name, 1),
        (smollm2_path.name, 2),
        ("server", 1),
        ("server", 2),
    ]
    in_process, server = rows[0], rows[2]
    assert in_process["backend"] == "in-process xllamacpp"
    assert in_process["end_ban"] == "logit_bias"
    assert in_process["load_ms"] > 0
    assert server["backend"] == "llama.cpp server"
    assert server["end_ban"] == "ignore_eos"
    assert server["load_ms"] is None
    assert server["settings"] == {}
    for row in rows:
        assert row["prompt_exact"], row["notes"]
        assert row["generated"]["median"] == 16
        assert len(row["samples"]) == 2 * row["concurrency"]
        assert row["gen_tps"] is not None, "llama.cpp reports its own timings"
        assert row["throughput"]["n"] == 2

    svg = chart.read_text()
    assert svg.startswith("<svg")
    for label in ("Aggregate throughput", "Time to first token", "concurrent requests"):
        assert f">{label}</text>" in svg
    for target in (smollm2_path.name, "server"):
        assert f">{target}</text>" in svg
