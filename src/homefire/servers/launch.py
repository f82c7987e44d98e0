"""`hf.launch()`: start a llama.cpp-compatible server, for the length of a `with` block.

It runs a given `llama-server` / llamafile binary, or homefire's own in-process engine in a
child process (`python -m homefire.servers.serve`), on 127.0.0.1 and a free port, with a fresh API
key, its output in a log file; waits until the model is loaded; and stops it on exit
(SIGTERM, then SIGKILL). A server that dies while starting raises with its last log lines.

homefire's own server binds a port the system picks and says which in its log, so no other
program can take the port between the choice and the bind. A binary is given a port that
was free a moment before; it binds it itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from homefire._validate import integer, seconds
from homefire.errors import (
    HomefireTimeoutError,
    InvalidParameterError,
    ServerBusyError,
    ServerError,
    ServerNotRunningError,
)
from homefire.modelfiles.gguf import check_regular_file
from homefire.providers.llamafile import Llamafile
from homefire.servers.serve import ANNOUNCED, API_KEY_ENV, new_api_key

_POLL_SECONDS = 0.05
_STOP_SECONDS = 10.0


@dataclass
class LaunchedServer:
    """A server process `launch` started: where it listens, its key, its log."""

    base_url: str
    api_key: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    def llm(self, **kwargs: Any) -> Llamafile:
        """A `Llamafile` LLM talking to this server (keyword arguments go to Llamafile)."""
        return Llamafile(base_url=self.base_url, api_key=self.api_key, **kwargs)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = _STOP_SECONDS) -> None:
        """SIGTERM, wait up to `timeout` seconds, then SIGKILL. Safe to call twice."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self._log.close()

    def __enter__(self) -> LaunchedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _command(
    binary: str | Path | None,
    model_path: Path | None,
    *,
    host: str,
    port: int,
    context_window: int | None,
    parallel: int | None,
    n_threads: int | None,
    extra_args: Sequence[str],
) -> list[str]:
    if binary is None:
        argv = [sys.executable, "-m", "homefire.servers.serve"]
        if model_path is not None:
            argv.append(str(model_path))
        argv += ["--host", host, "--port", str(port)]
        if parallel is not None:
            argv += ["--parallel", str(parallel)]
        if context_window is not None:
            argv += ["--ctx", str(context_window)]
        if n_threads is not None:
            argv += ["--threads", str(n_threads)]
        return [*argv, *extra_args]
    argv = [str(binary)]
    if "llamafile" in Path(binary).name:
        argv += ["--server", "--nobrowser"]
    if model_path is not None:
        argv += ["-m", str(model_path)]
    argv += ["--host", host, "--port", str(port)]
    if parallel is not None:
        argv += ["--parallel", str(parallel)]
    if context_window is not None:
        # With --parallel, llama.cpp splits -c between the slots: each gets `context_window`.
        # Without it, its slots share one pool of -c tokens, each able to use them all.
        argv += ["-c", str(context_window * (parallel or 1))]
    if n_threads is not None:
        argv += ["-t", str(n_threads)]
    return [*argv, *extra_args]


def _check(
    model_path: Path | None, binary: str | Path | None, parallel: int | None, timeout: float
) -> None:
    if model_path is not None:
        check_regular_file(model_path, str(model_path))
    if binary is not None and not (Path(binary).is_file() and os.access(binary, os.X_OK)):
        raise InvalidParameterError("binary", f"{binary} is not an executable file")
    if model_path is None and binary is not None and "llamafile" not in Path(binary).name:
        raise InvalidParameterError("model_path", "a llama-server binary needs a model file")
    integer("parallel", parallel, low=1, optional=True)
    seconds("ready_timeout", timeout)


def _exited(server: LaunchedServer, code: int) -> ServerError:
    return ServerError(
        f"the server exited with code {code} before it was ready; last lines of "
        f"its log ({server.log_path}):\n{server.log_tail()}",
        url=server.base_url,
    )


