"""`homefire plan MODEL.gguf`: settings that fit a model on this machine, or on another."""

from __future__ import annotations

import json
import re

import click

from homefire.cli._common import debug_option
from homefire.cli._words import argument, option


def _sizes(
    _ctx: click.Context, param: click.Parameter, value: tuple[str, ...] | str | None
) -> tuple[int, ...] | int | None:
    """Sizes in bytes; a bare number is refused, since 8 could mean 8 bytes or 8 GiB."""
    from homefire.errors import InvalidParameterError
    from homefire.planner import parse_size

    def one(text: str) -> int:
        if re.fullmatch(r"\s*[0-9]*\.?[0-9]+\s*", text):
            number = text.strip()
            raise click.BadParameter(
                f"{number!r} has no unit; write {number}GiB (or {number}GB, {number}MiB)",
                param=param,
            )
        try:
            return parse_size(text, name=param.name or "size")
        except InvalidParameterError as exc:
            raise click.BadParameter(exc.problem, param=param) from None

    if value is None:
        return None
    return tuple(one(v) for v in value) if isinstance(value, tuple) else one(value)


@click.command("plan")
@argument("model", required=False, sets=("path", "model_path"))
@option(
    "--ctx",
    type=click.IntRange(min=1),
    sets=("context_window",),
    help="Context window to plan for (default: the largest that fits).",
)
@option(
    "--kv-type",
    sets=("kv_cache_type",),
    help="KV cache type: f16, q8_0, q4_0, ... (default: f16, else q8_0).",
)
@option(
    "--gpu-memory",
    multiple=True,
    metavar="SIZE",
    callback=_sizes,
    help="Plan for a GPU with this much free memory, e.g. 24GiB; repeat for several GPUs.",
)
@option(
    "--ram", metavar="SIZE", callback=_sizes, help="Plan for this much available RAM, e.g. 64GiB."
)
@option(
    "--parallel",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Sequences at once.",
)
@option(
    "--engine",
    type=click.Choice(["xllamacpp", "llama-cpp-python"]),
    default="xllamacpp",
    show_default=True,
    help="In-process engine to plan for (their compute buffers differ).",
)
@option("--no-gpu", is_flag=True, help="Plan for the CPU only, ignoring any GPU.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@debug_option
def command(
    model: str | None,
    ctx: int | None,
    kv_type: str | None,
    gpu_memory: tuple[int, ...],
    ram: int | None,
    parallel: int,
    engine: str,
    no_gpu: bool,
    as_json: bool,
) -> None:
    """Work out GPU layers, context, KV cache type and batch sizes that fit MODEL (default:
    the embedded model)."""
    from homefire.modelfiles.embedded import embedded_model_path
    from homefire.planner import detect_hardware, plan

    hardware = detect_hardware().with_overrides(
        gpu_memory=[] if no_gpu else list(gpu_memory) or None, ram=ram
    )
    result = plan(
        model if model is not None else embedded_model_path(),
        context_window=ctx,
        kv_cache_type=kv_type,
        parallel=parallel,
        engine=engine,
        hardware=hardware,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print(result)


def _print(result: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from homefire.planner import Plan, format_size

    assert isinstance(result, Plan)
    console = Console()
    rec, memory, hw = result.recommendation, result.memory, result.hardware
    gpus = ", ".join(f"{g.name} {format_size(g.free_bytes)} free" for g in hw.gpus) or "none"
    console.print(
        f"[bold]{result.model.path.name}[/]: {result.model.architecture}, "
        f"{result.model.parameter_count / 1e9:.2f} B parameters, {result.model.quantization}, "
        f"{result.model.block_count} layers, trained context {result.model.context_length}"
    )
    console.print(
        f"machine: {hw.cpu_cores} cores, {format_size(hw.ram_available_bytes)} RAM available, "
        f"GPUs: {gpus}"
    )
    table = Table(title="memory", title_justify="left")
    table.add_column("")
    for d in memory.devices:
        table.add_column(f"{d.device} ({d.layers} layers)", justify="right", no_wrap=True)
    rows = {
        "weights": [d.weights_bytes for d in memory.devices],
        "KV cache": [d.kv_cache_bytes for d in memory.devices],
        "compute": [d.compute_bytes for d in memory.devices],
        "output": [d.output_bytes for d in memory.devices],
        "overhead": [d.overhead_bytes for d in memory.devices],
        "total": [d.total_bytes for d in memory.devices],
    }
    for label, values in rows.items():
        style = "bold" if label == "total" else None
        table.add_row(label, *(format_size(v) for v in values), style=style)
    console.print(table)
    settings = Table(title="recommended settings", title_justify="left", show_header=False)
    settings.add_column(style="bold")
    settings.add_column()
    for key, value in rec.to_dict().items():
        if key not in ("notes", "fits") and value is not None:
            settings.add_row(key, str(value))
    console.print(settings)
    verdict = "[green]fits[/]" if rec.fits else "[red]does not fit[/]"
    console.print(f"verdict: {verdict}")
    for note in rec.notes:
        console.print(f"note: {note}")
