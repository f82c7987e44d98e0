"""`homefire doctor [URL|SPEC|NAME]`: find out why a server or model does not work.

Prints one line per check as it runs, and under a failed check its cause and the fix (in
this command's words: its flags, not Python's arguments). Without a target it examines every
server `homefire discover` finds on this machine. Exits 1 when a check failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from homefire.cli._common import ApiKey, api_key_option, debug_option, server_options
from homefire.cli._words import argument, in_cli_words, option, vocabulary

if TYPE_CHECKING:
    from homefire.servers.doctor import Check

_MARKS = {"ok": ("ok", "green"), "fail": ("FAIL", "red"), "skip": ("skip", "yellow")}


def _printer(words: dict[str, str]) -> Callable[[Check], None]:
    def show(check: Check) -> None:
        mark, colour = _MARKS[check.status]
        detail = in_cli_words(check.detail, words)
        click.echo(click.style(f"[{mark:>4}] ", fg=colour) + f"{check.name:<10} {detail}")
        if check.status == "fail":
            click.echo(f"         cause: {in_cli_words(check.cause, words)}")
            click.echo(f"         fix:   {in_cli_words(check.fix, words)}")
            for line in check.commands:
                click.echo(f"           $ {line}")

    return show


@click.command()
@argument("target", required=False, sets=("spec", "base_url"))
@option("-m", "--model", help="The model to check (default: the one in TARGET, if any).")
@option(
    "-c",
    "--ctx",
    "--context",
    "context_length",
    type=click.IntRange(min=1),
    sets=("context_window",),
    help="The context length (tokens) you expect to be in effect.",
)
@api_key_option
@debug_option
def command(
    target: str | None, model: str | None, context_length: int | None, api_key: ApiKey
) -> None:
    """Check TARGET step by step: reachable, server, ready, auth, model, loaded, context, test."""
    from homefire.servers.doctor import Doctor

    show = _printer(vocabulary(click.get_current_context().command))
    targets = [target] if target else _local_servers()
    failed = False
    for index, spec in enumerate(targets):
        if index:
            click.echo()
        key = server_options(spec, api_key).get("api_key")
        doctor = Doctor(spec, model=model, context_length=context_length, api_key=key, report=show)
        click.echo(f"homefire doctor: {spec}")
        checks = doctor.run()
        failed = failed or any(c.status == "fail" for c in checks)
    if failed:
        raise SystemExit(1)


def _local_servers() -> list[str]:
    from homefire.servers.discover import USUAL_PORTS, discover

    found = discover(with_models=False)
    if not found:
        ports = ", ".join(str(p) for p in USUAL_PORTS)
        click.echo(
            click.style("[FAIL] ", fg="red") + "reachable  no LLM server answers on this machine"
        )
        click.echo(f"         cause: nothing listens on the usual ports ({ports})")
        click.echo(
            "         fix:   start a server (`ollama serve`, `lms server start`, "
            "`homefire serve`, ...) or pass its URL: homefire doctor http://HOST:PORT"
        )
        raise SystemExit(1)
    return [server.base_url for server in found]
