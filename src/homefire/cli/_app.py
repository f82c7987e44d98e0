"""The `homefire` command group: subcommands are imported only when they run.

The table below is the whole registry. `homefire --help` reads its one-line summaries, so
listing the commands imports none of them and works even when a command's module is absent.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from homefire._version import __version__
from homefire.cli._common import debug_option, render_bug, render_error
from homefire.errors import HomefireError, NotSupportedError

COMMANDS: dict[str, tuple[str, str]] = {
    "chat": ("homefire.cli.chat_cmd:chat", "Chat with a model, interactively or for one prompt."),
    "complete": ("homefire.cli.chat_cmd:complete", "Continue a text with a model."),
    "serve": ("homefire.cli.serve_cmd:command", "Serve a model over an OpenAI-compatible API."),
    "inspect": ("homefire.cli.inspect_cmd:command", "Show what a GGUF model file contains."),
    "plan": (
        "homefire.cli.plan_cmd:command",
        "Work out settings that fit a model on this machine.",
    ),
    "discover": ("homefire.cli.discover_cmd:command", "Find the LLM servers running nearby."),
    "models": ("homefire.cli.models_cmd:models", "List the models a server knows."),
    "load": ("homefire.cli.models_cmd:load", "Load a model on a server."),
    "unload": ("homefire.cli.models_cmd:unload", "Unload a model from a server."),
    "pull": ("homefire.cli.models_cmd:pull", "Download a model onto a server."),
    "doctor": ("homefire.cli.doctor_cmd:command", "Find out why a server or model does not work."),
    "bench": ("homefire.cli.bench_cmd:command", "Measure how fast backends run, like llama-bench."),
}


class LazyGroup(click.Group):
    """A group whose subcommands live in `COMMANDS` as "module:attribute" strings."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *sorted(set(super().list_commands(ctx)) - set(COMMANDS))]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = entry[0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            raise NotSupportedError(
                f"'homefire {cmd_name}' is not available in this installation "
                f"(module {module_name} is missing); reinstall homefire"
            ) from exc
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry[0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, summary) for name, (_, summary) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _UsageError(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HomefireError as exc:
            render_error(exc, ctx)
            ctx.exit(1)
        except _UsageError:
            raise
        except click.UsageError as exc:
            raise _UsageError(exc) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # no traceback for a user: one line, and --debug for more
            render_bug(exc, ctx)
            ctx.exit(1)


class _UsageError(click.UsageError):
    """A mistyped command line, shown like every other error: `error: ...` first, then where
    to read how the command is used."""

    def __init__(self, original: click.UsageError) -> None:
        super().__init__(original.format_message(), original.ctx)

    def show(self, file: Any = None) -> None:
        text = self.message[:1].lower() + self.message[1:]
        click.secho(f"error: {text}", fg="red", err=True)
        if self.ctx is not None:
            click.echo(f"Try '{self.ctx.command_path} --help' for help.", err=True)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "-V", "--version", prog_name="homefire", message="%(prog)s %(version)s"
)
@debug_option
def app() -> None:
    """homefire: one fast, typed interface to every local LLM runtime."""
