"""`homefire serve` in a child process, as a test needs it.

It listens on a port the OS picks (`--port 0`), so no port is guessed free and taken later;
the test learns the address from the line serve prints once it is ready. Its stderr goes to
a file (a pipe nobody reads would block it), and at the end it is stopped, waited for and
its pipes are closed.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

READY = re.compile(r"[Ss]erving at (http://\S+)")
KEY = re.compile(r"API key: (\S+)")


@dataclass
class ServeProcess:
    """A running `homefire serve` and what it printed."""

    process: subprocess.Popen[str]
    stderr_path: Path
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    url: str = ""
    key: str | None = None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def next_line(self, timeout: float) -> str | None:
        """The next line of stdout; None once it has ended."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"homefire serve printed nothing in {timeout:g}s") from None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout)


def _pump(served: ServeProcess) -> None:
    assert served.process.stdout is not None
    for line in served.process.stdout:
        served.lines.put(line)
    served.lines.put(None)


def serve_argv(*args: str, cli: bool = True) -> list[str]:
    module = "homefire.cli" if cli else "homefire.servers.serve"
    return [sys.executable, "-m", module, *(["serve"] if cli else []), *args, "--port", "0"]


@contextmanager
def serving(
    *args: str,
    env: Mapping[str, str] | None = None,
    cli: bool = True,
    want_key: bool = False,
    timeout: float = 120,
) -> Iterator[ServeProcess]:
    """`homefire serve ARGS --port 0`, ready (and with its printed key when `want_key`)."""
    environment = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory(prefix="homefire-serve-") as folder:
        stderr_path = Path(folder) / "stderr.txt"
        with (
            stderr_path.open("w") as stderr,
            subprocess.Popen(
                serve_argv(*args, cli=cli),
                env=environment,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            ) as process,
        ):
            served = ServeProcess(process, stderr_path)
            threading.Thread(target=_pump, args=(served,), daemon=True).start()
            try:
                _wait_ready(served, want_key, timeout)
                yield served
            finally:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        process.kill()


def _wait_ready(served: ServeProcess, want_key: bool, timeout: float) -> None:
    while not served.url or (want_key and served.key is None):
        line = served.next_line(timeout)
        if line is None:
            code = served.process.wait(30)
            raise AssertionError(f"homefire serve exited ({code}) early:\n{served.stderr()}")
        if match := READY.search(line):
            served.url = match.group(1)
        elif match := KEY.search(line):
            served.key = match.group(1)
