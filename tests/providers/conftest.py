"""Fixtures for the server providers: fake LM Studio / LocalAI / Ollama, a real llama.cpp
server, a real Xinference and a real Xinference cluster.

The real Xinference runs from its own virtual environment (`scripts/setup-xinference.sh`
creates `.xinference-venv`); its tests are skipped, saying so, when that is absent (and fail
under CI=true).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from xinference_support import XinferenceCluster, hold_port, loopback_aliases_work

from components import require
from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeOllama
from homefire.servers.launch import LaunchedServer, launch

REPO = Path(__file__).resolve().parents[2]
XINFERENCE_VENV = Path(os.environ.get("XINFERENCE_VENV", REPO / ".xinference-venv"))
XINFERENCE_START_TIMEOUT = 120.0


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    server = FakeOllama().start()
    yield server
    server.stop()


@pytest.fixture
def fake_lmstudio() -> Iterator[FakeLMStudio]:
    server = FakeLMStudio().start()
    yield server
    server.stop()


@pytest.fixture
def fake_localai() -> Iterator[FakeLocalAI]:
    server = FakeLocalAI().start()
    yield server
    server.stop()


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"xinference-local exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):  # wakes when the process exits
            process.wait(timeout=0.5)
    raise TimeoutError(f"xinference-local did not answer {url} within {timeout:g}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def xinference_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `xinference-local` on a loopback port held for it, without auth, for the session."""
    executable = XINFERENCE_VENV / "bin" / "xinference-local"
    require(
        executable.exists(),
        f"the Xinference environment ({XINFERENCE_VENV})",
        "run scripts/setup-xinference.sh",
    )
    home = tmp_path_factory.mktemp("xinference-home")
    held = hold_port("127.0.0.1")
    port = held.getsockname()[1]
    env = {
        **os.environ,
        "XINFERENCE_AUTH_ADVANCED": "0",
        "XINFERENCE_HOME": str(home),
        "OMP_NUM_THREADS": "2",
    }
    log_path = home / "xinference.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(executable), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with held:
            _wait_for(f"{url}/v1/cluster/auth", process, XINFERENCE_START_TIMEOUT)
        yield url
    finally:
        _stop(process)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def xinference_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XinferenceCluster]:
    """A real Xinference cluster for the session, without auth: a supervisor on 127.0.0.1 and
    a worker on each of 127.0.0.2 and 127.0.0.3."""
    require(
        (XINFERENCE_VENV / "bin" / "xinference-worker").exists(),
        f"the Xinference environment ({XINFERENCE_VENV})",
        "run scripts/setup-xinference.sh",
    )
    require(
        loopback_aliases_work(),
        "loopback aliases 127.0.0.2 and 127.0.0.3",
        "run on a system that routes all of 127/8 to loopback (Linux does)",
    )
    home = tmp_path_factory.mktemp("xinference-cluster")
    with XinferenceCluster(XINFERENCE_VENV, home) as cluster:
        yield cluster
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def llamacpp_server(smollm2_path: Path) -> Iterator[LaunchedServer]:
    """A real llama.cpp server (the in-process engine in a child process) with an API key."""
    server = launch(smollm2_path, context_window=512, n_threads=2, ready_timeout=120)
    yield server
    server.stop()
