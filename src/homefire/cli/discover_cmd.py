"""`homefire discover [HOST...]`: which LLM servers run where, and what models they have."""

from __future__ import annotations

import click

from homefire.cli._common import ApiKey, api_key_option, debug_option
from homefire.cli._words import argument, in_cli_words, option, vocabulary


@click.command()
@argument("hosts", nargs=-1, sets=("host", "base_url"))
@option(
    "-p",
    "--port",
    "ports",
    type=click.IntRange(1, 65535),
    multiple=True,
    help="Probe these ports (default: usual ones).",
)
@option(
    "--timeout",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    sets=("probe_timeout",),
    help="Seconds to wait for each server.",
)
@option("--no-models", is_flag=True, help="Only identify servers, do not list models.")
@api_key_option
@debug_option
def command(
    hosts: tuple[str, ...],
    ports: tuple[int, ...],
    timeout: float,
    no_models: bool,
    api_key: ApiKey,
) -> None:
    """Find LLM servers on HOSTS (default: this machine) at their usual ports.

    A HOST may be a name, host:port or a URL.
    """
    from homefire.servers.discover import USUAL_PORTS, discover

    found = discover(
        list(hosts),
        ports=ports or USUAL_PORTS,
        probe_timeout=timeout,
        with_models=not no_models,
        api_key=api_key.value,
    )
    if not found:
        where = ", ".join(hosts) or "this machine"
        click.secho(
            f"error: no LLM server found on {where}; start one (homefire serve, ollama serve, "
            "lms server start, ...) or name its host:port",
            fg="red",
            err=True,
        )
        raise SystemExit(1)
    words = vocabulary(click.get_current_context().command)
    for server in found:
        auth = "  (needs an API key)" if server.identity.needs_auth else ""
        version = f" {server.identity.version}" if server.identity.version else ""
        click.echo(f"{server.base_url}  {server.label}{version}{auth}")
        if server.error:
            click.echo(f"    models: unavailable ({in_cli_words(server.error, words)})")
        for model in server.models:
            state = "loaded" if model.loaded else ""
            context = f"ctx {model.context_length}" if model.context_length else ""
            details = "  ".join(x for x in (state, context, model.quantization or "") if x)
            click.echo(f"    {model.id}{'  ' + details if details else ''}")
