"""Helpers every `homefire` command shares: picking the LLM, the API key, the loading
spinner, errors.

Commands raise `HomefireError` freely: the command group turns it into one red line on
stderr in the command's own words (`_words`) and exit code 1, with the traceback under
`--debug` or `HOMEFIRE_DEBUG=1`. Any other exception is a bug, and says so the same way.
"""

from __future__ import annotations

import os
import sys
import traceback
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from homefire.errors import InvalidParameterError

if TYPE_CHECKING:
    from collections.abc import Callable

    from homefire.llm.base import LLM

F = TypeVar("F", bound="Callable[..., Any]")

_DEBUG_KEY = "homefire.debug"


def _remember_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_DEBUG_KEY] = True


def debug_option(function: F) -> F:
    """`--debug`: show tracebacks instead of one-line errors."""
    option = click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_remember_debug,
        help="Show full tracebacks (also: HOMEFIRE_DEBUG=1).",
    )
    return option(function)


def debug_enabled(ctx: click.Context | None = None) -> bool:
    if os.environ.get("HOMEFIRE_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    ctx = ctx or click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_DEBUG_KEY))


def render_error(exc: BaseException, ctx: click.Context | None = None) -> None:
    """One red line on stderr saying what went wrong, in the words of the command that ran
    (its flags, not Python's arguments); the traceback too when debugging."""
    from homefire.cli._words import cli_message

    ctx = ctx or click.get_current_context(silent=True)
    if debug_enabled(ctx):
        traceback.print_exception(exc, file=sys.stderr)
    click.secho(f"error: {cli_message(exc, _running_command(ctx))}", fg="red", err=True)


def render_bug(exc: BaseException, ctx: click.Context | None = None) -> None:
    """An exception homefire did not mean to raise: one line, and how to see and report it."""
    if debug_enabled(ctx):
        traceback.print_exception(exc, file=sys.stderr)
    click.secho(
        f"error: unexpected {type(exc).__name__}: {exc}. This is a bug in homefire; "
        "run again with --debug to see where it happened, and report it",
        fg="red",
        err=True,
    )


def _running_command(ctx: click.Context | None) -> click.Command | None:
    """The subcommand that ran, seen from its own context or from the group's."""
    if ctx is None:
        return None
    if isinstance(ctx.command, click.Group) and ctx.invoked_subcommand is not None:
        try:
            return ctx.command.get_command(ctx, ctx.invoked_subcommand)
        except Exception:  # a command that cannot be imported speaks no words of its own
            return None
    return ctx.command


# The variable `homefire serve` reads its key from, so a client in the same shell finds it.
API_KEY_ENV = "HOMEFIRE_API_KEY"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """The key a command sends to servers, and whether the user gave it with `--api-key`
    (it then wins over a key the endpoint has of its own) or it came from the environment."""

    value: str | None
    explicit: bool


def _read_api_key(ctx: click.Context, param: click.Parameter, value: str | None) -> ApiKey:
    source = ctx.get_parameter_source(param.name or "")
    return ApiKey(value or None, source is ParameterSource.COMMANDLINE)


def api_key_option(function: F) -> F:
    """`--api-key`, also read from HOMEFIRE_API_KEY: the key for servers that want one."""
    from homefire.cli._words import option

    decorate = option(
        "--api-key",
        envvar=API_KEY_ENV,
        callback=_read_api_key,
        metavar="KEY",
        sets=("api_key",),
        help=f"API key for the server (also: {API_KEY_ENV}; a key the config file gives an "
        "endpoint wins over the variable).",
    )
    return decorate(function)


def server_options(spec: str, api_key: ApiKey) -> dict[str, Any]:
    """The keyword arguments that carry `api_key` to the server `spec` names: the flag always,
    the variable only where the endpoint has no key of its own (config file or the
    provider's own variable)."""
    from homefire.providers._registry import IN_PROCESS

    if spec.lower().startswith(f"{IN_PROCESS}:"):  # in-process: no server, no key
        if api_key.explicit:
            raise click.UsageError(f"--api-key is for a server; {spec!r} runs in-process")
        return {}
    if api_key.value is None or not (api_key.explicit or not _has_own_key(spec)):
        return {}
    return {"api_key": api_key.value}


def _has_own_key(spec: str) -> bool:
    from homefire.providers import _registry
    from homefire.servers.config import config_path, load_config
    from homefire.servers.specs import parse_spec

    if spec.lower().startswith(("http://", "https://")):
        return False
    endpoint = parse_spec(spec)
    if endpoint is not None:
        row = _registry.find(endpoint.provider)
        return bool(row is not None and row.api_key_env and os.environ.get(row.api_key_env))
    entry = load_config(config_path()).get(spec, {})
    return entry.get("provider") == "router" or bool({"api_key", "api_key_env"} & set(entry))


def connect_server(spec: str, api_key: ApiKey, **options: Any) -> LLM:
    """`hf.connect(spec)` with the command's API key."""
    from homefire.servers.connect import connect

    return connect(spec, **server_options(spec, api_key), **options)


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def loading(message: str) -> AbstractContextManager[object]:
    """A spinner on stderr while something slow runs; nothing when stderr is not a terminal."""
    if not stderr_is_tty():
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message, spinner="dots")


