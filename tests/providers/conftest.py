"""Fixtures for the server providers: fake LM Studio / LocalAI / Ollama and a real llama.cpp
server (the real Xinference, `xinference_url`, is in tests/conftest.py: the documentation's
tests use it too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeOllama
from homefire.servers.launch import LaunchedServer, launch


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
def llamacpp_server(smollm2_path: Path) -> Iterator[LaunchedServer]:
    """A real llama.cpp server (the in-process engine in a child process) with an API key."""
    server = launch(smollm2_path, context_window=512, n_threads=2, ready_timeout=120)
    yield server
    server.stop()
