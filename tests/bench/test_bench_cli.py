"""`homefire bench` refusing what cannot work, before it loads or contacts anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from homefire.cli._app import app

pytestmark = pytest.mark.unit


def _bench(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["bench", *args], env=env)
    return result.exit_code, result.output


def test_settings_for_a_configured_server_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[endpoints.box]\nprovider = "llamafile"\nbase_url = "http://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    env = {"HOMEFIRE_CONFIG": str(config)}
    code, output = _bench("box", "--threads", "1,2", "--kv-type", "q8_0", env=env)
    assert code == 1
    assert "error: --threads, --kv-type set how a model is loaded" in output
    assert "'box' is a server" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "1,x"], "not a list of integers"),
        (["--threads", "1,,2"], "not a comma-separated list"),
        (["--concurrency", "2,2"], "lists 2 more than once"),
        (["--plot", "chart.jpg"], ".png or .svg"),
    ],
)
def test_bad_options_are_refused_before_anything_loads(args: list[str], message: str) -> None:
    code, output = _bench("no-such-model.gguf", *args)
    assert code != 0
    assert message in output


def test_plot_without_the_renderer_fails_before_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "vl_convert", None)
    code, output = _bench("no-such-model.gguf", "--plot", "chart.png")
    assert code == 1
    assert "pip install 'homefire[bench]'" in output


def test_rows_that_fail_are_said_and_the_results_still_written(
    refusing_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    spec = refusing_url.replace("http://", "llamafile://")
    code, output = _bench(spec, "--concurrency", "1,2", "--json", str(out))
    assert code == 1
    assert f"error: {spec}: " in output and "[at 1, 2 at once]" in output
    assert "Traceback" not in output
    rows = json.loads(out.read_text())["rows"]
    assert [row["concurrency"] for row in rows] == [1, 2]
    assert all(refusing_url in row["error"] for row in rows)
