"""hf.discover: finds and labels each server by fingerprint, and nothing when nothing runs
(how fast it says so is measured in benchmarks/responsiveness.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import homefire as hf
from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeOllama
from homefire.protocols.fingerprint import ServerKind
from homefire.servers.discover import adiscover
from homefire.servers.launch import LaunchedServer


@pytest.mark.unit
def test_each_fake_is_labelled_with_its_models(
    fake_ollama: FakeOllama, fake_lmstudio: FakeLMStudio, fake_localai: FakeLocalAI
) -> None:
    found = {
        s.base_url: s
        for s in hf.discover([fake_ollama.base_url, fake_lmstudio.base_url, fake_localai.base_url])
    }
    assert found[fake_ollama.base_url].identity.kind is ServerKind.OLLAMA
    assert found[fake_lmstudio.base_url].identity.kind is ServerKind.LMSTUDIO
    # LocalAI also answers Ollama's routes: the fingerprint must not be fooled
    assert found[fake_localai.base_url].identity.kind is ServerKind.LOCALAI
    assert [m.id for m in found[fake_ollama.base_url].models] == ["smollm2:135m", "qwen3:0.6b"]
    assert "qwen2.5-7b-instruct" in {m.id for m in found[fake_lmstudio.base_url].models}


@pytest.mark.unit
def test_auth_is_reported_not_fatal() -> None:
    server = FakeLocalAI(api_keys=["k"]).start()
    try:
        [found] = hf.discover([server.base_url])
    finally:
        server.stop()
    assert found.identity.kind is ServerKind.LOCALAI and found.identity.needs_auth
    assert found.models == [] and found.error is not None and "401" in found.error


@pytest.fixture
def closed_ports() -> Iterator[tuple[int, ...]]:
    """Five loopback ports bound and held, never listening: each refuses connections."""
    held = [socket.socket() for _ in range(5)]
    try:
        for sock in held:
            sock.bind(("127.0.0.1", 0))
        yield tuple(sock.getsockname()[1] for sock in held)
    finally:
        for sock in held:
            sock.close()


@pytest.mark.unit
def test_nothing_running_finds_nothing(closed_ports: tuple[int, ...]) -> None:
    assert hf.discover(["127.0.0.1"], ports=closed_ports) == []


@pytest.mark.unit
async def test_async_discovery_and_host_forms(fake_ollama: FakeOllama, refusing_url: str) -> None:
    address = fake_ollama.base_url.removeprefix("http://")
    closed = refusing_url.removeprefix("http://")
    found = await adiscover([address, closed], with_models=False)
    assert [(s.base_url, s.label) for s in found] == [(fake_ollama.base_url, "Ollama")]
    with pytest.raises(hf.InvalidParameterError):
        await adiscover([""])


@pytest.mark.integration
def test_real_llamacpp_server_is_labelled(llamacpp_server: LaunchedServer) -> None:
    [found] = hf.discover([llamacpp_server.base_url])
    assert found.identity.kind is ServerKind.LLAMACPP
    assert found.identity.needs_auth  # homefire's server refuses requests without its key


@pytest.mark.integration
@pytest.mark.slow
def test_real_xinference_is_labelled(xinference_url: str) -> None:
    [found] = hf.discover([xinference_url])
    assert found.identity.kind is ServerKind.XINFERENCE
    assert found.label == "Xinference" and found.error is None
