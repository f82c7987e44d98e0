"""Helpers every `homefire` command shares: picking the LLM, the loading spinner, errors.

Commands raise `HomefireError` freely: the command group turns it into one red line on
stderr and exit code 1 (with the traceback under `--debug` or `HOMEFIRE_DEBUG=1`).
"""

from __future__ import annotations

import os
import sys
import traceback
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

import click

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
    """One red line on stderr saying what went wrong; the traceback too when debugging."""
    if debug_enabled(ctx):
        traceback.print_exception(exc, file=sys.stderr)
    click.secho(f"error: {exc}", fg="red", err=True)


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def loading(message: str) -> AbstractContextManager[object]:
    """A spinner on stderr while something slow runs; nothing when stderr is not a terminal."""
    if not stderr_is_tty():
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message, spinner="dots")


def resolve_llm(model: str | None, engine: str | None, **kwargs: Any) -> LLM:
    """Turn a `--model` value into an LLM: the one place that knows which specs exist.

    None is the embedded default model; a `.gguf` path loads in-process; an http(s) URL to a
    `.gguf` file is downloaded (with a progress bar) into the cache, then loaded. Any other
    URL, a provider spec (`ollama:llama3.2`, `lmstudio://host:1234/model`) or an endpoint
    named in the config file goes through `hf.connect`. Keyword arguments set to None are
    left at the provider's defaults.
    """
    options = {name: value for name, value in kwargs.items() if value is not None}
    if model is not None and _is_endpoint(model):
        from homefire.servers.connect import connect

        if engine is not None and model.lower().startswith("llamacpp:"):
            options["engine"] = engine
        return connect(model, **options)
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
            "model", f"{model!r} is neither a .gguf file nor an http(s) URL to one"
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
