"""Fixtures for the server providers: fake LM Studio / LocalAI / Ollama, a real llama.cpp
server and a real Xinference cluster. (The single real Xinference, `xinference_url`, is in
tests/conftest.py: the documentation's tests use it too.)

The Xinference cluster runs from its own virtual environment (`scripts/setup-xinference.sh`
creates `.xinference-venv`); its tests are skipped, saying so, when that is absent (and fail
under CI=true).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from components import require
from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeOllama
from homefire.servers.launch import LaunchedServer, launch
from xinference_support import XINFERENCE_VENV, XinferenceCluster, loopback_aliases_work


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
