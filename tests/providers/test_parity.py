"""Every sync call and its async twin give the same result against the same server.

Both run through one plan per operation (`ServerLLM._run` / `_arun`), so they cannot drift;
these tests hold that promise for every provider, against the faithful fakes of the servers
that cannot run here and a fake llama.cpp server for the OpenAI-compatible ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

import homefire as hf
from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeOllama

HI = [hf.user("Hi")]
# Greedy decoding of one allowed answer: the real server's text is the same for both calls,
# and so are its tokens (sampled, the grammar lets `"yes"` come as `y` + `es` one time in some).
ONE_ANSWER: dict[str, Any] = {
    "max_tokens": 8,
    "temperature": 0.0,
    "json_schema": {"type": "string", "enum": ["yes"]},
}
# A completion takes no schema on every server: one greedy token is the same for both calls.
ONE_TOKEN: dict[str, Any] = {"max_tokens": 1, "temperature": 0.0}
FAKES = ["ollama", "lmstudio", "localai"]
REAL = ["llamafile", "openai"]


@pytest.fixture
def providers(
    request: pytest.FixtureRequest,
    fake_ollama: FakeOllama,
    fake_lmstudio: FakeLMStudio,
    fake_localai: FakeLocalAI,
) -> Iterator[dict[str, hf.LLM]]:
    built: dict[str, hf.LLM] = {
        "ollama": hf.Ollama("smollm2:135m", base_url=fake_ollama.base_url),
        "lmstudio": hf.LMStudio("qwen2.5-7b-instruct", base_url=fake_lmstudio.base_url),
        "localai": hf.LocalAI(sorted(fake_localai.models)[0], base_url=fake_localai.base_url),
    }
    if request.node.get_closest_marker("integration"):
        server = request.getfixturevalue("llamacpp_server")
        built["llamafile"] = hf.Llamafile(base_url=server.base_url, api_key=server.api_key)
        built["openai"] = hf.OpenAILike(base_url=server.base_url + "/v1", api_key=server.api_key)
    yield built
    for llm in built.values():
        llm.close()


@pytest_asyncio.fixture(loop_scope="function")
async def aproviders(providers: dict[str, hf.LLM]) -> AsyncIterator[dict[str, hf.LLM]]:
    """The same providers, for tests that also call them async: their async connections
    can only be closed on the event loop that opened them."""
    yield providers
    for llm in providers.values():
        await llm.aclose()


def _strip(response: Any) -> Any:
    """What a call answered, without what differs between two runs (ids, clocks, the share
    of the prompt a server found in its cache, how a constrained answer was tokenized)."""
    if isinstance(response, hf.ChatResponse | hf.CompletionResponse):
        prompt = response.usage.prompt_tokens if response.usage else None
        return (response.text, response.finish_reason, prompt)
    return response


Twin = tuple[Callable[[hf.LLM], Any], Callable[[hf.LLM], Any]]


async def _gather(stream: Any) -> str:
    return "".join([chunk.delta or "" async for chunk in stream])


TWINS: dict[str, Twin] = {
    "chat": (
        lambda llm: _strip(llm.chat(HI, **ONE_ANSWER)),
        lambda llm: llm.achat(HI, **ONE_ANSWER),
    ),
    "complete": (
        lambda llm: _strip(llm.complete("Once", **ONE_TOKEN)),
        lambda llm: llm.acomplete("Once", **ONE_TOKEN),
    ),
    "stream_chat": (
        lambda llm: "".join(c.delta or "" for c in llm.stream_chat(HI, **ONE_ANSWER)),
        lambda llm: _gather(llm.astream_chat(HI, **ONE_ANSWER)),
    ),
    "models": (lambda llm: llm.models(), lambda llm: llm.amodels()),
    "health": (lambda llm: llm.health(), lambda llm: llm.ahealth()),
}


@pytest.mark.parametrize("call", list(TWINS))
@pytest.mark.parametrize(
    "name",
    [
        *(pytest.param(name, marks=pytest.mark.unit) for name in FAKES),
        *(pytest.param(name, marks=pytest.mark.integration) for name in REAL),
    ],
)
async def test_sync_and_async_agree(aproviders: dict[str, hf.LLM], name: str, call: str) -> None:
    llm = aproviders[name]
    sync, asynchronous = TWINS[call]
    expected = sync(llm)
    answer = await asynchronous(llm)
    assert _strip(answer) == expected


@pytest.mark.unit
@pytest.mark.parametrize("name", FAKES)
async def test_load_and_unload_agree(aproviders: dict[str, hf.LLM], name: str) -> None:
    llm = aproviders[name]
    model = llm.models()[0].id
    loaded = llm.load(model)
    llm.unload(loaded.id)
    aloaded = await llm.aload(model)
    await llm.aunload(aloaded.id)
    assert (loaded.id, loaded.loaded) == (aloaded.id, aloaded.loaded)


@pytest.mark.integration
@pytest.mark.parametrize("name", REAL)
async def test_lifecycle_a_server_cannot_do_says_so(
    aproviders: dict[str, hf.LLM], name: str
) -> None:
    llm = aproviders[name]
    for action in (lambda: llm.load("other"), lambda: llm.unload("other"), lambda: llm.pull("x")):
        with pytest.raises(hf.NotSupportedError, match="cannot") as caught:
            action()
        assert llm.label in str(caught.value)
    with pytest.raises(hf.NotSupportedError):
        await llm.aload("other")
    with pytest.raises(hf.NotSupportedError):
        await llm.apull("x")


@pytest.mark.unit
def test_every_lifecycle_verb_exists_on_every_provider() -> None:
    verbs = ["models", "load", "unload", "pull", "health", "wait_until_ready"]
    twins = ["amodels", "aload", "aunload", "apull", "ahealth", "await_until_ready"]
    for cls in (
        hf.LlamaCPP,
        hf.Llamafile,
        hf.OpenAILike,
        hf.LMStudio,
        hf.LocalAI,
        hf.Xinference,
        hf.Ollama,
        hf.CustomLLM,
    ):
        for verb in [*verbs, *twins]:
            assert callable(getattr(cls, verb)), (cls, verb)
