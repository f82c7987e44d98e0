"""`homefire models|load|unload|pull ENDPOINT`: manage the models of a server.

ENDPOINT is anything `hf.connect` takes: `ollama:`, `lmstudio://host:1234`, a URL (the
server type is detected) or a name from the config file. Tables go to stdout; progress bars
to stderr, only when it is a terminal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from homefire.cli._common import (
    ApiKey,
    api_key_option,
    connect_server,
    debug_option,
    loading,
    stderr_is_tty,
)
from homefire.cli._words import argument, option
from homefire.progress import Progress
from homefire.types import ModelInfo

F = TypeVar("F", bound=Callable[..., Any])


_ENDPOINT = ("spec", "base_url")


def _endpoint_argument(function: F) -> F:
    return argument("endpoint", sets=_ENDPOINT)(function)


def _model_argument(function: F) -> F:
    return argument("model")(function)


def _size(value: int | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 999.95:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def model_table(models: list[ModelInfo]) -> str:
    """Plain aligned columns (pipes and terminals alike)."""
    rows = [("MODEL", "LOADED", "CONTEXT", "MAX", "QUANT", "SIZE", "CAPABILITIES")]
    for m in models:
        rows.append(
            (
                m.id,
                "yes" if m.loaded else "",
                str(m.context_length or ""),
                str(m.max_context_length or ""),
                m.quantization or "",
                _size(m.size_bytes),
                ",".join(m.capabilities),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[Progress], None]]:
    """A callback drawing `Progress` steps as a bar on stderr (silent when not a terminal)."""
    if not stderr_is_tty():
        yield lambda step: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, TextColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(step: Progress) -> None:
            bar.update(
                task,
                description=f"{description}: {step.status}",
                completed=step.completed or 0,
                total=step.total,
            )

        yield update


@click.command()
@_endpoint_argument
@api_key_option
@debug_option
def models(endpoint: str, api_key: ApiKey) -> None:
    """List the models of ENDPOINT, with state, context, quantization and size."""
    with connect_server(endpoint, api_key) as llm:
        listed = llm.models()
    click.echo(model_table(listed) if listed else "no models")


@click.command()
@_endpoint_argument
@_model_argument
@option(
    "-c",
    "--ctx",
    "--context-length",
    "context_length",
    type=click.IntRange(min=1),
    sets=("context_window",),
    help="Context (tokens) to load with.",
)
@option("--gpu", help="GPU offload: LM Studio 0..1|max|off, Ollama layers, Xinference n_gpu.")
@option("--ttl", type=click.IntRange(min=1), help="Unload after this many idle seconds.")
@api_key_option
@debug_option
def load(
    endpoint: str,
    model: str,
    context_length: int | None,
    gpu: str | None,
    ttl: int | None,
    api_key: ApiKey,
) -> None:
    """Load (or launch) MODEL on ENDPOINT."""
    with connect_server(endpoint, api_key) as llm, loading(f"Loading {model}…"):
        info = llm.load(model, context_length=context_length, gpu=_gpu(gpu), ttl=ttl)
    context = f" with a context of {info.context_length}" if info.context_length else ""
    click.echo(f"loaded {info.id}{context}")


def _gpu(value: str | None) -> float | int | str | None:
    if value is None or value in ("max", "off", "auto"):
        return value
    try:
        number = float(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a number, max, off or auto", param_hint="--gpu"
        ) from None
    if not math.isfinite(number) or number < 0:
        raise click.BadParameter(f"{value!r} is not a number of 0 or more", param_hint="--gpu")
    return int(number) if number.is_integer() and number > 1 else number


@click.command()
@_endpoint_argument
@_model_argument
@api_key_option
@debug_option
def unload(endpoint: str, model: str, api_key: ApiKey) -> None:
    """Unload (or terminate) MODEL on ENDPOINT."""
    with connect_server(endpoint, api_key) as llm:
        llm.unload(model)
    click.echo(f"unloaded {model}")


@click.command()
@_endpoint_argument
@_model_argument
@api_key_option
@debug_option
def pull(endpoint: str, model: str, api_key: ApiKey) -> None:
    """Download MODEL onto ENDPOINT (Ollama registry, LM Studio catalog, LocalAI gallery)."""
    with connect_server(endpoint, api_key) as llm, progress_bar(f"pulling {model}") as update:
        llm.pull(model, progress=update)
    click.echo(f"pulled {model}")
