"""hf.Llamafile against a llama.cpp server held in its loading state until the test ends it.

A real server loads SmolLM2 in milliseconds, too short a window to test against; the fake
answers exactly what the recorded server answered while loading (503 "Loading model") for as
long as the test wants, so every step below is synchronised on what the server saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

import homefire as hf
from fakes.llamacpp import FakeLlamaRouter, FakeLlamaServer

pytestmark = pytest.mark.unit

WAIT = 30.0


@pytest.fixture
def loading() -> Iterator[FakeLlamaServer]:
    server = FakeLlamaServer(loading=True).start()
    yield server
    server.stop()


def test_loading_is_not_ready_then_ready(loading: FakeLlamaServer) -> None:
    llm = hf.Llamafile(base_url=loading.base_url)
    state = llm.server_health()
    assert (state.ready, state.status) == (False, "Loading model")
    assert llm.health() is False
    loading.finish_loading()
    assert llm.server_health().ready and llm.health() is True
    llm.close()


def test_wait_until_ready_waits_out_the_loading(loading: FakeLlamaServer) -> None:
    llm = hf.Llamafile(base_url=loading.base_url)
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(llm.wait_until_ready, WAIT)
        assert loading.loading_answered.wait(WAIT)
        assert not waiting.done()  # still loading: still waiting
        loading.finish_loading()
        waiting.result(timeout=WAIT)
    assert loading.requests[-1].path == "/health"
    llm.close()


async def test_await_until_ready_waits_out_the_loading(loading: FakeLlamaServer) -> None:
    llm = hf.Llamafile(base_url=loading.base_url)
    waiting = asyncio.ensure_future(llm.await_until_ready(WAIT))
    assert await asyncio.to_thread(loading.loading_answered.wait, WAIT)
    assert not waiting.done()
    loading.finish_loading()
    await asyncio.wait_for(waiting, WAIT)
    assert await llm.ahealth() is True
    await llm.aclose()


def test_a_loading_server_times_out_the_wait(loading: FakeLlamaServer) -> None:
    llm = hf.Llamafile(base_url=loading.base_url)
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        llm.wait_until_ready(timeout=0.5)
    assert caught.value.which == "ready"
    llm.close()


def test_a_request_while_loading_is_answered_once_loaded(loading: FakeLlamaServer) -> None:
    """The 503 while loading is waited for (the transport retries it, honouring the server):
    the answer comes once the server has loaded."""
    patient = hf.RetryPolicy(attempts=100, backoff=0.05, max_backoff=0.2)  # ~20 s of waiting
    llm = hf.Llamafile(base_url=loading.base_url, retry=patient)
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(llm.chat, "hi")
        assert loading.loading_answered.wait(WAIT)
        loading.finish_loading()
        assert answer.result(timeout=WAIT).text == "You said: hi"
    llm.close()


def test_a_probe_the_busy_server_cannot_answer_in_time_is_not_the_end() -> None:
    """A server busy loading may not answer /health within the probe's time; waiting for it
    goes on with the next probe instead of failing."""
    server = FakeLlamaRouter().start()
    held = server.hold("/health")
    llm = hf.Llamafile(base_url=server.base_url, timeouts=hf.Timeouts(connect=0.2))
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(llm.wait_until_ready, WAIT)
        assert held.entered.wait(WAIT)
        held.entered.clear()
        assert held.entered.wait(WAIT), "no second probe: the first one's timeout ended the wait"
        held.release.set()
        waiting.result(timeout=WAIT)
    llm.close()
    server.stop()
