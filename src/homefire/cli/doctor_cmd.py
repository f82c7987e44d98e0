"""`homefire doctor [URL|SPEC|NAME]`: find out why a server or model does not work.

Prints one line per check as it runs, and under a failed check its cause and the fix.
Without a target it examines every server `homefire discover` finds on this machine.
Exits 1 when a check failed.
"""

from __future__ import annotations

import click

from homefire.cli._common import debug_option

_MARKS = {"ok": ("ok", "green"), "fail": ("FAIL", "red"), "skip": ("skip", "yellow")}


def _print(check: object) -> None:
    from homefire.servers.doctor import Check

    assert isinstance(check, Check)
    mark, colour = _MARKS[check.status]
    click.echo(click.style(f"[{mark:>4}] ", fg=colour) + f"{check.name:<10} {check.detail}")
    if check.status == "fail":
        click.echo(f"         cause: {check.cause}")
        click.echo(f"         fix:   {check.fix}")


@click.command()
@click.argument("target", required=False)
@click.option("-m", "--model", help="The model to check (default: the one in TARGET, if any).")
@click.option(
    "-c",
    "--context",
    "context_length",
    type=click.IntRange(min=1),
    help="The context length you expect to be in effect.",
)
@click.option("--api-key", help="The API key to send (default: from the config or environment).")
@debug_option
def command(
    target: str | None, model: str | None, context_length: int | None, api_key: str | None
) -> None:
    """Check TARGET step by step: reachable, server, ready, auth, model, loaded, context, test."""
    from homefire.servers.doctor import Doctor

    targets = [target] if target else _local_servers()
    failed = False
    for index, spec in enumerate(targets):
        if index:
            click.echo()
        click.echo(f"homefire doctor: {spec}")
        checks = Doctor(
            spec, model=model, context_length=context_length, api_key=api_key, report=_print
        ).run()
        failed = failed or any(c.status == "fail" for c in checks)
    if failed:
        raise SystemExit(1)


def _local_servers() -> list[str]:
    from homefire.servers.discover import discover

    found = discover(with_models=False)
    if not found:
        click.echo(
            click.style("[FAIL] ", fg="red") + "reachable  no LLM server answers on this machine"
        )
        click.echo(
            "         cause: nothing listens on the usual ports (1234, 8000, 8080, 9997, 11434)"
        )
        click.echo(
            "         fix:   start a server (`ollama serve`, `lms server start`, "
            "`homefire serve MODEL.gguf`, ...) or pass its URL: homefire doctor http://HOST:PORT"
        )
        raise SystemExit(1)
    return [server.base_url for server in found]
