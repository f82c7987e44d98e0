"""hf.Router over scripted backends: strategies, failover only before an answer, health checks,
metadata, options, tools and structured output, the config file."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from routing_fakes import Backend, Healthy, wait_for

import homefire as hf
from homefire.errors import NoBackendAvailableError
from homefire.servers.router import Router, router_from_config

pytestmark = pytest.mark.unit

DOWN = hf.ServerNotRunningError("nothing is listening at http://127.0.0.1:9 (refused)")


@pytest.fixture
def routers() -> Iterator[list[Router]]:
    """Routers made in a test, closed after it (their health threads stop)."""
    made: list[Router] = []
    yield made
    for router in made:
        router.close()


def make(
    routers: list[Router], backends: Any, strategy: str = "least-busy", **kwargs: Any
) -> Router:
    router = Router(backends, strategy, **kwargs)  # type: ignore[arg-type]
    routers.append(router)
    return router


def answered(router: Router) -> dict[str, int]:
    return {s.name: s.answered for s in router.status()}


# --- strategies ------------------------------------------------------------------------------


def test_round_robin_takes_turns(routers: list[Router]) -> None:
    a, b = Backend("a"), Backend("b")
    router = make(routers, {"a": a, "b": b}, "round-robin")
    texts = [router.chat("hi").message.content for _ in range(4)]
    assert texts == ["a #1", "b #1", "a #2", "b #2"]
    assert answered(router) == {"a": 2, "b": 2}


def test_fallback_sticks_to_the_first_backend_that_is_up(routers: list[Router]) -> None:
    a, b = Backend("a"), Backend("b")
    router = make(routers, [a, b], "fallback")
    for _ in range(3):
        router.chat("hi")
    assert (len(a.calls), len(b.calls)) == (3, 0)


def test_least_busy_avoids_the_backend_with_a_request_in_flight(routers: list[Router]) -> None:
    a, b = Backend("a"), Backend("b")
    router = make(routers, {"a": a, "b": b}, "least-busy")
    stream = router.stream_chat("long")
    assert next(stream).delta == "a"  # a holds one request until the stream is read
    assert [s.in_flight for s in router.status()] == [1, 0]
    # Round-robin would now give a its turn; least-busy sends both to b.
    assert [router.chat("hi").message.content for _ in range(2)] == ["b #1", "b #2"]
    assert "".join(c.delta for c in stream) == " #1"
    assert [s.in_flight for s in router.status()] == [0, 0]
    assert answered(router) == {"a": 1, "b": 2}


def test_least_busy_spreads_concurrent_async_requests(routers: list[Router]) -> None:
    backends = {name: Backend(name) for name in "abcd"}
    router = make(routers, backends, "least-busy")

    async def main() -> list[str]:
        replies = await asyncio.gather(*(router.achat("hi") for _ in range(8)))
        return [r.message.content or "" for r in replies]

    texts = asyncio.run(main())
    assert sorted(t.split()[0] for t in texts) == sorted("abcd" * 2)
    assert answered(router) == dict.fromkeys("abcd", 2)


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(hf.InvalidParameterError, match="strategy"):
        Router([Backend("a")], "random")  # type: ignore[arg-type]
    with pytest.raises(hf.InvalidParameterError, match="at least one"):
        Router([])
    with pytest.raises(hf.InvalidParameterError, match="LLM or a spec"):
        Router([Backend("a"), 42])  # type: ignore[list-item]
    with pytest.raises(hf.InvalidParameterError, match="a list"):
        Router("ollama:llama3.2")  # type: ignore[arg-type]
    with pytest.raises(hf.InvalidParameterError, match="max_backoff"):
        Router([Backend("a")], max_backoff=0)


# --- failover ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        DOWN,
        hf.ServerBusyError("loading", status=503),
        hf.HomefireTimeoutError("first_token", 1, "waiting for an answer"),
        hf.HomefireTimeoutError("connect", 1, "connecting"),
        hf.HomefireTimeoutError("load", 1, "waiting for the server to load its model"),
    ],
    ids=["refused", "503", "first-token-timeout", "connect-timeout", "load-timeout"],
)
def test_fails_over_before_the_answer_begins(routers: list[Router], error: Any) -> None:
    a, b = Backend("a", error=error), Backend("b")
    router = make(routers, {"a": a, "b": b}, "fallback")
    assert router.chat("hi").message.content == "b #1"
    assert "".join(c.delta for c in router.stream_chat("hi")) == "b #2"
    first, second = router.status()
    assert (len(a.calls), len(b.calls)) == (1, 2)  # a was marked down after the first try
    assert (first.up, first.failed, first.answered) == (False, 1, 0)
    assert str(error) in first.reason
    assert (second.up, second.answered) == (True, 2)


@pytest.mark.parametrize(
    "error",
    [
        hf.StreamInterruptedError("cut off after 12 bytes", "a"),
        hf.HomefireTimeoutError("between_chunks", 1, "waiting for the next chunk"),
        DOWN,  # even an error that would fail over before the first piece
    ],
    ids=["interrupted", "between-chunks-timeout", "refused-after-the-first-piece"],
)
def test_a_stream_that_began_is_never_sent_again(routers: list[Router], error: Any) -> None:
    a, b = Backend("a", error=error, cut_after=1), Backend("b")
    router = make(routers, {"a": a, "b": b}, "fallback")
    received: list[str] = []

    def read() -> None:
        for chunk in router.stream_chat("hi"):
            received.append(chunk.delta)

    with pytest.raises(type(error)):
        read()
    assert received == ["a"]
    assert (len(a.calls), len(b.calls)) == (1, 0)
    assert [s.in_flight for s in router.status()] == [0, 0]


async def test_async_stream_that_began_is_never_sent_again(routers: list[Router]) -> None:
    interrupted = hf.StreamInterruptedError("cut off", "a")
    a, b = Backend("a", error=interrupted, cut_after=1), Backend("b")
    router = make(routers, {"a": a, "b": b}, "fallback")
    received: list[str] = []

    async def read() -> None:
        async for chunk in router.astream_chat("hi"):
            received.append(chunk.delta)

    with pytest.raises(hf.StreamInterruptedError):
        await read()
    assert received == ["a"]
    assert (len(a.calls), len(b.calls)) == (1, 0)


async def test_async_calls_fail_over_too(routers: list[Router]) -> None:
    a, b = Backend("a", error=DOWN), Backend("b")
    router = make(routers, {"a": a, "b": b}, "fallback")
    assert (await router.achat("hi")).message.content == "b #1"
    a.error = None  # a is back, but marked down: b keeps the traffic
    assert "".join([c.delta async for c in router.astream_chat("hi")]) == "b #2"
    assert (await router.acomplete("x")).text == "b #3"
    assert "".join([c.delta async for c in router.astream_complete("x")]) == "b #4"
    assert len(a.calls) == 1


def test_errors_about_the_request_are_not_retried_elsewhere(routers: list[Router]) -> None:
    overflow = hf.ContextOverflowError(5000, 4096)
    a, b = Backend("a", error=overflow), Backend("b")
    router = make(routers, {"a": a, "b": b}, "fallback")
    with pytest.raises(hf.ContextOverflowError):
        router.chat("hi")
    assert (len(a.calls), len(b.calls)) == (1, 0)
    assert router.status()[0].up  # the backend is fine; the request was not


def test_when_every_backend_fails_the_error_lists_each(routers: list[Router]) -> None:
    busy = hf.ServerBusyError("Loading model", status=503)
    router = make(routers, {"a": Backend("a", error=DOWN), "b": Backend("b", error=busy)})
    for call in (lambda: router.chat("hi"), lambda: list(router.stream_chat("hi"))):
        with pytest.raises(NoBackendAvailableError) as caught:
            call()
        assert isinstance(caught.value, hf.ServerNotRunningError)
        assert caught.value.reasons == {"a": str(DOWN), "b": str(busy)}
        assert "a: nothing is listening" in str(caught.value)
        assert "b: Loading model" in str(caught.value)


def test_backends_marked_down_are_still_tried_when_no_other_is_left(
    routers: list[Router],
) -> None:
    a = Backend("a", error=DOWN)
    router = make(routers, {"a": a})
    with pytest.raises(NoBackendAvailableError):
        router.chat("hi")
    a.error = None  # it came back before any health check noticed
    assert router.chat("hi").message.content == "a #2"
    assert router.status()[0].up


# --- what reaches the backend -----------------------------------------------------------------


def test_call_options_go_over_the_backends_own_defaults(routers: list[Router]) -> None:
    a = Backend("a")
    a.default_options = hf.GenerationOptions(temperature=0.3, max_tokens=50)
    router = make(routers, [a])
    router.chat("hi", max_tokens=5, seed=7)
    router.complete("hi")
    assert a.options[0] == {"temperature": 0.3, "max_tokens": 5, "seed": 7}
    assert a.options[1] == {"temperature": 0.3, "max_tokens": 50}


def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"25 C in {city}"


class ToolCaller(Backend):
    """Answers every call with the same tool call JSON (what a prompted backend returns)."""

    def _answer(self, prompt: str, kwargs: dict[str, Any]) -> str:
        super()._answer(prompt, kwargs)
        return json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})


def test_tools_are_prompted_once_by_the_backend_itself(routers: list[Router]) -> None:
    backend = ToolCaller("a")
    router = make(routers, [backend])
    response = router.chat("Weather in Paris?", tools=[get_weather], tool_choice="required")
    (call,) = response.message.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    (prompt,) = backend.calls
    assert prompt.count("get_weather: Get the weather for a city.") == 1
    assert backend.options[0]["json_schema"]["properties"]["name"]["enum"] == ["get_weather"]
    streamed = list(router.stream_chat("Weather?", tools=[get_weather], tool_choice="required"))
    assert streamed[-1].message.tool_calls[0].arguments == {"city": "Paris"}
    assert backend.calls[1].count("You can call these tools:") == 1


class JSONAnswer(Backend):
    def _answer(self, prompt: str, kwargs: dict[str, Any]) -> str:
        super()._answer(prompt, kwargs)
        return '{"city": "Paris", "degrees": 25}'


async def test_structured_output_goes_through_the_router(routers: list[Router]) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "degrees": {"type": "integer"}},
        "required": ["city", "degrees"],
    }
    backend = JSONAnswer("a")
    router = make(routers, [backend])
    assert router.structured("Weather?", schema) == {"city": "Paris", "degrees": 25}
    assert await router.astructured("Weather?", schema) == {"city": "Paris", "degrees": 25}
    assert backend.options[0]["json_schema"]["required"] == ["city", "degrees"]


def test_metadata_has_the_smallest_context_window(routers: list[Router]) -> None:
    big, small = Backend("big", context_window=8192), Backend("small", context_window=2048)
    router = make(routers, {"big": big, "small": small})
    metadata = router.metadata
    assert metadata.context_window == 2048
    assert metadata.model_name == "big | small"
    assert metadata.extra["backends"] == ["big", "small"]


def test_metadata_leaves_out_backends_that_are_down(routers: list[Router]) -> None:
    class Unreachable(Backend):
        @property
        def metadata(self) -> hf.LLMMetadata:
            raise DOWN

    router = make(routers, {"gone": Unreachable("gone"), "b": Backend("b", context_window=1024)})
    assert router.metadata.context_window == 1024
    assert not router.status()[0].up
    lone = make(routers, {"gone": Unreachable("gone")})
    with pytest.raises(NoBackendAvailableError, match="gone"):
        lone.metadata  # noqa: B018


def test_backends_are_named_from_their_urls_and_labels(routers: list[Router]) -> None:
    first = hf.OpenAILike(base_url="http://127.0.0.1:9/v1", model="m")
    second = hf.OpenAILike(base_url="http://127.0.0.1:9/v1", model="m")
    router = make(routers, [first, second, Backend("x")], health_interval=60)
    names = [s.name for s in router.status()]
    assert names == ["http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1#2", "Backend#2"]
    first.close()
    second.close()


# --- health checks ------------------------------------------------------------------------------


def test_health_checks_take_a_backend_out_and_back_in(routers: list[Router]) -> None:
    a, b = Healthy("a", ready=False), Healthy("b")
    router = make(
        routers, {"a": a, "b": b}, "fallback", health_interval=0.05, backoff=0.01, max_backoff=0.05
    )
    wait_for(lambda: len(a.checks) >= 1, "the first check of a")
    assert router.status()[0].reason == "not ready (loading its model, or busy)"
    assert router.chat("hi").message.content == "b #1"
    a.ready = True
    wait_for(lambda: router.status()[0].up, "a to be seen up again")
    assert router.chat("hi").message.content == "a #1"


def test_a_failing_backend_is_checked_with_growing_waits(routers: list[Router]) -> None:
    a = Healthy("a", ready=False)
    make(routers, {"a": a}, health_interval=3600, backoff=0.02, max_backoff=0.08)
    # six checks at all prove the waits stop growing at `max_backoff`: a healthy backend
    # waits the whole hour-long health_interval between two
    wait_for(lambda: len(a.checks) >= 6, "six checks of a failing backend")
    gaps = [later - earlier for earlier, later in zip(a.checks, a.checks[1:], strict=False)]
    # Waits double from `backoff` (lower bounds only: a busy machine can only lengthen them)
    for gap, least in zip(gaps, [0.02, 0.04, 0.08, 0.08, 0.08], strict=False):
        assert gap >= least * 0.9


def test_a_failed_request_brings_the_next_check_forward(routers: list[Router]) -> None:
    a, b = Healthy("a"), Healthy("b")
    router = make(routers, {"a": a, "b": b}, "fallback", health_interval=60, backoff=0.01)
    wait_for(lambda: len(a.checks) == 1, "the first check")
    a.error = DOWN
    a.checked.clear()
    assert router.chat("hi").message.content == "b #1"
    assert a.checked.wait(10), "a failed request should schedule a check after `backoff`"
    a.error = None
    wait_for(lambda: router.status()[0].up, "a back up")


def test_health_probes_every_backend_now(routers: list[Router]) -> None:
    a, b = Healthy("a", ready=False), Healthy("b", ready=False)
    router = make(routers, {"a": a, "b": b}, health_interval=60)
    assert router.health() is False
    b.ready = True
    assert router.health() is True
    assert asyncio.run(router.ahealth()) is True
    assert [s.up for s in router.status()] == [False, True]


def test_health_errors_are_reasons_not_crashes(routers: list[Router]) -> None:
    class Broken(Healthy):
        def health(self) -> bool:
            super().health()
            raise RuntimeError("the health check itself is broken")

    a = Broken("a")
    router = make(routers, {"a": a, "b": Backend("b")}, health_interval=0.05, backoff=0.01)
    wait_for(lambda: len(a.checks) >= 2, "the monitor to go on after an error")
    assert "broken" in router.status()[0].reason


def test_close_stops_the_health_thread(routers: list[Router]) -> None:
    def monitors() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "homefire-router-health")

    before = monitors()
    router = Router([Healthy("a")], health_interval=0.05)
    assert monitors() == before + 1
    router.close()
    router.close()  # twice is fine
    assert monitors() == before
    with pytest.raises(hf.ServerError, match="closed"):
        router.chat("hi")


def test_models_merge_by_id_and_name_their_backends(routers: list[Router]) -> None:
    class Listing(Backend):
        def __init__(self, name: str, ids: list[str]) -> None:
            super().__init__(name)
            self.ids = ids

        def models(self) -> list[hf.ModelInfo]:
            return [hf.ModelInfo(id=i, loaded=(i == "m")) for i in self.ids]

    router = make(
        routers,
        {"a": Listing("a", ["m", "x"]), "b": Listing("b", ["y", "m"]), "c": Backend("c")},
    )
    models = {m.id: m for m in router.models()}
    # every LLM lists at least the model it serves: "c" is a scripted LLM named "c"
    assert list(models) == ["m", "x", "y", "c"]
    assert models["m"].backends == ["a", "b"]
    assert models["m"].loaded
    assert models["y"].backends == ["b"]
    assert isinstance(models["x"], hf.ModelInfo)


# --- the config file ----------------------------------------------------------------------------


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("HOMEFIRE_CONFIG", str(path))
    return path


def test_a_configured_router_connects_its_named_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        tmp_path,
        monkeypatch,
        """
