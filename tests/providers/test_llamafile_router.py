"""hf.Llamafile and hf.OpenAILike against a fake llama.cpp router: routing by model, and
async calls that ask the server something first without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import pytest

import homefire as hf
from fakes.llamacpp import HOLD_LIMIT, FakeLlamaRouter

pytestmark = pytest.mark.unit

T = TypeVar("T")


@pytest.fixture
def router() -> Iterator[FakeLlamaRouter]:
    server = FakeLlamaRouter().start()
    yield server
    server.stop()


def test_requests_name_the_model_for_the_router(router: FakeLlamaRouter) -> None:
    llm = hf.Llamafile("qwen3", base_url=router.base_url)
    assert llm.complete("one two").text == "You said: one two"
    assert router.last("/completion").json()["model"] == "qwen3"
    assert list(llm.stream_complete("three"))[-1].text == "You said: three"
    assert llm.props().n_ctx == 4096 and llm.metadata.context_window == 4096
    assert router.last("/props").query == {"model": "qwen3"}
    assert len(llm.slots()) == 1
    assert llm.count_tokens("a b c") == 3
    assert router.last("/tokenize").json()["model"] == "qwen3"


def test_without_a_model_the_router_refuses(router: FakeLlamaRouter) -> None:
    with pytest.raises(hf.APIStatusError, match="model name is missing"):
        hf.Llamafile(base_url=router.base_url).complete("hi")


async def _answered_while_held(router: FakeLlamaRouter, path: str, work: Awaitable[T]) -> T:
    """Run `work`, which must first ask the router `path`; the router holds that request until
    this event loop, free to run while `work` waits, sees it arrive and releases it. A call that
    blocked the loop instead would keep it from releasing: the hold would expire."""
    held = router.hold(path)
    task = asyncio.ensure_future(work)
    assert await asyncio.to_thread(held.entered.wait, HOLD_LIMIT)
    held.release.set()
    answer = await task
    assert not held.expired, f"the event loop was blocked while {path} was asked"
    return answer


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def test_async_tool_check_does_not_block_the_loop(router: FakeLlamaRouter) -> None:
    llm = hf.Llamafile("smollm2", base_url=router.base_url)
    await _answered_while_held(router, "/props", llm.achat("hi", tools=[add]))
    assert "tools" in router.last("/v1/chat/completions").json()
    pieces = [p async for p in llm.astream_chat("again", tools=[add])]
    assert pieces[-1].text == "You said: again"
    assert [r.path for r in router.requests].count("/props") == 1  # asked once
    await llm.aclose()


async def test_async_model_discovery_does_not_block_the_loop(router: FakeLlamaRouter) -> None:
    llm = hf.OpenAILike(base_url=f"{router.base_url}/v1")
    await _answered_while_held(router, "/v1/models", llm.achat("hi"))
    assert router.last("/v1/chat/completions").json()["model"] == "smollm2"
    await llm.aclose()


async def test_health_and_ahealth_agree(router: FakeLlamaRouter) -> None:
    llm = hf.Llamafile("smollm2", base_url=router.base_url)
    assert llm.health() and await llm.ahealth()
    llm.wait_until_ready(timeout=5)
    await llm.await_until_ready(timeout=5)
    await llm.aclose()
