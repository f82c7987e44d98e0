"""Serve a model over llama.cpp's native and the OpenAI-compatible API, from this process.

homefire's own front end (`homefire.servers.front`) answers every request: chat is rendered
by homefire's sandboxed template renderer and gets its tool and JSON-schema fallback, so
llama.cpp's own template runtime never sees a model file's template. Behind it is a GGUF
model in process (the embedded one by default), or any LLM an endpoint spec or configured
name gives (`spec=`: a remote server, an `hf.Router` as a team's gateway).

It binds 127.0.0.1 unless told otherwise, checks `Host` and refuses cross-origin requests,
requires the API key on every route but `/health`, and bounds request bodies. The listener
opens before the model loads (`/health` says 503 "Loading model" until it is ready), and
SIGTERM or Ctrl-C stops it cleanly. `homefire serve` and `hf.launch()` (which runs
`python -m homefire.servers.serve` in a child process) use it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from homefire._validate import integer, text
from homefire._validate import port as validate_port
from homefire.errors import (
    HomefireError,
    InvalidParameterError,
    MissingDependencyError,
    ServerError,
)

if TYPE_CHECKING:
    from homefire.servers.front.app import Served
    from homefire.servers.front.backends import ModelSettings

API_KEY_ENV = "HOMEFIRE_API_KEY"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY = 8 * 1024 * 1024
"""Generous for any chat (a long document is a few hundred KiB of JSON); a client sending
more gets 413 before the body is read."""
# Connections and requests handled at once; past it new ones get 503.
_MAX_CONNECTIONS = 512
# Running answers get this long to finish once a stop is asked for; then they are cancelled.
_STOP_GRACE_SECONDS = 5.0
# Freeing the model (cancelling what runs in the engine) may take this long before the
# process exits without it.
_CLOSE_SECONDS = 30.0

Auto = Literal["auto"]


def new_api_key() -> str:
    return secrets.token_urlsafe(24)


def default_model_path() -> Path:
    """The embedded default model (SmolLM2-135M-Instruct), used when no model is given."""
    from homefire.modelfiles.embedded import embedded_model_path

    return embedded_model_path()


def _auto_or_int(name: str, value: Any, low: int) -> int | Auto | None:
    if value is None or value == "auto":
        return value  # type: ignore[no-any-return]
    return integer(name, value, low=low)


def _require_server_packages() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "uvicorn", "homefire serve", "serve") from None


def _check_model(model_path: str | Path | None) -> Path | None:
    """The model file, read and checked as `homefire chat` does, before anything loads it."""
    if model_path is None:
        default_model_path()  # says how to install the embedded model when it is missing
        return None
    from homefire.modelfiles.gguf import read_model_file

    return read_model_file(Path(model_path)).path


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound (and held) on host:port, so nothing can take the port before we serve.

    It is made as TCP by name: asyncio turns Nagle's algorithm off only on connections
    accepted from such a socket, and with it on, a small answer sent in two writes waits for
    the client's delayed ACK (40 ms on Linux).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServerError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); another server may be "
            "using that port: stop it or pick another with --port"
        ) from None
    return sock


def _url(host: str, sock: socket.socket) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{sock.getsockname()[1]}"


def run(
    model_path: str | Path | None = None,
    *,
    spec: str | None = None,
    router: bool = False,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    parallel: int | None = None,
    context_window: int | Auto | None = None,
    n_gpu_layers: int | Auto = 0,
    kv_type: str | None = None,
    api_key: str | None = None,
    n_threads: int | None = None,
    embeddings: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
    verbose: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop cleanly.

    `model_path` is a GGUF file (None: the embedded model); `spec` instead serves any
    endpoint `hf.connect` takes (with `router=True`, a router configured by that name).
    `api_key=None` serves without a key: callers that open a listener for users (the CLI,
    `launch`) pass a generated one. `parallel` slots default to llama.cpp's server's choice
    (4, sharing one KV pool); `context_window` to LlamaCPP's (the trained context, capped);
    either may be "auto" to plan it for this machine, as may `n_gpu_layers`.
    `on_ready(base_url)` is called once the model is loaded.
    """
    _require_server_packages()
    from homefire.servers.front.backends import ModelSettings, check_router

    text("host", host)
    validate_port("port", port, any_free=True)
    integer("parallel", parallel, low=1, optional=True)
    integer("max_body", max_body, low=1024)
    settings = ModelSettings(
        context_window=_auto_or_int("context_window", context_window, 32),
        n_gpu_layers=_auto_or_int("n_gpu_layers", n_gpu_layers, -1) or 0,
        kv_type=_kv_type(kv_type),
        n_threads=integer("n_threads", n_threads, low=1, optional=True),
        parallel=parallel,
        verbose=verbose,
        embeddings=embeddings,
    )
    if spec is not None:
        text("spec", spec)
        if model_path is not None:
            raise InvalidParameterError("spec", "serve a model file or an endpoint, not both")
        if settings != ModelSettings(verbose=verbose, embeddings=embeddings):
            raise InvalidParameterError(
                "spec",
                "--parallel, --ctx, --n-gpu-layers, --kv-type and --threads set up a model "
                "in this process; an endpoint is set up where it runs",
            )
        if router:
            check_router(spec)
    else:
        settings = replace(settings, model_path=_check_model(model_path))
    sock = _listen(host, port)
    _Serving(sock, host, settings, spec, api_key, max_body, on_ready).run(
        allowed_hosts, allowed_origins
    )


