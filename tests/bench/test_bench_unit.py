"""`hf.bench` without a model: statistics, the settings sweep, the JSON layout, refusals,
the chart, and the whole measuring loop against a scripted LLM."""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import homefire as hf
from homefire.servers.bench import (
    SCHEMA,
    BenchReport,
    BenchRow,
    Sample,
    Stat,
    Workload,
    describe_settings,
    expand_sweep,
)
from homefire.servers.bench_plot import chart_spec, check_plot_path, write_plot

pytestmark = pytest.mark.unit


# --- statistics ---------------------------------------------------------------------------


def test_stat_gives_median_spread_and_count() -> None:
    stat = Stat.of([3.0, 1.0, 2.0, 10.0])
    assert stat == Stat(median=2.5, min=1.0, max=10.0, stdev=pytest.approx(4.0825, abs=1e-4), n=4)


def test_stat_leaves_out_what_was_not_measured() -> None:
    assert Stat.of([None, 4.0, None]) == Stat(4.0, 4.0, 4.0, 0.0, 1)
    assert Stat.of([None, None]) is None
    assert Stat.of([]) is None


def test_stat_prints_median_and_stdev_with_sensible_digits() -> None:
    assert str(Stat(1234.5, 1000.0, 1500.0, 98.76, 3)) == "1234 ±98.8"
    assert str(Stat(12.345, 12.0, 13.0, 0.5, 3)) == "12.3 ±0.50"


# --- the sweep ----------------------------------------------------------------------------


def test_no_settings_is_one_empty_combination() -> None:
    assert expand_sweep({}) == [{}]
    assert expand_sweep({"n_threads": None, "kv_cache_type": None}) == [{}]


def test_sweep_is_the_product_with_the_first_setting_slowest() -> None:
    combos = expand_sweep({"kv_cache_type": ["F16", "q8_0"], "n_threads": [1, 2], "n_parallel": 4})
    assert combos == [
        {"n_threads": 1, "kv_cache_type": "f16", "n_parallel": 4},
        {"n_threads": 1, "kv_cache_type": "q8_0", "n_parallel": 4},
        {"n_threads": 2, "kv_cache_type": "f16", "n_parallel": 4},
        {"n_threads": 2, "kv_cache_type": "q8_0", "n_parallel": 4},
    ]


@pytest.mark.parametrize(
    ("settings", "name"),
    [
        ({"n_threads": []}, "n_threads"),
        ({"n_threads": [2, 2]}, "n_threads"),
        ({"n_threads": [0]}, "n_threads"),
        ({"n_gpu_layers": [-2]}, "n_gpu_layers"),
        ({"context_window": [True]}, "context_window"),
        ({"kv_cache_type": [""]}, "kv_cache_type"),
        ({"batch": [1]}, "batch"),
    ],
)
def test_bad_sweep_values_are_named(settings: dict[str, Any], name: str) -> None:
    with pytest.raises(hf.InvalidParameterError) as caught:
        expand_sweep(settings)
    assert caught.value.name == name


def test_settings_read_short_like_llama_bench() -> None:
    settings = {"n_parallel": 4, "engine": "xllamacpp", "n_threads": 2, "kv_cache_type": "q8_0"}
    assert describe_settings(settings) == "xllamacpp t=2 kv=q8_0 par=4"
    assert describe_settings({}) == ""


