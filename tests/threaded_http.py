"""A standard-library HTTP server on a loopback port the system picks, served from a thread:
for tests that need a plain web server (a file host, a page that is no LLM server)."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def threaded_http(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve with `handler` until the block ends; yields the root URL (ending in "/"). The
    server is shut down, closed and its thread joined on the way out."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class QuietFiles(SimpleHTTPRequestHandler):
    """Files from a folder, without a log line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serving_files(folder: Path) -> contextlib.AbstractContextManager[str]:
    """`threaded_http` serving the files of `folder`."""
    return threaded_http(functools.partial(QuietFiles, directory=str(folder)))
