"""`homefire serve [MODEL.gguf]`: a model as a local llama.cpp / OpenAI-compatible server.

homefire's own front end answers: the model's chat template is rendered in homefire's
sandbox, tools and JSON schemas work for every model. `-m SPEC` (any endpoint or configured
name) or `--router NAME` serves another backend instead: one endpoint, with its key, in front
of a team's servers. It binds 127.0.0.1 unless `--host` says otherwise and requires an API
key: one is generated and printed unless `--api-key` or HOMEFIRE_API_KEY gives one
(`--no-api-key` opts out). Ctrl-C or SIGTERM stops it cleanly.
"""

from __future__ import annotations

from typing import Any

import click

from homefire.cli._common import debug_option


def _count_or_auto(low: int) -> Any:
    """A click callback taking a whole number (at least `low`) or "auto"."""

    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None or value == "auto":
            return value
        try:
            number = int(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is neither a whole number nor 'auto'") from None
        if number < low:
            raise click.BadParameter(f"{number} is below {low}")
        return number

    return convert


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    from homefire.errors import InvalidParameterError
    from homefire.planner.hardware import parse_size

    try:
        return parse_size(value, name="--max-body")
    except InvalidParameterError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option(
    "-m",
    "--model",
    "spec",
    help="Serve any endpoint instead: a provider spec, URL or configured name.",
)
@click.option("--router", help="Serve the router configured under this name.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    help="Requests answered at once (slots; default 4, as llama.cpp's server).",
)
@click.option("--ctx", callback=_count_or_auto(32), help="Context window in tokens, or 'auto'.")
@click.option(
    "--n-gpu-layers",
    callback=_count_or_auto(-1),
    default="0",
    show_default=True,
    help="Layers on the GPU (-1: all), or 'auto'.",
)
@click.option("--kv-type", help="KV cache type: f16 (default), q8_0, q4_0, ...")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for the model.")
@click.option("--embeddings", is_flag=True, help="Serve /v1/embeddings too.")
@click.option(
    "--max-body",
    callback=_size,
    default="8MiB",
    show_default=True,
    help="Largest request body taken (413 past it).",
)
@click.option("--allow-host", multiple=True, help="Another Host name to answer (a proxy's).")
@click.option("--allow-origin", multiple=True, help="A web app origin allowed to call it.")
@click.option("--api-key", help="The key clients must send (default: $HOMEFIRE_API_KEY or new).")
@click.option("--no-api-key", is_flag=True, help="Accept requests without a key (not advised).")
@click.option("--verbose", is_flag=True, help="Show llama.cpp's and the server's log.")
@debug_option
def command(
    model: str | None,
    spec: str | None,
    router: str | None,
    host: str,
    port: int,
    parallel: int | None,
    ctx: int | str | None,
    n_gpu_layers: int | str,
    kv_type: str | None,
    threads: int | None,
    embeddings: bool,
    max_body: int,
    allow_host: tuple[str, ...],
    allow_origin: tuple[str, ...],
    api_key: str | None,
    no_api_key: bool,
    verbose: bool,
) -> None:
    """Serve a model over the OpenAI-compatible and llama.cpp's native API."""
    from homefire.servers.serve import resolve_api_key, run

    if api_key and no_api_key:
        raise click.UsageError("--api-key and --no-api-key exclude each other")
    if sum(x is not None for x in (model, spec, router)) > 1:
        raise click.UsageError("give one of MODEL, -m SPEC and --router NAME")
    key, generated = resolve_api_key(api_key, no_api_key)

    def ready(url: str) -> None:
        click.echo(f"Serving at {url}  (OpenAI-compatible: {url}/v1)")
        if key is None:
            click.secho("No API key: anyone who can reach this address can use it.", err=True)
        elif generated:
            click.echo(f"API key: {key}  (clients send: Authorization: Bearer <key>)")
        click.echo("Ctrl-C to stop.", err=True)

    click.echo("Loading…", err=True)
    run(
        model,
        spec=spec if spec is not None else router,
        router=router is not None,
        host=host,
        port=port,
        parallel=parallel,
        context_window=ctx,  # type: ignore[arg-type]
        n_gpu_layers=n_gpu_layers,  # type: ignore[arg-type]
        kv_type=kv_type,
        api_key=key,
        n_threads=threads,
        embeddings=embeddings,
        max_body=max_body,
        allowed_hosts=allow_host,
        allowed_origins=allow_origin,
        verbose=verbose,
        on_ready=ready,
    )