def _kv_type(value: str | None) -> str | None:
    from homefire.providers.llamacpp.engine import kv_cache_type_param

    return kv_cache_type_param("kv_type", value)


class _Serving:
    """One run: the listener, the model loading beside it, and the orderly stop."""

    def __init__(
        self,
        sock: socket.socket,
        host: str,
        settings: ModelSettings,
        spec: str | None,
        api_key: str | None,
        max_body: int,
        on_ready: Callable[[str], None] | None,
    ) -> None:
        self.sock = sock
        self.host = host
        self.settings = settings
        self.spec = spec
        self.api_key = api_key
        self.max_body = max_body
        self.on_ready = on_ready
        self.failure: BaseException | None = None
        self.served: Served | None = None

    def run(self, allowed_hosts: Sequence[str], allowed_origins: Sequence[str]) -> None:
        import uvicorn

        from homefire.servers.front.app import FrontSettings, FrontState, build_app
        from homefire.servers.front.guard import GuardSettings, HostPolicy, normalise_origin
        from homefire.servers.front.metrics import Metrics

        self.state = FrontState()
        self.metrics = Metrics()
        guard = GuardSettings(
            api_key=self.api_key,
            hosts=HostPolicy(self.host, allowed_hosts),
            origins=frozenset(normalise_origin(o) for o in allowed_origins),
            max_body=self.max_body,
            server_header="llama.cpp (homefire)" if self.spec is None else "homefire",
        )
        app = build_app(self.state, FrontSettings(guard, self.max_body), self.metrics)
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            log_level="info" if self.settings.verbose else "warning",
            access_log=self.settings.verbose,
            server_header=False,
            ws="none",
            limit_concurrency=_MAX_CONNECTIONS,
            timeout_graceful_shutdown=int(_STOP_GRACE_SECONDS),
        )
        serving = self

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                super().handle_exit(sig, frame)
                serving._stop()

        self.server = Server(config)
        loader = threading.Thread(target=self._load, name="homefire-serve-load", daemon=True)
        previous = {
            signum: signal.signal(signum, lambda *_: None)  # uvicorn re-raises what it caught
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            loader.start()
            asyncio.run(self._serve())
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.sock.close()
        self._finish(loader)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        try:
            await self.server.serve(sockets=[self.sock])
        finally:
            served = self.state.served
            if served is not None and served.native is not None:
                await served.native.aclose()

    def _stop(self) -> None:
        """A stop was asked for (SIGTERM, Ctrl-C): answers in progress end now, in-band,
        instead of being cut off when uvicorn's grace period runs out."""
        self.loop.call_soon_threadsafe(self.state.stopping.set)

    def _load(self) -> None:
        from homefire.servers.front.backends import open_endpoint, open_in_process

        try:
            if self.spec is not None:
                served = open_endpoint(self.spec, embeddings=self.settings.embeddings)
                slots = None
            else:
                served, slots = open_in_process(self.settings)
        except BaseException as exc:  # raised in run(), once the listener has stopped
            self.failure = exc
            self.server.should_exit = True
            return
        self.served = served
        self.metrics.slots = slots
        self.state.served = served
        if self.on_ready is not None:
            self.on_ready(_url(self.host, self.sock))

    def _finish(self, loader: threading.Thread) -> None:
        if loader.is_alive():
            # Stopped while llama.cpp was still loading: that cannot be interrupted, and a
            # process exiting under it may crash in llama.cpp's teardown. Leave at once.
            print("homefire: stopped while the model was loading", file=sys.stderr, flush=True)
            os._exit(0)
        if self.served is not None:
            stopped = _exit_if_stuck(_CLOSE_SECONDS)
            self.served.llm.close()
            stopped.set()
        if self.failure is not None:
            raise self.failure


def _exit_if_stuck(seconds: float) -> threading.Event:
    """Exit the process if the returned event is not set within `seconds`."""
    done = threading.Event()

    def watch() -> None:
        if not done.wait(seconds):
            print("homefire: the engine did not stop in time; exiting", file=sys.stderr)
            os._exit(0)

    threading.Thread(target=watch, name="homefire-stop-watchdog", daemon=True).start()
    return done


def _size(value: str) -> int:
    from homefire.planner.hardware import parse_size

    return parse_size(value, name="max_body")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m homefire.servers.serve",
        description="Serve a model over llama.cpp's native and the OpenAI-compatible API.",
    )
    parser.add_argument("model", nargs="?", help="a .gguf file (default: the embedded model)")
    backends = parser.add_mutually_exclusive_group()
    backends.add_argument("-m", "--model-spec", dest="spec", help="serve any endpoint instead")
    backends.add_argument("--router", help="serve the router configured under this name")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--parallel", type=int, default=None)
    parser.add_argument("--ctx", type=_int_or_auto, help="context window (tokens) or 'auto'")
    parser.add_argument(
        "--n-gpu-layers", type=_int_or_auto, default=0, help="layers on the GPU, -1 all, 'auto'"
    )
    parser.add_argument("--kv-type", default=None, help="KV cache type: f16, q8_0, ...")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--embeddings", action="store_true", help="serve /v1/embeddings")
    parser.add_argument("--max-body", type=_size, default=DEFAULT_MAX_BODY, help="e.g. 8MiB")
    parser.add_argument("--allow-host", action="append", default=[], help="another Host name")
    parser.add_argument("--allow-origin", action="append", default=[], help="a web app origin")
    parser.add_argument("--verbose", action="store_true", help="show llama.cpp's log")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key", default=None, help=f"the key clients must send (or ${API_KEY_ENV})"
    )
    keys.add_argument("--no-api-key", action="store_true", help="accept requests without a key")
    return parser


def _int_or_auto(value: str) -> int | Auto:
    """A command-line count that may also be "auto" (argparse reports the ValueError)."""
    return "auto" if value == "auto" else int(value)


def announcement(url: str) -> str:
    """The line printed once the model is loaded and the server answers; `launch()` reads
    the address from it (`ANNOUNCED`)."""
    return f"homefire: serving at {url} (OpenAI-compatible API under {url}/v1)"


ANNOUNCED = re.compile(rb"^homefire: serving at (http://\S+) ", re.MULTILINE)


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
        print(announcement(url), flush=True)
        if generated:
            print(f"homefire: API key: {key}", flush=True)

    try:
        run(
            args.model,
            spec=args.spec if args.spec is not None else args.router,
            router=args.router is not None,
            host=args.host,
            port=args.port,
            parallel=args.parallel,
            context_window=args.ctx,
            n_gpu_layers=args.n_gpu_layers,
            kv_type=args.kv_type,
            api_key=key,
            n_threads=args.threads,
            embeddings=args.embeddings,
            max_body=args.max_body,
            allowed_hosts=args.allow_host,
            allowed_origins=args.allow_origin,
            verbose=args.verbose,
            on_ready=ready,
        )
    except HomefireError as exc:
        print(f"homefire: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
