"""What the real-Xinference tests share: SmolLM2 as an Xinference model family, and a real
cluster on one machine (a supervisor on 127.0.0.1 and two workers on 127.0.0.2 and
127.0.0.3), started from the Xinference environment (`scripts/setup-xinference.sh`).

Every port is bound here first and held until the process given it listens on it: the held
socket has SO_REUSEADDR and never listens, so only a server (which sets the same flag) can
take the port, and nothing else on the machine can in between. Metrics exporters listen on
their worker's own loopback address (`-MH`), never on every interface. Every wait is bounded
and watches the process it waits for; `stop()` ends every process the cluster started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psutil

XINFERENCE_VENV = Path(
    os.environ.get("XINFERENCE_VENV", Path(__file__).resolve().parents[1] / ".xinference-venv")
)
SUPERVISOR_HOST = "127.0.0.1"
WORKER_HOSTS = ("127.0.0.2", "127.0.0.3")
START_TIMEOUT = 240.0  # the whole cluster: ~35 s on a quiet 2-core machine, ~100 s on a busy one
STOP_TIMEOUT = 30.0
_POLL = 0.5

_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def smollm2_family(path: Path) -> dict[str, Any]:
    return {
        "version": 2,
        "context_length": 8192,
        "model_name": "smollm2-homefire",
        "model_lang": ["en"],
        "model_ability": ["generate", "chat"],
        "model_description": "SmolLM2-135M-Instruct Q4_1",
        "model_family": "smollm2-homefire",
        "model_specs": [
            {
                "model_format": "ggufv2",
                "model_size_in_billions": "0_135",
                "quantization": "Q4_1",
                "model_id": None,
                "model_file_name_template": path.name,
                "model_uri": f"file://{path.parent}",
            }
        ],
        "chat_template": _TEMPLATE,
        "stop_token_ids": [2],
        "stop": ["<|im_end|>"],
    }


def hold_port(host: str) -> socket.socket:
    """A port on `host` the OS picked, bound and held (not listening) for a server to take."""
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind((host, 0))
    return held


def loopback_aliases_work() -> bool:
    """Whether 127.0.0.2 and 127.0.0.3 are this machine (Linux routes all of 127/8 to it)."""
    try:
        for host in WORKER_HOSTS:
            hold_port(host).close()
    except OSError:
        return False
    return True


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-3000:]


class XinferenceCluster:
    """Start with `with XinferenceCluster(venv, home) as cluster:`; `url` is the REST API,
    `supervisor` the supervisor's `host:port`, `workers` each worker's by its host."""

    def __init__(self, venv: Path, home: Path) -> None:
        self.bin = venv / "bin"
        self.home = home
        self.url = ""
        self.supervisor = ""
        self.workers: dict[str, str] = {}
        self.started_in = 0.0
        self._processes: list[_Process] = []
        self._env = {
            **os.environ,
            "XINFERENCE_AUTH_ADVANCED": "0",
            "XINFERENCE_HOME": str(home),
            "OMP_NUM_THREADS": "2",
        }

    def __enter__(self) -> XinferenceCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        began = time.monotonic()
        deadline = began + START_TIMEOUT
        api, internal = hold_port(SUPERVISOR_HOST), hold_port(SUPERVISOR_HOST)
        with api, internal:
            api_port, internal_port = api.getsockname()[1], internal.getsockname()[1]
            self.url = f"http://{SUPERVISOR_HOST}:{api_port}"
            self.supervisor = f"{SUPERVISOR_HOST}:{internal_port}"
            where = ["-H", SUPERVISOR_HOST, "-p", str(api_port)]
            where += ["--supervisor-port", str(internal_port)]
            supervisor = self._spawn("supervisor", "xinference-supervisor", *where)
            self._wait(supervisor, "answer", self._answers, deadline)
        held = {host: hold_port(host) for host in WORKER_HOSTS}
        try:
            ports = {host: str(sock.getsockname()[1]) for host, sock in held.items()}
            self.workers = {host: f"{host}:{port}" for host, port in ports.items()}
            workers = []
            for host, port in ports.items():
                where = ["-H", host, "--worker-port", port, "-MH", host]
                workers.append(
                    self._spawn(f"worker-{host}", "xinference-worker", "-e", self.url, *where)
                )
            for worker in workers:
                self._wait(worker, "join the cluster", self._registered, deadline)
        finally:
            for sock in held.values():
                sock.close()
        self.started_in = time.monotonic() - began

    def listeners(self) -> dict[str, set[str]]:
        """Each node's listening TCP addresses (`ip:port`), over its whole process tree, by the
        node's name ("supervisor", "worker-127.0.0.2", ...)."""
        found: dict[str, set[str]] = {}
        for process in self._processes:
            addresses = found.setdefault(process.name, set())
            if not process.alive():
                continue
            top = psutil.Process(process.popen.pid)
            for member in [top, *top.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    for conn in member.net_connections(kind="tcp"):
                        if conn.status == psutil.CONN_LISTEN:
                            addresses.add(f"{conn.laddr.ip}:{conn.laddr.port}")
        return found

    def kill_worker(self, host: str) -> None:
        """Kill the worker on `host` and the models it runs at once (SIGKILL), as a crash
        would; its thin service wrapper then exits by itself, cleaning up after it."""
        worker = next(p for p in self._processes if p.name == f"worker-{host}")
        wrapper = psutil.Process(worker.popen.pid)
        doomed = wrapper.children(recursive=True)
        for process in doomed:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(doomed, timeout=STOP_TIMEOUT)
        try:
            worker.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._end(worker)

    def stop(self) -> None:
        for process in reversed(self._processes):
            self._end(process)
        self._processes.clear()

    # --- helpers ------------------------------------------------------------------------

    def _spawn(self, name: str, command: str, *args: str) -> _Process:
        log = self.home / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [str(self.bin / command), *args],
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = _Process(name, popen, log)
        self._processes.append(process)
        return process

    def _wait(
        self, process: _Process, what: str, done: Callable[[], bool], deadline: float
    ) -> None:
        while not done():
            if not process.alive():
                raise RuntimeError(
                    f"the Xinference {process.name} exited with code "
                    f"{process.popen.returncode} before it could {what}:\n{process.tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the Xinference {process.name} did not {what} within the cluster's "
                    f"{START_TIMEOUT:g}s to start:"
                    f"\n{process.tail()}"
                )
            time.sleep(_POLL)

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/v1/cluster/auth", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _registered(self) -> bool:
        try:
            nodes = httpx.get(f"{self.url}/v1/cluster/info", timeout=5.0).json()
        except (httpx.HTTPError, ValueError):
            return False
        listed = {n.get("ip_address") for n in nodes if isinstance(n, dict)}
        return set(self.workers.values()) <= listed

    @staticmethod
    def _end(process: _Process) -> None:
        """SIGTERM, then SIGKILL whatever of its process tree outlives STOP_TIMEOUT (the
        supervisor's helpers run in sessions of their own, so the tree is walked)."""
        if not process.alive():
            return
        try:
            tree = [psutil.Process(process.popen.pid)]
            tree += tree[0].children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGTERM)
        _, left = psutil.wait_procs(tree, timeout=STOP_TIMEOUT)
        for survivor in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                survivor.kill()
        psutil.wait_procs(left, timeout=STOP_TIMEOUT)
        process.popen.wait(timeout=STOP_TIMEOUT)