[endpoints.gpu]
provider = "lmstudio"
base_url = "http://127.0.0.1:9"
model = "qwen"

[endpoints.team]
provider = "router"
strategy = "fallback"
backends = ["gpu", "ollama:llama3.2", "openai://127.0.0.1:9/v1/m"]
health_interval = 60
""",
    )
    router = hf.connect("team")
    try:
        assert isinstance(router, Router)
        assert router.strategy == "fallback"
        assert [s.name for s in router.status()] == [
            "gpu",
            "ollama:llama3.2",
            "openai://127.0.0.1:9/v1/m",
        ]
    finally:
        router.close()
    override = hf.connect("team", strategy="round-robin")
    assert isinstance(override, Router) and override.strategy == "round-robin"
    override.close()


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('backends = ["team"]', "names itself"),
        ('backends = ["other"]', "names itself"),
        ("backends = []", "non-empty list"),
        ("backends = [1]", "non-empty list"),
        ('backends = ["ollama:x"]\nweight = 2', "unknown key"),
        ('backends = ["ollama:x"]\nstrategy = "random"', "strategy"),
        ('backends = ["nope:x"]', "unknown provider"),
    ],
)
def test_bad_router_tables_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, problem: str
) -> None:
    path = write_config(
        tmp_path,
        monkeypatch,
        f"""
[endpoints.team]
provider = "router"
{table}

[endpoints.other]
provider = "router"
backends = ["team"]
""",
    )
    with pytest.raises(hf.InvalidParameterError, match=problem) as caught:
        hf.connect("team")
    assert "config" in str(caught.value) and str(path) in str(caught.value)


def test_router_from_config_builds_from_a_table(tmp_path: Path) -> None:
    router = router_from_config(
        "team", {"provider": "router", "backends": ["ollama:a", "ollama:b"]}, tmp_path / "c.toml"
    )
    try:
        assert router.strategy == "least-busy"
        assert [s.name for s in router.status()] == ["ollama:a", "ollama:b"]
    finally:
        router.close()


async def test_aclose_stops_the_router_and_the_backends_it_built(
    fake_server: Any,
) -> None:
    fake = fake_server()
    router = Router([f"openai://{fake.base_url.removeprefix('http://')}/v1/m"], health_interval=60)
    assert (await router.achat("hello there")).message.content
    await router.aclose()
    await router.aclose()
    with pytest.raises(hf.ServerError, match="closed"):
        await router.achat("hello there")
    assert fake.chats == 1
