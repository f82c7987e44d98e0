"""`homefire serve [MODEL.gguf]`: a model as a local llama.cpp / OpenAI-compatible server.

It binds 127.0.0.1 unless `--host` says otherwise and requires an API key: one is generated
and printed unless `--api-key` or HOMEFIRE_API_KEY gives one (`--no-api-key` opts out).
Ctrl-C or SIGTERM stops it cleanly.
"""

from __future__ import annotations

import click

from homefire.cli._common import debug_option


@click.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Requests answered at once (slots).",
)
@click.option("--ctx", type=click.IntRange(min=1), help="Context window per slot.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for the model.")
@click.option("--api-key", help="The key clients must send (default: $HOMEFIRE_API_KEY or new).")
@click.option("--no-api-key", is_flag=True, help="Accept requests without a key (not advised).")
@debug_option
def command(
    model: str | None,
    host: str,
    port: int,
    parallel: int,
    ctx: int | None,
    threads: int | None,
    api_key: str | None,
    no_api_key: bool,
) -> None:
    """Serve a model over llama.cpp's native and the OpenAI-compatible API."""
    from homefire.servers.serve import resolve_api_key, run

    if api_key and no_api_key:
        raise click.UsageError("--api-key and --no-api-key exclude each other")
    key, generated = resolve_api_key(api_key, no_api_key)

    def ready(url: str) -> None:
        click.echo(f"Serving at {url}  (OpenAI-compatible: {url}/v1)")
        if key is None:
            click.secho("No API key: anyone who can reach this address can use it.", err=True)
        elif generated:
            click.echo(f"API key: {key}  (clients send: Authorization: Bearer <key>)")
        click.echo("Ctrl-C to stop.", err=True)

    run(
        model,
        host=host,
        port=port,
        parallel=parallel,
        context_window=ctx,
        api_key=key,
        n_threads=threads,
        on_ready=ready,
    )
