"""Charts of a benchmark: aggregate throughput and time to first token against concurrency.

The chart is a Vega-Lite spec rendered by vl-convert, one self-contained wheel without
dependencies that imports in milliseconds and writes PNG and SVG alike (the `bench` extra).
Data is inline and no URL may be loaded, so rendering never touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homefire.errors import InvalidParameterError, MissingDependencyError

if TYPE_CHECKING:
    from homefire.servers.bench import BenchReport

FORMATS = (".png", ".svg")
_PANEL_WIDTH = 360
_PANEL_HEIGHT = 260
_PNG_SCALE = 2.0  # crisp on high-density screens and in documents


def _vl_convert() -> Any:
    try:
        import vl_convert
    except ImportError:
        raise MissingDependencyError(
            "vl-convert-python", "Plotting benchmark results", extra="bench"
        ) from None
    return vl_convert


def check_plot_path(path: str | os.PathLike[str]) -> Path:
    """The path, once its format is known and the renderer installed: checked before a long
    benchmark runs rather than after it."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise InvalidParameterError(
            "plot", f"{target} must end in {' or '.join(FORMATS)} (the image format to write)"
        )
    _vl_convert()
    return target


def _points(report: BenchReport) -> list[dict[str, Any]]:
    points = []
    for name, row in zip(report.series_names(), report.rows, strict=True):
        point: dict[str, Any] = {"target": name, "concurrency": row.concurrency}
        for key, stat in (("throughput", row.throughput), ("ttft", row.ttft_ms)):
            if stat is not None:
                point |= {key: stat.median, f"{key}_min": stat.min, f"{key}_max": stat.max}
        points.append(point)
    return points


def _panel(field: str, title: str, axis: str) -> dict[str, Any]:
    x = {
        "field": "concurrency",
        "type": "ordinal",
        "title": "concurrent requests",
        "axis": {"labelAngle": 0},
    }
    color = {"field": "target", "type": "nominal", "title": "target"}
    return {
        "title": title,
        "width": _PANEL_WIDTH,
        "height": _PANEL_HEIGHT,
        "transform": [{"filter": f"isValid(datum.{field})"}],
        "layer": [
            {
                "mark": {"type": "rule", "strokeWidth": 2, "opacity": 0.6},
                "encoding": {
                    "x": x,
                    "y": {"field": f"{field}_min", "type": "quantitative"},
                    "y2": {"field": f"{field}_max"},
                    "color": color,
                },
            },
            {
                "mark": {"type": "line", "point": {"size": 60}, "strokeWidth": 2},
                "encoding": {
                    "x": x,
                    "y": {"field": field, "type": "quantitative", "title": axis},
                    "color": color,
                },
            },
        ],
    }


def chart_spec(report: BenchReport) -> dict[str, Any]:
    """The Vega-Lite spec: two panels side by side sharing one colour per target."""
    workload = report.workload
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": {
            "text": "homefire bench",
            "subtitle": (
                f"{workload.prompt_tokens} prompt tokens, {workload.gen_tokens} generated; "
                f"median and min-max of {workload.reps} repetitions"
            ),
            "anchor": "start",
        },
        "data": {"values": _points(report)},
        "hconcat": [
            _panel("throughput", "Aggregate throughput", "generated tokens/s (all requests)"),
            _panel("ttft", "Time to first token", "time to first token (ms)"),
        ],
        "resolve": {"scale": {"color": "shared"}},
        "config": {"background": "white", "legend": {"orient": "bottom", "labelLimit": 400}},
    }


def render(spec: Mapping[str, Any], suffix: str) -> bytes:
    vl_convert = _vl_convert()
    if suffix == ".png":
        png: bytes = vl_convert.vegalite_to_png(spec, scale=_PNG_SCALE, allowed_base_urls=[])
        return png
    svg: str = vl_convert.vegalite_to_svg(spec, allowed_base_urls=[])
    return svg.encode("utf-8")


def write_plot(report: BenchReport, path: str | os.PathLike[str]) -> Path:
    """Write the chart of `report` as PNG or SVG, chosen by the file's suffix."""
    target = check_plot_path(path)
    if not report.rows:
        raise InvalidParameterError("report", "has no rows to plot")
    target.write_bytes(render(chart_spec(report), target.suffix.lower()))
    return target
