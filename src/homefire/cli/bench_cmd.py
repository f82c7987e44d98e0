"""`homefire bench [TARGET ...]`: llama-bench for any backend, as a table while it runs.

The table grows a row as each finishes, with a line under it saying what runs now. It goes
to stdout, or to stderr when `--json -` takes stdout for the results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from homefire.cli._common import ApiKey, api_key_option, debug_option, server_options
from homefire.cli._words import argument, option

if TYPE_CHECKING:
    from rich.console import Console, JustifyMethod, RenderableType
    from rich.table import Table

    from homefire.servers.bench import BenchReport, BenchRow, Stat

_HELP_TARGETS = (
    "Each TARGET is a .gguf file (loaded in-process, once per combination of settings), an "
    "endpoint spec or URL (ollama:llama3.2, http://127.0.0.1:8080) or a configured name; "
    "none: the embedded model."
)
_FILE_WIDTH = 160
_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("target", "left"),
    ("backend", "left"),
    ("conc", "right"),
    ("load ms", "right"),
    ("ttft ms", "right"),
    ("pp t/s", "right"),
    ("pp t/s (cl)", "right"),
    ("tg t/s", "right"),
    ("tg t/s (cl)", "right"),
    ("total t/s", "right"),
)


def _split(value: str | None, param: click.Parameter) -> list[str] | None:
    if value is None:
        return None
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise click.BadParameter(f"{value!r} is not a comma-separated list", param=param)
    return items


def _int_list(_ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    items = _split(value, param)
    if items is None:
        return None
    try:
        return [int(item) for item in items]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of integers", param=param) from None


def _str_list(_ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    return _split(value, param)


@click.command()
@argument("targets", nargs=-1, sets=("spec", "base_url", "model_path"))
@click.option(
    "-p",
    "--prompt-tokens",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Prompt size in tokens.",
)
@click.option(
    "-n",
    "--gen-tokens",
    type=click.IntRange(min=1),
    default=128,
    show_default=True,
    help="Tokens to generate per request (end of turn banned).",
)
@click.option(
    "-r",
    "--reps",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Repetitions per row (after one warm-up request).",
)
@click.option(
    "--concurrency",
    default="1",
    show_default=True,
    callback=_int_list,
    metavar="N,N,...",
    help="Requests sent at once; one row per level.",
)
@option(
    "-t",
    "--threads",
    callback=_int_list,
    metavar="N,N,...",
    sets=("n_threads",),
    help="CPU threads (in-process).",
)
@option(
    "--n-gpu-layers",
    "--ngl",
    callback=_int_list,
    metavar="N,N,...",
    help="Layers offloaded to the GPU (in-process).",
)
@option(
    "-c",
    "--ctx",
    callback=_int_list,
    metavar="N,N,...",
    sets=("context_window",),
    help="Context window (in-process).",
)
@option(
    "--kv-type",
    sets=("kv_cache_type",),
    callback=_str_list,
    metavar="T,T,...",
    help="KV cache type: f16, q8_0, q4_0, ... (in-process).",
)
@option(
    "--parallel",
    sets=("n_parallel",),
    callback=_int_list,
    metavar="N,N,...",
    help="Parallel slots sharing the KV cache (in-process, xllamacpp).",
)
@click.option(
    "--engine", type=click.Choice(["xllamacpp", "llama-cpp-python"]), help="In-process engine."
)
@click.option("--no-warmup", is_flag=True, help="Skip the warm-up request.")
@click.option(
    "--json", "json_path", metavar="FILE", help="Write the results as JSON ('-': stdout)."
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Chart throughput and time to first token per target (.png or .svg).",
)
@api_key_option
@debug_option
def command(
    targets: tuple[str, ...],
    prompt_tokens: int,
    gen_tokens: int,
    reps: int,
    concurrency: list[int],
    threads: list[int] | None,
    n_gpu_layers: list[int] | None,
    ctx: list[int] | None,
    kv_type: list[str] | None,
    parallel: list[int] | None,
    engine: str | None,
    no_warmup: bool,
    json_path: str | None,
    plot_path: str | None,
    api_key: ApiKey,
) -> None:
    """Measure load time, time to first token, prompt and generation speed, and throughput
    at several concurrency levels, like llama-bench; list values to sweep settings."""
    from rich.console import Console

    from homefire.servers.bench import bench

    if plot_path is not None:
        from homefire.servers.bench_plot import check_plot_path

        check_plot_path(plot_path)  # a missing renderer fails now, not after the run
    console = Console(stderr=json_path == "-", highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, _FILE_WIDTH)  # a log or file: no need to wrap
    view = _LiveTable(console)
    with view:
        report = bench(
            list(targets) or None,
            prompt_tokens=prompt_tokens,
            gen_tokens=gen_tokens,
            reps=reps,
            concurrency=concurrency,
            n_threads=threads,
            n_gpu_layers=n_gpu_layers,
            context_window=ctx,
            kv_cache_type=kv_type,
            n_parallel=parallel,
            engine=engine,
            warmup=not no_warmup,
            api_key=_bench_key(targets, api_key),
            on_row=view.add,
            on_status=view.status,
        )
    _print_notes(console, report)
    if json_path is not None:
        report.write_json(json_path)
    if plot_path is not None:
        written = report.plot(plot_path)
        click.echo(f"plot written to {written}", err=True)
    if _print_failures(report):
        raise SystemExit(1)


def _bench_key(targets: tuple[str, ...], api_key: ApiKey) -> str | None:
    """The key for the servers benched: `--api-key` always; HOMEFIRE_API_KEY where no target
    has a key of its own."""
    servers = [t for t in targets if not t.lower().startswith("llamacpp:")]
    if api_key.explicit or all(server_options(t, api_key) for t in servers):
        return api_key.value
    return None


class _LiveTable:
    """The results table, redrawn in place on a terminal; elsewhere printed once at the end."""

    def __init__(self, console: Console) -> None:
        from rich.live import Live

        self.console = console
        self.rows: list[BenchRow] = []
        self.line = ""
        self.live = Live(console=console, auto_refresh=False) if console.is_terminal else None

    def __enter__(self) -> _LiveTable:
        if self.live is not None:
            self.live.start()
            self._refresh()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.line = ""
        if self.live is not None:
            self._refresh()
            self.live.stop()
        elif self.rows:
            self.console.print(self._render())

    def add(self, row: BenchRow) -> None:
        self.rows.append(row)
        self._refresh()

    def status(self, line: str) -> None:
        self.line = line
        self._refresh()

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render(), refresh=True)

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        table = _table(self.rows)
        if not self.line:
            return table
        return Group(table, Text(f"… {self.line}", style="dim"))


def _cell(stat: Stat | None) -> str:
    return "-" if stat is None else str(stat)


def _print_failures(report: BenchReport) -> bool:
    """Say, once per target and cause, why rows could not be measured; whether any failed."""
    from homefire.servers.bench import describe_settings

    failed: dict[str, list[str]] = {}
    for row in report.rows:
        if row.error is not None:
            settings = describe_settings(row.settings)
            where = f"{row.target} ({settings})" if settings else row.target
            failed.setdefault(f"{where}: {row.error}", []).append(str(row.concurrency))
    for line, levels in failed.items():
        click.echo(f"error: {line} [at {', '.join(levels)} at once]", err=True)
    return bool(failed)


def _table(rows: list[BenchRow]) -> Table:
    from rich.table import Table

    from homefire.servers.bench import describe_settings

    table = Table(
        caption="median ± stdev; (cl): as the client clocked it, else the backend's own timings",
        caption_justify="left",
    )
    for header, justify in _COLUMNS:
        table.add_column(header, justify=justify)
    for row in rows:
        load = f"{row.load_ms:.0f}" if row.load_ms is not None else "-"
        table.add_row(
            f"{row.target}\n[dim]{row.model}[/]",
            describe_settings(row.settings) or row.backend,
            str(row.concurrency),
            load,
            _cell(row.ttft_ms),
            _cell(row.prompt_tps),
            _cell(row.prompt_tps_client),
            _cell(row.gen_tps),
            _cell(row.gen_tps_client),
            "[red]failed[/]" if row.error is not None else _cell(row.throughput),
        )
    return table


def _print_notes(console: Console, report: BenchReport) -> None:
    seen: dict[str, Any] = {}
    for row in report.rows:
        for note in row.notes:
            seen.setdefault(f"{row.target}: {note}", None)
    for note in seen:
        console.print(f"note: {note}", style="yellow")
