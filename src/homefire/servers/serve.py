"""Run a GGUF model as a llama.cpp HTTP server (native and OpenAI-compatible API) in this process.

The in-process engine (xllamacpp) listens itself; this module sets it up safely and keeps it
running until SIGTERM or Ctrl-C. It binds 127.0.0.1 unless told otherwise, refuses requests
without the API key it is given, and allows browsers no origin but its own. `homefire
serve` and `hf.launch()` (which runs `python -m homefire.servers.serve` in a child process) use it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from homefire._validate import integer, text
from homefire._validate import port as validate_port
from homefire.errors import (
    HomefireError,
    MissingDependencyError,
    ModelFileError,
    ServerError,
)

API_KEY_ENV = "HOMEFIRE_API_KEY"
DEFAULT_PORT = 8080


# xllamacpp's teardown can wait forever on its own main loop when a stop comes just after
# start-up; past this many seconds the process exits without it.
_STOP_GRACE_SECONDS = 5.0


def _exit_if_stuck(seconds: float) -> threading.Event:
    """Exit the process if the returned event is not set within `seconds`."""
    done = threading.Event()

    def watch() -> None:
        if not done.wait(seconds):
            print("homefire: the engine did not stop in time; exiting", file=sys.stderr)
            os._exit(0)

    threading.Thread(target=watch, name="homefire-stop-watchdog", daemon=True).start()
    return done


def new_api_key() -> str:
    return secrets.token_urlsafe(24)


def default_model_path() -> Path:
    """The embedded default model (SmolLM2-135M-Instruct), used when no model is given."""
    from homefire.modelfiles.embedded import embedded_model_path

    return embedded_model_path()


def _check(
    model_path: Path, host: str, port: int, parallel: int, context_window: int | None
) -> None:
    if not model_path.is_file():
        raise ModelFileError(str(model_path), "no such file", "Pass the path of a .gguf file")
    text("host", host)
    validate_port("port", port, any_free=True)
    integer("parallel", parallel, low=1)
    integer("context_window", context_window, low=1, optional=True)


def _check_port_free(host: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServerError(
                f"cannot listen on {host}:{port} ({exc.strerror}); another server may be "
                "using that port: stop it or pick another with --port"
            ) from None


def _params(
    model_path: Path,
    *,
    host: str,
    port: int,
    parallel: int,
    context_window: int | None,
    api_key: str | None,
    n_threads: int | None,
    embeddings: bool = False,
) -> Any:
    try:
        import xllamacpp
    except ImportError:
        raise MissingDependencyError("xllamacpp", "serving a model", "xllamacpp") from None
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.model_alias = {model_path.name.removesuffix(".gguf")}
    params.hostnames = [host]
    params.port = port
    params.n_parallel = parallel
    if context_window is not None:
        # llama.cpp splits the context between slots; each slot gets `context_window`.
        params.n_ctx = context_window * parallel
    if n_threads is not None:
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
    params.api_keys = [api_key] if api_key else []
    # Browsers may call us only from our own origin (the built-in web page).
    params.cors_origins = f"http://{host}:{port}"
    params.endpoint_metrics = True
    params.endpoint_slots = True
    if embeddings:  # like llama-server --embeddings --pooling mean: /v1/embeddings works
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    return params


def run(
    model_path: str | Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    parallel: int = 1,
    context_window: int | None = None,
    api_key: str | None = None,
    n_threads: int | None = None,
    on_ready: Callable[[str], None] | None = None,
    embeddings: bool = False,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop cleanly.

    `api_key=None` serves without a key: callers that open a listener for users (the CLI,
    `launch`) pass a generated one. `on_ready(base_url)` is called once the model is loaded.
    """
    path = Path(model_path) if model_path is not None else default_model_path()
    _check(path, host, port, parallel, context_window)
    params = _params(
        path,
        host=host,
        port=port,
        parallel=parallel,
        context_window=context_window,
        api_key=api_key,
        n_threads=n_threads,
        embeddings=embeddings,
    )
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        import xllamacpp

        _check_port_free(host, port)
        try:
            server = xllamacpp.Server(params)
        except RuntimeError as exc:
            raise ServerError(
                f"llama.cpp could not serve {path} on {host}:{port} ({exc}); "
                "see the lines above for why (an unusable model file, or the port taken)"
            ) from None
        try:
            if on_ready is not None:
                on_ready(server.listening_address)
            while not stop.wait(0.5):
                pass
        finally:
            stopped = _exit_if_stuck(_STOP_GRACE_SECONDS)
            del server
            stopped.set()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m homefire.servers.serve",
        description="Serve a GGUF model over llama.cpp's native and OpenAI-compatible API.",
    )
    parser.add_argument("model", nargs="?", help="a .gguf file (default: the embedded model)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=None, help="context window per slot")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--embeddings", action="store_true", help="serve /v1/embeddings (mean pooling)"
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key", default=None, help=f"the key clients must send (or ${API_KEY_ENV})"
    )
    keys.add_argument("--no-api-key", action="store_true", help="accept requests without a key")
    return parser


def resolve_api_key(api_key: str | None, no_api_key: bool) -> tuple[str | None, bool]:
    """(the key to require, whether it was generated): flag, then environment, then a new one."""
    if no_api_key:
        return None, False
    if api_key:
        return api_key, False
    if os.environ.get(API_KEY_ENV):
        return os.environ[API_KEY_ENV], False
    return new_api_key(), True


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    key, generated = resolve_api_key(args.api_key, args.no_api_key)

    def ready(url: str) -> None:
        print(f"homefire: serving at {url} (OpenAI-compatible API under {url}/v1)", flush=True)
        if generated:
            print(f"homefire: API key: {key}", flush=True)

    try:
        run(
            args.model,
            host=args.host,
            port=args.port,
            parallel=args.parallel,
            context_window=args.ctx,
            api_key=key,
            n_threads=args.threads,
            on_ready=ready,
            embeddings=args.embeddings,
        )
    except HomefireError as exc:
        print(f"homefire: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
