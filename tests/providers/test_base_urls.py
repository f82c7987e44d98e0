"""Every provider, and hf.connect, take a server's address with or without the `/v1` OpenAI
clients add; an address a provider cannot use fails saying what to drop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import homefire as hf
from fakes._server import FakeServer
from fakes.llamacpp import FakeLlamaRouter
from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeOllama
from fakes.xinference import FakeXinference

pytestmark = pytest.mark.unit

SUFFIXES = ["", "/", "/v1", "/v1/"]


@pytest.fixture
def servers(
    fake_ollama: FakeOllama, fake_lmstudio: FakeLMStudio, fake_localai: FakeLocalAI
) -> Iterator[dict[str, tuple[type[Any], FakeServer, str | None]]]:
    router, xinference = FakeLlamaRouter().start(), FakeXinference().start()
    yield {
        "llamafile": (hf.Llamafile, router, "smollm2"),
        "openai": (hf.OpenAILike, router, "smollm2"),
        "lmstudio": (hf.LMStudio, fake_lmstudio, None),
        "localai": (hf.LocalAI, fake_localai, None),
        "xinference": (hf.Xinference, xinference, None),
        "ollama": (hf.Ollama, fake_ollama, None),
    }
    router.stop()
    xinference.stop()


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize(
    "name", ["llamafile", "openai", "lmstudio", "localai", "xinference", "ollama"]
)
def test_a_base_url_with_or_without_v1(servers: dict[str, Any], name: str, suffix: str) -> None:
    cls, server, model = servers[name]
    with cls(model, base_url=server.base_url + suffix) as llm:
        root = server.base_url + ("/v1" if cls is hf.OpenAILike else "")
        assert llm.base_url == root
        assert llm.health()
        if name in ("llamafile", "openai", "localai", "ollama"):
            chosen = model or llm.models()[0].id
            with cls(chosen, base_url=server.base_url + suffix) as chatting:
                assert chatting.chat("hi", max_tokens=4).text


@pytest.mark.parametrize("name", ["llamafile", "localai", "xinference", "ollama"])
def test_an_address_with_a_path_says_to_drop_it(servers: dict[str, Any], name: str) -> None:
    cls, server, model = servers[name]
    llm = cls(model, base_url=server.base_url + "/v1/chat/completions")
    ask = llm.health if name == "xinference" else llm.models  # the routes its fake has
    with pytest.raises(hf.APIStatusError, match="drop /v1/chat/completions from base_url"):
        ask()
    llm.close()


def test_openai_like_says_it_wants_the_api_root(servers: dict[str, Any]) -> None:
    _, server, model = servers["openai"]
    llm = hf.OpenAILike(model, base_url=server.base_url + "/api")
    with pytest.raises(hf.APIStatusError, match=r"usually ending in /v1 \(http://"):
        llm.health()
    llm.close()


@pytest.mark.parametrize("suffix", ["/v1", "/v1/"])
def test_connect_drops_the_v1_of_a_bare_url(
    fake_ollama: FakeOllama, fake_localai: FakeLocalAI, suffix: str
) -> None:
    llm = hf.connect(fake_localai.base_url + suffix, model="smollm2")
    assert isinstance(llm, hf.LocalAI) and llm.base_url == fake_localai.base_url
    assert llm.chat("x").text == "You said: x"
    ollama = hf.connect(fake_ollama.base_url + suffix, model="smollm2:135m")
    assert isinstance(ollama, hf.Ollama) and ollama.base_url == fake_ollama.base_url


@pytest.mark.parametrize("suffix", ["", "/v1", "/v1/"])
def test_connect_schemes_take_v1_too(fake_localai: FakeLocalAI, suffix: str) -> None:
    address = fake_localai.base_url.removeprefix("http://")
    llm = hf.connect(f"localai://{address}{suffix}", model="smollm2")
    assert llm.base_url == fake_localai.base_url  # type: ignore[attr-defined]
    openai = hf.connect(f"openai://{address}{suffix}", model="smollm2")
    assert openai.base_url == fake_localai.base_url + "/v1"  # type: ignore[attr-defined]
    assert openai.chat("y").text == "You said: y"


@pytest.mark.integration
@pytest.mark.parametrize("suffix", ["/v1", "/v1/"])
def test_connect_on_the_openai_address_a_llama_cpp_server_prints(
    smollm2_server: Any, suffix: str
) -> None:
    llm = hf.connect(smollm2_server.base_url + suffix, api_key=smollm2_server.api_key)
    assert isinstance(llm, hf.Llamafile) and llm.base_url == smollm2_server.base_url
    assert llm.health()
    assert llm.chat("Hi", max_tokens=2).finish_reason in ("stop", "length")
    assert llm.complete("Once", max_tokens=2).usage is not None
    llm.close()