def _not_ready(server: LaunchedServer, timeout: float) -> HomefireTimeoutError:
    where = "" if server.base_url.endswith(":0") else f" at {server.base_url}"
    return HomefireTimeoutError(
        "ready",
        timeout,
        f"waiting for the server{where} to load its model (log: {server.log_path}); a large "
        "model may need a longer ready_timeout",
    )


def _wait_ready(server: LaunchedServer, timeout: float) -> None:
    llm = server.llm()
    deadline = time.monotonic() + timeout
    try:
        while True:
            code = server.process.poll()
            if code is not None:
                raise _exited(server, code)
            try:
                if llm.health():
                    return
            except (ServerNotRunningError, ServerBusyError, HomefireTimeoutError):
                pass
            if time.monotonic() >= deadline:
                raise _not_ready(server, timeout)
            time.sleep(_POLL_SECONDS)
    finally:
        llm.close()


def _wait_announced(server: LaunchedServer, timeout: float) -> None:
    """Wait until homefire's server says, in its log, that it serves and where."""
    deadline = time.monotonic() + timeout
    seen = b""
    with open(server.log_path, "rb") as log:
        while True:
            code = server.process.poll()
            seen += log.read()
            found = ANNOUNCED.search(seen)
            if found:
                server.base_url = found.group(1).decode("ascii")
                return
            if code is not None:
                raise _exited(server, code)
            if time.monotonic() >= deadline:
                raise _not_ready(server, timeout)
            seen = seen[seen.rfind(b"\n") + 1 :]  # only a line not yet ended may still match
            time.sleep(_POLL_SECONDS)


def launch(
    model_path: str | Path | None = None,
    *,
    binary: str | Path | None = None,
    port: int | None = None,
    host: str = "127.0.0.1",
    context_window: int | None = None,
    parallel: int | None = None,
    api_key: str | None = None,
    n_threads: int | None = None,
    extra_args: Sequence[str] = (),
    ready_timeout: float = 120.0,
    log_path: str | Path | None = None,
) -> LaunchedServer:
    """Start a llama.cpp-compatible server and return it once its model is loaded.

    Use it in a `with` block (the server stops at its end) or call `.stop()` yourself.
    Without `binary` the in-process engine serves `model_path` (the embedded model when
    None) in a child process, behind homefire's own front end. `api_key=None` generates a
    key; the server refuses requests without it. `context_window` is what each request may
    use; `parallel=None` leaves the slots to the server (4 sharing one KV pool, for both
    homefire's and llama.cpp's). The log goes to `log_path` (default: a temporary
    file, kept after exit for reading).
    """
    model = Path(model_path) if model_path is not None else None
    _check(model, binary, parallel, ready_timeout)
    announced = binary is None and port is None
    if port is None:
        port = 0 if announced else free_port(host)
    key = api_key or new_api_key()
    env = dict(os.environ)
    argv = _command(
        binary,
        model,
        host=host,
        port=port,
        context_window=context_window,
        parallel=parallel,
        n_threads=n_threads,
        extra_args=extra_args,
    )
    if binary is None:
        env[API_KEY_ENV] = key
    elif "llamafile" in Path(binary).name:
        argv += ["--api-key", key]  # classic llamafiles read no environment variable for it
    else:
        env["LLAMA_API_KEY"] = key
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="homefire-server-", suffix=".log")
        os.close(handle)
        log_path = name
    log = open(log_path, "wb")  # noqa: SIM115 - closed by LaunchedServer.stop
    try:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    except OSError as exc:
        log.close()
        raise ServerError(f"could not start {argv[0]}: {exc}") from None
    server = LaunchedServer(f"http://{host}:{port}", key, process, Path(log_path), log)
    try:
        if announced:
            _wait_announced(server, ready_timeout)
        else:
            _wait_ready(server, ready_timeout)
    except BaseException:
        server.stop()
        raise
    return server
