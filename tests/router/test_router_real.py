"""hf.Router over two real llama.cpp servers (SmolLM2, launched on loopback): one is killed
mid-run and started again on the same port; concurrent requests spread over both.

Each server counts what it generated (`tokens_predicted_total` in its /metrics); with
`ignore_eos` every answer has exactly the asked number of tokens, so the count shows which
server answered how many requests, and that none was answered twice.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from routing_fakes import wait_for

import homefire as hf
from homefire.servers.launch import LaunchedServer, launch
from homefire.servers.router import Router

pytestmark = pytest.mark.integration

MAX = 4
OPTIONS = {"max_tokens": MAX, "temperature": 0.0, "extra": {"ignore_eos": True}}
LONG_TOKENS = 96
LONG = {**OPTIONS, "max_tokens": LONG_TOKENS}


def start(**kwargs: object) -> LaunchedServer:
    return launch(context_window=2048, n_threads=1, ready_timeout=120, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def servers() -> Iterator[list[LaunchedServer]]:
    """Two servers; any a test starts later is appended here and stopped too."""
    started = [start(), start()]
    yield started
    for server in started:
        server.stop()


def predicted(server: LaunchedServer) -> int:
    """Tokens the server generated, by its own count (answers it finished)."""
    with server.llm() as llm:
        return int(llm.metrics()["llamacpp:tokens_predicted_total"])


def processing(server: LaunchedServer) -> bool:
    with server.llm() as llm:
        return llm.metrics()["llamacpp:requests_processing"] > 0


def whole(response: hf.ChatResponse) -> bool:
    return (
        response.finish_reason == "length"
        and response.usage is not None
        and response.usage.completion_tokens == MAX
        and bool(response.message.content)
    )


def ask(router: Router, n: int) -> hf.ChatResponse:
    """Every other request streams: both kinds must fail over before their first byte."""
    if n % 2:
        *_, last = router.stream_chat("Say hi.", **OPTIONS)  # type: ignore[arg-type]
        return last
    return router.chat("Say hi.", **OPTIONS)  # type: ignore[arg-type]


def test_a_killed_server_loses_no_request_and_gets_traffic_once_back(
    servers: list[LaunchedServer],
) -> None:
    first, second = servers
    port = int(first.base_url.rsplit(":", 1)[1])
    llms = [first.llm(), second.llm()]
    router = Router(
        {"first": llms[0], "second": llms[1]},
        "round-robin",
        health_interval=0.2,
        backoff=0.1,
        max_backoff=0.5,
    )
    try:
        replies = [ask(router, n) for n in range(6)]
        assert predicted(first) == 3 * MAX
        # The 7th request is `first`'s turn: kill it while it generates that answer.
        in_flight: list[hf.ChatResponse] = []
        worker = threading.Thread(
            target=lambda: in_flight.append(router.chat("Say hi.", **LONG))  # type: ignore[arg-type]
        )
        worker.start()
        wait_for(lambda: processing(first), "the 7th request to be generating on `first`")
        first.process.kill()
        first.process.wait(10)
        worker.join(120)
        (long_reply,) = in_flight
        assert router.status()[0].failed == 1  # it reached `first`, then went to `second`
        assert long_reply.finish_reason == "length"
        assert long_reply.usage is not None and long_reply.usage.completion_tokens == LONG_TOKENS
        replies += [ask(router, n) for n in range(6)]
        assert all(whole(r) for r in replies)
        # Every request was answered once: 3 by `first` before it died, the rest by `second`.
        assert predicted(second) == 9 * MAX + LONG_TOKENS
        wait_for(lambda: not router.status()[0].up, "the killed server to be marked down")

        restarted = start(port=port, api_key=first.api_key)
        servers.append(restarted)
        wait_for(lambda: router.status()[0].up, "the health check to see the server again")
        before = predicted(second)
        replies = [ask(router, n) for n in range(4)]
        assert all(whole(r) for r in replies)
        assert (predicted(restarted), predicted(second) - before) == (2 * MAX, 2 * MAX)
    finally:
        router.close()
        for llm in llms:
            llm.close()


async def test_least_busy_spreads_16_concurrent_requests_over_both(
    servers: list[LaunchedServer],
) -> None:
    llms = [server.llm() for server in servers]
    router = Router(llms, "least-busy", health_interval=60)
    try:
        replies = await asyncio.gather(
            *(router.achat("Say hi.", **OPTIONS) for _ in range(16))  # type: ignore[arg-type]
        )
        assert all(whole(r) for r in replies)
        assert [s.answered for s in router.status()] == [8, 8]
        assert [predicted(server) for server in servers] == [8 * MAX, 8 * MAX]
    finally:
        router.close()
        for llm in llms:
            await llm.aclose()
