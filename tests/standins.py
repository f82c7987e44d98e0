"""Servers that stand in for the ones the documentation and the examples name.

The pages and examples are written for a reader: `hf.Ollama("llama3.2",
base_url="http://127.0.0.1:11434")`, `python examples/lmstudio.py http://localhost:1234`. In
the suite each of those addresses is replaced by the address of a stand-in started here: the
real component where it runs on this machine (a llama.cpp server, Xinference), a faithful
fake otherwise (LM Studio, LocalAI, Ollama). Which address a provider usually has comes from
the provider registry, so the pages and the code cannot disagree about it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fakes._server import FakeServer
from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeModel, FakeOllama
from homefire.providers import _registry

# The model names the pages use, added to the fakes next to their own.
OLLAMA_MODELS = (
    FakeModel("llama3.2:latest", size=2_000_000_000, quantization="Q4_K_M", context_length=131072,
              capabilities=["completion", "tools"]),
)  # fmt: skip
LOCALAI_MODELS = ("llama-3.2-1b-instruct",)


@dataclass(frozen=True)
class StandIn:
    """A running server standing in for provider `name` (a registry scheme)."""

    name: str
    address: str
    """`127.0.0.1:PORT`, what every address the reader would use becomes."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment a reader would have set for it (the API key a server was started with)."""


def usual_addresses(name: str) -> tuple[str, ...]:
    """The `host:port` forms under which a reader reaches stand-in `name` by default: those
    of the provider it stands in for."""
    row = _registry.get(_KINDS[name][0] if name in _KINDS else name)
    if row.port is None:
        raise ValueError(f"provider {name!r} has no server address")
    hosts = dict.fromkeys((row.host, "127.0.0.1", "localhost"))
    return tuple(f"{host}:{row.port}" for host in hosts)


def substitute(text: str, addresses: tuple[str, ...], replacement: str) -> tuple[str, int]:
    """`text` with each of `addresses` (whole `host:port` tokens) replaced; and how many."""
    pattern = "|".join(re.escape(a) for a in addresses)
    return re.subn(rf"(?<![\w.-])(?:{pattern})(?!\d)", replacement, text)


class StandIns:
    """Starts stand-ins on first use and stops them when the test ends."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._started: dict[str, StandIn] = {}

    def get(self, name: str) -> StandIn:
        if name not in self._started:
            if name not in _KINDS:
                known = ", ".join(sorted(_KINDS))
                raise ValueError(f"no stand-in named {name!r}; known: {known}")
            self._started[name] = _KINDS[name][1](self._request)
        return self._started[name]

    def rewrite(
        self, text: str, names: Mapping[str, tuple[str, ...]]
    ) -> tuple[str, dict[str, str]]:
        """`text` with the addresses of each named stand-in replaced by its own, and the
        environment the stand-ins need. `names` maps a stand-in to the addresses the text
        uses for it. Each must appear, or the text would reach a real server."""
        env: dict[str, str] = {}
        for name, addresses in names.items():
            if substitute(text, addresses, "")[1] == 0:
                raise AssertionError(f"names {name!r} but none of its addresses {addresses}")
            standin = self.get(name)
            text, _ = substitute(text, addresses, standin.address)
            env.update(standin.env)
        return text, env


def _fake(request: pytest.FixtureRequest, server: FakeServer, name: str) -> StandIn:
    server.start()
    request.addfinalizer(server.stop)
    return StandIn(name, f"127.0.0.1:{server.port}")


def _ollama(request: pytest.FixtureRequest) -> StandIn:
    fake = FakeOllama()
    fake.models.update({m.name: m for m in OLLAMA_MODELS})
    return _fake(request, fake, "ollama")


def _lmstudio(request: pytest.FixtureRequest) -> StandIn:
    return _fake(request, FakeLMStudio(), "lmstudio")


def _localai(request: pytest.FixtureRequest) -> StandIn:
    fake = FakeLocalAI()
    fake.models.update(dict.fromkeys(LOCALAI_MODELS, "llama-cpp"))
    return _fake(request, fake, "localai")


def _llamacpp_server(request: pytest.FixtureRequest, name: str, key_env: str) -> StandIn:
    server: Any = request.getfixturevalue("smollm2_server")
    address = server.base_url.removeprefix("http://")
    return StandIn(name, address, {key_env: server.api_key})


def _embeddings_server(request: pytest.FixtureRequest) -> StandIn:
    """A real llama.cpp server started with embeddings on (`--embeddings`)."""
    server: Any = request.getfixturevalue("embedding_server")
    return StandIn("embeddings", server.base_url.removeprefix("http://"),
                   {"HOMEFIRE_API_KEY": server.api_key})  # fmt: skip


def _xinference(request: pytest.FixtureRequest) -> StandIn:
    url: str = request.getfixturevalue("xinference_url")
    return StandIn("xinference", url.removeprefix("http://"))


Starter = Callable[[pytest.FixtureRequest], StandIn]

# stand-in name -> (the provider whose usual addresses it takes, how to start it)
_KINDS: dict[str, tuple[str, Starter]] = {
    "llamafile": ("llamafile", lambda r: _llamacpp_server(r, "llamafile", "HOMEFIRE_API_KEY")),
    "embeddings": ("llamafile", _embeddings_server),
    "openai": ("openai", lambda r: _llamacpp_server(r, "openai", "OPENAI_API_KEY")),
    "lmstudio": ("lmstudio", _lmstudio),
    "localai": ("localai", _localai),
    "ollama": ("ollama", _ollama),
    "xinference": ("xinference", _xinference),
}


MODEL_FILE = "model.gguf"
"""The file name the pages and examples give a GGUF model; the suite's working folder has it."""


def working_folder(folder: Path, model_path: Path) -> Path:
    """`folder` set up as a reader's: `model.gguf` is a real model (SmolLM2-135M)."""
    (folder / MODEL_FILE).symlink_to(model_path)
    return folder
