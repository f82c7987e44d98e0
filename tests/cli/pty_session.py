"""Run a command on a pseudo-terminal, as a person at a keyboard would, with timeouts."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class Terminal:
    """A child process whose controlling terminal we hold: typed keys, Ctrl-C, Ctrl-D."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(argv[0], argv, env if env is not None else dict(os.environ))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.text = ""
        self._seen = 0
        self.returncode: int | None = None

    def _read(self, timeout: float) -> bool:
        if not select.select([self.fd], [], [], timeout)[0]:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.text += _ANSI.sub("", data.decode(errors="replace"))
        return True

    def expect(self, pattern: str, timeout: float = 60) -> str:
        """Wait for the regex `pattern` past what was consumed; return the text up to it."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern).search(self.text, self._seen)
            if match:
                consumed = self.text[self._seen : match.end()]
                self._seen = match.end()
                return consumed
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.2)):
                raise AssertionError(
                    f"{pattern!r} did not appear; the terminal shows:\n{self.text}"
                )

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                return self.returncode
            self._read(0.1)
        raise AssertionError(f"the program did not exit; the terminal shows:\n{self.text}")

    def close(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)