def resolve_llm(
    model: str | None, engine: str | None, api_key: ApiKey | None = None, **kwargs: Any
) -> LLM:
    """Turn a `--model` value into an LLM: the one place that knows which specs exist.

    None is the embedded default model; a `.gguf` path loads in-process; an http(s) URL to a
    `.gguf` file is downloaded (with a progress bar) into the cache, then loaded. Any other
    URL, a provider spec (`ollama:llama3.2`, `lmstudio://host:1234/model`) or an endpoint
    named in the config file goes through `hf.connect`. Keyword arguments set to None are
    left at the provider's defaults.
    """
    options = {name: value for name, value in kwargs.items() if value is not None}
    api_key = api_key or ApiKey(None, explicit=False)
    in_process = model is None or model.lower().startswith("llamacpp:") or not _is_endpoint(model)
    if in_process and api_key.explicit:
        raise click.UsageError("--api-key is for a server; --model names a model file")
    if model is not None and model.lower().startswith("llamacpp:"):
        from homefire.servers.connect import connect

        return connect(model, **options, **({"engine": engine} if engine else {}))
    if model is not None and not in_process:
        if "n_gpu_layers" in options:
            raise click.UsageError(
                "--gpu-layers sets how a model is loaded in-process; a server decides it "
                "where it starts (homefire serve, llama-server -ngl, ...)"
            )
        return connect_server(model, api_key, **options)
    if engine is not None:
        options["engine"] = engine
    path = model
    if model is not None and model.lower().startswith(("http://", "https://")):
        if not model.split("?", 1)[0].lower().endswith(".gguf"):
            raise InvalidParameterError(
                "model", f"{model!r} is not a URL to a .gguf file; pass a .gguf path or URL"
            )
        from homefire.modelfiles.download import download_model

        path = str(download_model(model))
    elif model is not None and not model.lower().endswith(".gguf") and not os.path.isfile(model):
        raise InvalidParameterError(
            "model",
            f"{model!r} is not a .gguf file, a URL, a provider spec (ollama:llama3.2) "
            "or an endpoint named in the config file",
        )
    from homefire.providers.llamacpp import LlamaCPP

    with loading("Loading the model…"):
        return LlamaCPP(model_path=path, **options)


def _is_endpoint(model: str) -> bool:
    """Whether `--model` names a server rather than a model file."""
    from homefire.providers import _registry
    from homefire.servers.config import config_path, load_config

    scheme, colon, _ = model.partition(":")
    if colon and _registry.find(scheme) is not None:
        return True
    if model.lower().startswith(("http://", "https://")):
        return not model.split("?", 1)[0].lower().endswith(".gguf")
    if model.lower().endswith(".gguf") or os.path.exists(model):
        return False
    return model in load_config(config_path())
