"""hf.Router over fake OpenAI-compatible servers: what fails over and what is never sent twice,
counted by the servers themselves."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from routing_fakes import OpenAIFake, client, wait_for

import homefire as hf
from homefire.errors import NoBackendAvailableError, ServerDisconnectedError
from homefire.servers.router import Router

pytestmark = pytest.mark.unit

FakeFactory = Callable[..., OpenAIFake]


@pytest_asyncio.fixture(loop_scope="function")
async def built() -> AsyncIterator[list[Any]]:
    """Routers and LLMs made in a test, closed after it (async connections on the test's own
    event loop, the only one that can close them)."""
    made: list[Any] = []
    yield made
    for item in reversed(made):
        await item.aclose()


def route(built: list[Any], *urls: str, strategy: str = "fallback", **kwargs: Any) -> Router:
    llms = [client(url, **kwargs) for url in urls]
    built.extend(llms)
    router = Router(llms, strategy, health_interval=60)  # type: ignore[arg-type]
    built.append(router)
    return router


def whole(response: hf.ChatResponse) -> bool:
    return bool(response.message.content) and response.finish_reason == "stop"


def streamed(router: Router) -> hf.ChatResponse:
    *_, last = router.stream_chat("hello there")
    return last


@pytest.mark.parametrize("call", [lambda r: r.chat("hello there"), streamed])
def test_a_refused_connection_fails_over(
    built: list[Any], fake_server: FakeFactory, refusing_url: str, call: Any
) -> None:
    good = fake_server()
    router = route(built, refusing_url, good.base_url)
    assert whole(call(router))
    assert good.chats == 1
    down, up = router.status()
    assert not down.up and "nothing is listening" in down.reason
    assert up.answered == 1


@pytest.mark.parametrize("call", [lambda r: r.chat("hello there"), streamed])
@pytest.mark.parametrize("behaviour", ["busy", "drop"])
def test_503_and_a_drop_before_any_answer_fail_over_once(
    built: list[Any], fake_server: FakeFactory, behaviour: str, call: Any
) -> None:
    bad, good = fake_server(behaviour), fake_server()
    router = route(built, bad.base_url, good.base_url)
    assert whole(call(router))
    assert (bad.chats, good.chats) == (1, 1)
    assert router.status()[0].failed == 1


def test_a_drop_before_any_answer_is_its_own_error(fake_server: FakeFactory) -> None:
    with client(fake_server("drop").base_url) as llm, pytest.raises(ServerDisconnectedError):
        llm.chat("hello")


def test_a_stream_cut_after_some_bytes_raises_and_is_not_resent(
    built: list[Any], fake_server: FakeFactory
) -> None:
    cut, good = fake_server("cut"), fake_server()
    router = route(built, cut.base_url, good.base_url)
    received: list[str] = []

    def read() -> None:
        for chunk in router.stream_chat("hello there"):
            received.append(chunk.delta)

    with pytest.raises(hf.StreamInterruptedError):
        read()
    assert "".join(received).startswith("Hel")
    assert (cut.chats, good.chats) == (1, 0)
    assert router.status()[0].up  # the server answered; the answer was cut


async def test_an_async_stream_cut_after_some_bytes_is_not_resent(
    built: list[Any], fake_server: FakeFactory
) -> None:
    cut, good = fake_server("cut"), fake_server()
    router = route(built, cut.base_url, good.base_url)

    async def read() -> None:
        async for _ in router.astream_chat("hello there"):
            pass

    with pytest.raises(hf.StreamInterruptedError):
        await read()
    assert (cut.chats, good.chats) == (1, 0)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_a_whole_answer_cut_short_raises_and_is_not_resent(
    built: list[Any], fake_server: FakeFactory, use_async: bool
) -> None:
    cut, good = fake_server("cut"), fake_server()
    router = route(built, cut.base_url, good.base_url)

    async def call() -> hf.ChatResponse:
        return await router.achat("hello there") if use_async else router.chat("hello there")

    with pytest.raises(hf.ServerError, match="cut off"):
        await call()
    assert (cut.chats, good.chats) == (1, 0)


async def test_async_failover_counts_each_request_once(
    built: list[Any], fake_server: FakeFactory, refusing_url: str
) -> None:
    busy, drop, good = fake_server("busy"), fake_server("drop"), fake_server()
    router = route(built, busy.base_url, refusing_url, drop.base_url, good.base_url)
    assert whole(await router.achat("hello there"))
    assert (busy.chats, drop.chats, good.chats) == (1, 1, 1)
    busy_state, _, drop_state, good_state = router.status()
    assert (busy_state.failed, drop_state.failed, good_state.answered) == (1, 1, 1)


def test_every_backend_down_names_each_and_why(
    built: list[Any], fake_server: FakeFactory, refusing_url: str
) -> None:
    busy = fake_server("busy")
    router = route(built, refusing_url, busy.base_url)
    with pytest.raises(NoBackendAvailableError) as caught:
        router.chat("hello there")
    reasons = caught.value.reasons
    assert list(reasons) == [f"{refusing_url}/v1", f"{busy.base_url}/v1"]
    assert "nothing is listening" in reasons[f"{refusing_url}/v1"]
    assert "Loading model" in reasons[f"{busy.base_url}/v1"]
    assert busy.chats == 1


def test_a_backend_at_its_concurrency_limit_is_passed_over(
    built: list[Any], fake_server: FakeFactory
) -> None:
    slow, other = fake_server("hold"), fake_server()
    limited = client(slow.base_url, max_concurrency=1)
    spare = client(other.base_url)
    built.extend([limited, spare])
    router = Router([limited, spare], "fallback", health_interval=60)
    built.append(router)
    assert router.status()[0].max_concurrency == 1
    first: list[hf.ChatResponse] = []
    worker = threading.Thread(target=lambda: first.append(router.chat("hello there")))
    worker.start()
    try:
        assert slow.entered.wait(10)
        # fallback prefers `limited`, but its one slot is taken: `spare` answers at once.
        assert whole(router.chat("hello there"))
        assert other.chats == 1
    finally:
        slow.release.set()
        worker.join(30)
    assert whole(first[0])
    assert (slow.chats, other.chats) == (1, 1)


def test_least_busy_spreads_concurrent_requests_over_servers(
    built: list[Any], fake_server: FakeFactory
) -> None:
    left, right = fake_server("hold"), fake_server("hold")
    router = route(built, left.base_url, right.base_url, strategy="least-busy")
    results: list[hf.ChatResponse] = []
    workers = [
        threading.Thread(target=lambda: results.append(router.chat("hello there")))
        for _ in range(6)
    ]
    for worker in workers:
        worker.start()
    wait_for(lambda: left.chats + right.chats == 6, "all six requests to arrive")
    left.release.set()
    right.release.set()
    for worker in workers:
        worker.join(30)
    assert len(results) == 6 and all(whole(r) for r in results)
    assert (left.chats, right.chats) == (3, 3)


def test_models_are_merged_across_servers(
    built: list[Any], fake_server: FakeFactory, refusing_url: str
) -> None:
    one, two = fake_server(models=("m", "a")), fake_server(models=("b", "m"))
    router = route(built, one.base_url, refusing_url, two.base_url)
    models = {m.id: m.backends for m in router.models()}
    assert models == {
        "m": [f"{one.base_url}/v1", f"{two.base_url}/v1"],
        "a": [f"{one.base_url}/v1"],
        "b": [f"{two.base_url}/v1"],
    }


def test_a_url_that_is_down_at_start_is_connected_later(
    built: list[Any], fake_server: FakeFactory, refusing_url: str
) -> None:
    good = fake_server()
    spare = client(good.base_url)
    built.append(spare)
    router = Router({"late": refusing_url, "spare": spare}, "fallback", health_interval=60)
    built.append(router)
    late = router.status()[0]
    assert not late.up and refusing_url in late.reason
    assert whole(router.chat("hello there"))
    assert good.chats == 1


def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"25 C in {city}"


@pytest.mark.parametrize("stream", [False, True])
def test_tools_reach_a_server_natively(
    built: list[Any], fake_server: FakeFactory, stream: bool
) -> None:
    fake = fake_server()
    router = route(built, fake.base_url)
    if stream:
        list(router.stream_chat("Weather?", tools=[get_weather], tool_choice="required"))
    else:
        router.chat("Weather?", tools=[get_weather], tool_choice="required")
    body = fake.last("/v1/chat/completions").json()
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather"]
    assert body["tool_choice"] == "required"
    assert body["messages"] == [{"role": "user", "content": "Weather?"}]


def test_a_configured_router_answers_through_its_endpoints(
    fake_server: FakeFactory,
    refusing_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = fake_server()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[endpoints.gone]
provider = "openai"
base_url = "{refusing_url}/v1"
model = "m"

[endpoints.here]
provider = "openai"
base_url = "{good.base_url}/v1"
model = "m"

[endpoints.inner]
provider = "router"
backends = ["gone", "here"]

[endpoints.team]
provider = "router"
strategy = "fallback"
backends = ["inner"]
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("HOMEFIRE_CONFIG", str(config))
    with hf.connect("team") as router:
        assert whole(router.chat("hello there"))
    assert good.chats == 1
