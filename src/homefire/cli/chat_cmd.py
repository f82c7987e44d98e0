"""`homefire chat` and `homefire complete`: talk to a model from a terminal or a pipe.

Answers stream to stdout and nothing else goes there, so output can be piped; hints, stats
and the spinner go to stderr, and only when it is a terminal. Ctrl-C during an answer stops
that answer (the stream is closed, which stops the engine) and the chat goes on.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from homefire.cli._common import (
    ApiKey,
    api_key_option,
    debug_option,
    render_error,
    resolve_llm,
    stderr_is_tty,
)
from homefire.cli._words import option
from homefire.errors import HomefireError
from homefire.types import ChatMessage, ChatResponse, CompletionResponse, assistant, system, user

if TYPE_CHECKING:
    from homefire.llm.base import LLM
    from homefire.options import GenerationKwargs

F = TypeVar("F", bound=Callable[..., Any])

_HELP = """\
/reset   forget the conversation (the system prompt stays)
/help    show this help
/exit    quit (also /quit, Ctrl-D, or Ctrl-C at an empty prompt)
Ctrl-C while the model answers stops the answer."""

# Small local models answer far better with a system prompt than with none.
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


def _gpu_layers(_ctx: click.Context, param: click.Parameter, value: str | None) -> int | str | None:
    if value is None or value == "auto":
        return value
    try:
        layers = int(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a number of layers or auto", param=param
        ) from None
    if layers < -1:
        raise click.BadParameter(f"{layers} is below -1 (-1 offloads every layer)", param=param)
    return layers


def _model_options(function: F) -> F:
    options = (
        option(
            "-m",
            "--model",
            sets=("model_path", "model_url", "url", "spec", "base_url"),
            help="A .gguf file, an http(s) URL to one, a server's URL, a provider spec "
            "(ollama:llama3.2) or a configured name (default: the embedded model).",
        ),
        option(
            "--engine",
            type=click.Choice(["xllamacpp", "llama-cpp-python"]),
            help="In-process engine.",
        ),
        option(
            "-t",
            "--temperature",
            type=click.FloatRange(min=0),
            help="Sampling temperature (0: greedy).",
        ),
        option("-n", "--max-tokens", type=click.IntRange(min=1), help="Most tokens to generate."),
        option(
            "-c",
            "--ctx",
            "--context-window",
            "context_window",
            type=click.IntRange(min=1),
            help="Context window (tokens) to load the model with, or to ask a server for.",
        ),
        option(
            "--gpu-layers",
            "--ngl",
            "n_gpu_layers",
            callback=_gpu_layers,
            metavar="N|auto",
            help="Layers to offload to the GPU (in-process; -1: all; auto: what fits).",
        ),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="Print one JSON object: text, finish_reason, usage, timings, model.",
        ),
        api_key_option,
        debug_option,
    )
    for decorate in reversed(options):
        function = decorate(function)
    return function


@click.command()
@click.argument("prompt", required=False)
@click.option(
    "-s",
    "--system",
    "system_prompt",
    default=DEFAULT_SYSTEM_PROMPT,
    show_default=True,
    help='System prompt for the conversation; --system "" sends none.',
)
@click.option(
    "-i",
    "--interactive",
    is_flag=True,
    help="Keep chatting after the prompt; reads one turn per line when stdin is not a terminal.",
)
@_model_options
def chat(
    prompt: str | None,
    system_prompt: str | None,
    interactive: bool,
    model: str | None,
    engine: str | None,
    temperature: float | None,
    max_tokens: int | None,
    context_window: int | None,
    n_gpu_layers: int | str | None,
    as_json: bool,
    api_key: ApiKey,
) -> None:
    """Chat with a model. With PROMPT (or '-' for stdin), answer once; without, start a chat."""
    first = _read_prompt(prompt, pipe=not interactive)
    if as_json and (interactive or first is None):
        raise click.UsageError("--json answers one prompt: give it as an argument or on stdin")
    options = _generation_options(temperature, max_tokens)
    with resolve_llm(
        model, engine, api_key, context_window=context_window, n_gpu_layers=n_gpu_layers
    ) as llm:
        history = [system(system_prompt)] if system_prompt else []
        if interactive or first is None:
            _repl(llm, history, first, options)
            return
        history.append(user(first))
        if as_json:
            _print_json(llm.chat(history, **options), llm)
        elif _stream_to_stdout(llm.stream_chat(history, **options)).interrupted:
            raise SystemExit(130)


@click.command()
@click.argument("text", required=False)
@_model_options
def complete(
    text: str | None,
    model: str | None,
    engine: str | None,
    temperature: float | None,
    max_tokens: int | None,
    context_window: int | None,
    n_gpu_layers: int | str | None,
    as_json: bool,
    api_key: ApiKey,
) -> None:
    """Continue TEXT (or '-' to read it from stdin) and stream the continuation."""
    prompt = _read_prompt(text, pipe=True)
    if prompt is None:
        raise click.UsageError("give the text to complete, or '-' to read it from stdin")
    options = _generation_options(temperature, max_tokens)
    with resolve_llm(
        model, engine, api_key, context_window=context_window, n_gpu_layers=n_gpu_layers
    ) as llm:
        if as_json:
            _print_json(llm.complete(prompt, **options), llm)
        elif _stream_to_stdout(llm.stream_complete(prompt, **options)).interrupted:
            raise SystemExit(130)


# --- input --------------------------------------------------------------------------------


def _read_prompt(argument: str | None, *, pipe: bool) -> str | None:
    """The argument, or all of stdin for '-' (or for no argument, with `pipe`, from a pipe)."""
    if argument == "-" or (argument is None and pipe and not sys.stdin.isatty()):
        # Like $(...) in a shell: the newline that ends piped text is not part of it.
        argument = sys.stdin.read().rstrip("\r\n")
    if argument is not None and not argument.strip():
        raise click.UsageError("the prompt is empty")
    return argument


def _generation_options(temperature: float | None, max_tokens: int | None) -> GenerationKwargs:
    options: GenerationKwargs = {}
    if temperature is not None:
        options["temperature"] = temperature
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    return options


def _read_line(terminal: bool) -> str | None:
    """One line from the user; None at end of input or Ctrl-C at the prompt."""
    try:
        if terminal:
            return input(">>> " if sys.stdout.isatty() else "")
        line = sys.stdin.readline()
    except (EOFError, KeyboardInterrupt):
        if terminal:
            click.echo(err=True)
        return None
    return line or None


# --- the conversation -----------------------------------------------------------------------


def _repl(
    llm: LLM, history: list[ChatMessage], first: str | None, options: GenerationKwargs
) -> None:
    terminal = sys.stdin.isatty()
    if terminal:
        _enable_line_editing()
    keep = len(history)
    _note(f"Chatting with {model_label(llm)}. /help for commands, Ctrl-D to quit.")
    pending = first
    while True:
        line = pending if pending is not None else _read_line(terminal)
        pending = None
        if line is None:
            return
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            command = line.split()[0].lower()
            if command in ("/exit", "/quit"):
                return
            if command == "/reset":
                del history[keep:]
                click.echo("(conversation cleared)", err=True)
            elif command == "/help":
                click.echo(_HELP, err=True)
            else:
                click.echo(f"unknown command {command}; /help lists the commands", err=True)
            continue
        history.append(user(line))
        try:
            answer = _stream_to_stdout(llm.stream_chat(history, **options))
        except HomefireError as exc:
            # One failed turn (a context grown too long, a server gone away) must not end
            # the conversation: forget the turn and let the user go on, or /reset.
            history.pop()
            render_error(exc)
            click.echo("(turn dropped; /reset clears the conversation)", err=True)
            continue
        history.append(assistant(answer.text))
        if answer.interrupted:
            click.echo("(stopped)", err=True)
        else:
            _note(answer.stats())


def model_label(llm: LLM) -> str:
    """The model's name for a person: a model file's own name (the GGUF header's general.name
    is often a training run's label), else the name the server gives it."""
    path = getattr(llm, "model_path", None)
    if isinstance(path, Path):
        return path.name.removesuffix(".gguf")
    return llm.metadata.model_name


def _enable_line_editing() -> None:
    try:
        import readline  # noqa: F401  (importing it gives input() history and editing)
    except ImportError:
        return


def _note(text: str) -> None:
    """A dim hint on stderr, shown only to a person at a terminal."""
    if text and stderr_is_tty():
        click.secho(text, dim=True, err=True)


# --- output -----------------------------------------------------------------------------------


@dataclass
class _Answer:
    text: str
    last: ChatResponse | CompletionResponse | None
    pieces: int
    seconds: float
    interrupted: bool

    def stats(self) -> str:
        """ "N tokens, R tok/s": the backend's own counts when it gave them, else ours."""
        timings = self.last.timings if self.last else None
        usage = self.last.usage if self.last else None
        tokens = self.pieces
        if timings and timings.generated_tokens:
            tokens = timings.generated_tokens
        elif usage and usage.completion_tokens:
            tokens = usage.completion_tokens
        rate = timings.tokens_per_second if timings else None
        if rate is None and self.seconds > 0:
            rate = tokens / self.seconds
        counted = f"{tokens} token{'' if tokens == 1 else 's'}"
        return f"{counted}, {rate:.1f} tok/s" if rate else counted


def _stream_to_stdout(chunks: Iterator[ChatResponse] | Iterator[CompletionResponse]) -> _Answer:
    """Write each delta as it comes; Ctrl-C closes the stream and keeps what was shown."""
    out = sys.stdout
    last: ChatResponse | CompletionResponse | None = None
    shown: list[str] = []
    interrupted = False
    started = time.perf_counter()
    try:
        for chunk in chunks:
            last = chunk
            if chunk.delta:
                out.write(chunk.delta)
                out.flush()
                shown.append(chunk.delta)
    except KeyboardInterrupt:
        interrupted = True
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    finally:  # an error after some text still ends the line it left open
        text = "".join(shown)
        if text and not text.endswith("\n"):
            out.write("\n")
        out.flush()
    return _Answer(text, last, len(shown), time.perf_counter() - started, interrupted)


def _print_json(response: ChatResponse | CompletionResponse, llm: LLM) -> None:
    usage = response.usage
    body = {
        "text": response.text,
        "finish_reason": response.finish_reason,
        "usage": {**dataclasses.asdict(usage), "total_tokens": usage.total_tokens}
        if usage
        else None,
        "timings": dataclasses.asdict(response.timings) if response.timings else None,
        "model": llm.metadata.model_name,
    }
    click.echo(json.dumps(body, ensure_ascii=False))