# --- the workload and refusals, before anything loads ---------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"prompt_tokens": 0}, "prompt_tokens"),
        ({"gen_tokens": 1.5}, "gen_tokens"),
        ({"reps": 0}, "reps"),
        ({"concurrency": []}, "concurrency"),
        ({"concurrency": [1, 1]}, "concurrency"),
        ({"warmup": "yes"}, "warmup"),
        ({"engine": 3}, "engine"),
    ],
)
def test_bad_workloads_fail_before_any_model_loads(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(hf.InvalidParameterError) as caught:
        hf.bench("no-such-file.gguf", **kwargs)
    assert caught.value.name == name


def test_load_settings_are_refused_for_a_server_spec() -> None:
    # A scheme spec needs no network to be known as a server: nothing is contacted.
    with pytest.raises(hf.NotSupportedError, match=r"n_threads=.*server"):
        hf.bench("llamacpp-server://127.0.0.1:9/model", n_threads=[1, 2])


def test_load_settings_are_refused_for_a_loaded_llm(scripted: Any) -> None:
    with pytest.raises(hf.NotSupportedError, match=r"kv_cache_type.*engine.*already loaded"):
        hf.bench(scripted([]), kv_cache_type="q8_0", engine="xllamacpp")


def test_a_target_must_be_something_to_measure() -> None:
    with pytest.raises(hf.InvalidParameterError, match="targets"):
        hf.bench([3])  # type: ignore[list-item]
    with pytest.raises(hf.InvalidParameterError, match="targets"):
        hf.bench([])


# --- the whole loop against a scripted LLM --------------------------------------------------


def test_scripted_llm_runs_every_request_and_says_what_it_lacks(scripted: Any) -> None:
    # 1 warm-up + 2 reps x (1 + 3) requests; it has no tokenizer, no timings, no end ban.
    llm = scripted(["a b c d e f g h"] * 9)
    rows: list[BenchRow] = []
    report = hf.bench(
        {"script": llm},
        prompt_tokens=8,
        gen_tokens=4,
        reps=2,
        concurrency=[1, 3],
        on_row=rows.append,
    )
    assert [row.concurrency for row in report.rows] == [1, 3]
    assert list(report.rows) == rows
    assert llm.replies == []
    prompts = llm.prompts
    assert len(prompts) == 9
    assert len(set(prompts)) == 9, "every request gets a prompt of its own"
    assert all(len(p.split()) == 8 for p in prompts)
    row = report.rows[1]
    assert row.target == "script"
    assert row.end_ban == "none"
    assert row.load_ms is None
    assert row.prompt_exact is False
    assert row.gen_tps is None and row.prompt_tps is None
    assert row.throughput is not None and row.throughput.n == 2
    assert row.ttft_ms is not None and row.ttft_ms.n == 6
    assert len(row.samples) == 6
    assert any("no tokenizer" in note for note in row.notes)
    assert any("no timings" in note for note in row.notes)


class _CutsCrowds(hf.CustomLLM):
    """Answers its first two requests (the warm-up and the one-at-a-time row) and cuts every
    stream after them, as a server does that stops a request when another comes
    (llama-cpp-python's, by default)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def complete(self, prompt: str, **kwargs: Any) -> hf.CompletionResponse:  # type: ignore[override]
        return hf.CompletionResponse(text="a b c d", finish_reason="stop")

    def stream_complete(self, prompt: str, **kwargs: Any) -> Iterator[str]:  # type: ignore[override]
        self.asked += 1
        if self.asked > 2:
            raise hf.StreamInterruptedError("the stream ended before it was complete")
        yield from ("a b", " c d")


def test_a_row_that_fails_says_why_and_the_run_goes_on(scripted: Any) -> None:
    other = scripted(["a b c d"] * 4)
    report = hf.bench(
        {"cuts": _CutsCrowds(), "fine": other},
        prompt_tokens=4,
        gen_tokens=2,
        reps=1,
        concurrency=[1, 2],
    )
    assert [(r.target, r.concurrency, r.error is None) for r in report.rows] == [
        ("cuts", 1, True),
        ("cuts", 2, False),
        ("fine", 1, True),
        ("fine", 2, True),
    ]
    failed = report.rows[1]
    assert failed.error is not None and "before it was complete" in failed.error
    assert failed.throughput is None and failed.gen_tps_client is None
    assert json.loads(report.to_json())["rows"][1]["error"] == failed.error
    assert other.replies == []


def test_a_server_that_is_down_fails_its_rows_only(scripted: Any, refusing_url: str) -> None:
    """A spec names its provider, so nothing is asked of the server before its turn. (A
    bare URL is identified first, so a server that is down fails the run before it starts.)"""
    fine = scripted(["a b c d"] * 4)
    report = hf.bench(
        {"gone": refusing_url.replace("http://", "llamafile://"), "fine": fine},
        prompt_tokens=4,
        gen_tokens=2,
        reps=1,
        concurrency=[1, 2],
    )
    gone = [r for r in report.rows if r.target == "gone"]
    assert [r.concurrency for r in gone] == [1, 2]
    assert all(r.error is not None and refusing_url in r.error for r in gone)
    assert all(r.error is None for r in report.rows if r.target == "fine")


def test_a_missing_model_file_is_refused_before_any_target_runs(scripted: Any) -> None:
    first = scripted(["a b c d"] * 2)
    with pytest.raises(hf.ModelFileError, match="no such file"):
        hf.bench({"first": first, "typo": "no-such-model.gguf"}, prompt_tokens=4, gen_tokens=2)
    assert first.prompts == []


# --- the JSON layout ----------------------------------------------------------------------


def _report(targets: tuple[str, ...] = ("cpu", "server")) -> BenchReport:
    rows = []
    for number, target in enumerate(targets):
        for level in (1, 2):
            figure = Stat(10.0 * level + number, 9.0, 12.0 * level, 1.0, 2)
            sample = Sample(1, 32, 16, 50.0, 640.0, 20.0, 45.0, 700.0, 20.5)
            rows.append(
                BenchRow(
                    target=target,
                    backend="in-process xllamacpp" if number == 0 else "llama.cpp server",
                    model="SmolLM2",
                    settings={"engine": "xllamacpp", "n_threads": 2} if number == 0 else {},
                    concurrency=level,
                    prompt_tokens=32,
                    prompt_exact=True,
                    gen_tokens=16,
                    end_ban="logit_bias",
                    load_ms=900.0 if number == 0 else None,
                    generated=Stat(16.0, 16.0, 16.0, 0.0, 2),
                    ttft_ms=Stat(50.0 * level, 40.0, 60.0 * level, 5.0, 2),
                    prompt_ms=figure,
                    prompt_tps=figure,
                    prompt_tps_client=figure,
                    gen_tps=figure,
                    gen_tps_client=figure,
                    throughput=figure,
                    notes=("a note",),
                    samples=(sample,),
                )
            )
    return BenchReport(Workload(32, 16, 2, (1, 2), True), tuple(rows), {"cpus": 2}, "now")


_STAT_KEYS = {"median", "min", "max", "stdev", "n"}
_ROW_KEYS = {
    "target", "backend", "model", "settings", "concurrency", "prompt_tokens", "prompt_exact",
    "gen_tokens", "end_ban", "load_ms", "generated", "ttft_ms", "prompt_ms", "prompt_tps",
    "prompt_tps_client", "gen_tps", "gen_tps_client", "throughput", "notes", "samples", "error",
}  # fmt: skip
_SAMPLE_KEYS = {
    "rep", "prompt_tokens", "generated_tokens", "ttft_ms", "prompt_tps_client",
    "gen_tps_client", "prompt_ms", "prompt_tps", "gen_tps",
}  # fmt: skip


def test_json_has_the_documented_layout() -> None:
    data = json.loads(_report().to_json())
    assert set(data) == {"schema", "homefire", "created", "host", "workload", "rows"}
    assert data["schema"] == SCHEMA
    assert data["workload"] == {
        "prompt_tokens": 32,
        "gen_tokens": 16,
        "reps": 2,
        "concurrency": [1, 2],
        "warmup": True,
    }
    for row in data["rows"]:
        assert set(row) == _ROW_KEYS
        for key in ("generated", "ttft_ms", "prompt_tps", "gen_tps", "gen_tps_client"):
            assert set(row[key]) == _STAT_KEYS
        assert [set(s) for s in row["samples"]] == [_SAMPLE_KEYS]
        assert row["notes"] == ["a note"]


def test_json_keeps_missing_figures_as_null() -> None:
    report = _report(("only",))
    row = report.rows[0]
    data = json.loads(BenchReport(report.workload, (replace(row, gen_tps=None),)).to_json())
    assert data["rows"][0]["gen_tps"] is None
    assert data["rows"][0]["load_ms"] == 900.0


def test_json_goes_to_stdout_for_a_dash(capsys: pytest.CaptureFixture[str]) -> None:
    _report().write_json("-")
    assert json.loads(capsys.readouterr().out)["schema"] == SCHEMA


# --- the chart ----------------------------------------------------------------------------


def test_chart_has_one_series_per_target_and_labelled_axes() -> None:
    spec = chart_spec(_report())
    targets = {point["target"] for point in spec["data"]["values"]}
    assert targets == {"cpu", "server"}
    titles = [layer["encoding"]["y"].get("title") for p in spec["hconcat"] for layer in p["layer"]]
    assert "generated tokens/s (all requests)" in titles
    assert "time to first token (ms)" in titles


def test_chart_names_the_settings_that_vary_within_a_target() -> None:
    base = _report(("cpu",)).rows[0]
    rows = tuple(
        replace(base, settings={"engine": "xllamacpp", "kv_cache_type": kv})
        for kv in ("f16", "q8_0")
    )
    spec = chart_spec(BenchReport(Workload(), rows))
    assert [p["target"] for p in spec["data"]["values"]] == ["cpu (kv=f16)", "cpu (kv=q8_0)"]


def test_png_is_a_real_png(tmp_path: Path) -> None:
    path = write_plot(_report(), tmp_path / "bench.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > height > 200


def test_svg_carries_titles_axes_and_legend_as_text(tmp_path: Path) -> None:
    text = write_plot(_report(), tmp_path / "bench.svg").read_text()
    assert text.startswith("<svg")
    for label in ("Aggregate throughput", "Time to first token", "concurrent requests"):
        assert f">{label}</text>" in text
    for target in ("cpu", "server"):
        assert f">{target}</text>" in text


def test_plot_names_its_formats() -> None:
    with pytest.raises(hf.InvalidParameterError, match=r"\.png or \.svg"):
        check_plot_path("bench.jpg")


def test_plot_without_the_renderer_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "vl_convert", None)  # what an absent package looks like
    with pytest.raises(hf.MissingDependencyError, match=r"pip install 'homefire\[bench\]'"):
        _report().plot(tmp_path / "bench.png")
