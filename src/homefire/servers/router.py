"""`hf.Router`: one LLM that spreads requests over several backends serving the same model.

A local model often runs on more than one box (or in more than one server on one box), and
each has few slots. The router picks a backend per request, sends the whole call to it, and
moves on to the next backend only while nothing of the answer has arrived: a refused
connection, a 503 (loading, busy), a connection dropped before any answer, a timeout before
the headers. Once an answer has begun, a failure is the caller's (a cut-off stream raises
`StreamInterruptedError`); the request is never sent twice.

Each call is handed whole to the chosen backend's own extended path, so tools, structured
output and reasoning are handled the way that backend handles them (natively, or by prompting).

A daemon thread asks each backend's `health()` every `health_interval` seconds; a backend
that is down, loading or failing is skipped, and checked again after a wait that doubles
from `backoff` up to `max_backoff`. A backend with no health check (an in-process model) that
failed gets traffic again after that wait.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from homefire._bridge import run_in_thread
from homefire.errors import (
    HomefireError,
    HomefireTimeoutError,
    InvalidParameterError,
    NoBackendAvailableError,
    NotSupportedError,
    ServerBusyError,
    ServerDisconnectedError,
    ServerError,
    ServerNotRunningError,
)
from homefire.llm.base import LLM
from homefire.options import GenerationOptions
from homefire.types import ChatMessage, ChatResponse, CompletionResponse, LLMMetadata, ModelInfo

Strategy = Literal["least-busy", "round-robin", "fallback"]
Backends = Sequence[LLM | str] | Mapping[str, LLM | str]

T = TypeVar("T")

_STRATEGIES: tuple[str, ...] = get_args(Strategy)
# Timeouts that fire before any of the answer arrived; "total" and "between_chunks" may not.
_BEFORE_ANSWER_TIMEOUTS = frozenset({"connect", "first_token", "max_concurrency", "load"})
_NOT_READY = "not ready (loading its model, or busy)"
_JOIN_SECONDS = 5.0
_CONFIG_KEYS = ("provider", "backends", "strategy", "health_interval", "backoff", "max_backoff")
# The configured routers being built, to catch one that names itself through others.
_BUILDING: ContextVar[tuple[str, ...]] = ContextVar("homefire_routers_building", default=())


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """One backend as the router sees it now."""

    name: str
    up: bool
    reason: str  # why it is down; "" when up
    in_flight: int  # requests the router sent it that have not finished
    answered: int  # requests it answered in full
    failed: int  # requests it failed before answering, each passed on to another backend
    max_concurrency: int | None


@dataclass(slots=True)
class RoutedModelInfo(ModelInfo):
    """A model of the merged list, with the names of the backends that offer it."""

    backends: list[str] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class _Backend:
    index: int
    name: str
    llm: LLM | None  # None until a spec whose server was down at start could be connected
    spec: str | None
    owned: bool
    limit: int | None = None  # the LLM's max_concurrency
    in_flight: int = 0
    answered: int = 0
    failed: int = 0
    up: bool = True
    reason: str = ""
    failures: int = 0
    next_check: float = 0.0
    has_health: bool = True
    metadata: LLMMetadata | None = None

    def __post_init__(self) -> None:
        if self.llm is not None:
            self.limit = _limit(self.llm)

    @property
    def full(self) -> bool:
        return self.limit is not None and self.in_flight >= self.limit


class Router(LLM):
    """One LLM over several backends (LLMs, specs like "ollama:llama3.2", URLs or names
    configured for `hf.connect`); see the module docstring for how requests are routed.

    strategy
        "least-busy"   the backend with the fewest requests in flight (ties take turns)
        "round-robin"  the backends in turn
        "fallback"     the first backend in the list that is up
    Whatever the strategy, a backend with a free slot (under its `max_concurrency`) comes
    before one at its limit.

    Backends given as specs are built (and closed by `close()`) by the router; LLMs passed in
    stay the caller's to close. Pass a mapping {name: backend} to name them in errors and
    `status()`.
    """

    def __init__(
        self,
        backends: Backends,
        strategy: Strategy = "least-busy",
        *,
        health_interval: float = 5.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__()
        if strategy not in _STRATEGIES:
            raise InvalidParameterError(
                "strategy", f"must be one of {', '.join(_STRATEGIES)}, got {strategy!r}"
            )
        for name, value in (
            ("health_interval", health_interval),
            ("backoff", backoff),
            ("max_backoff", max_backoff),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidParameterError(name, f"must be a positive number, got {value!r}")
        self.strategy: Strategy = strategy
        self._interval = float(health_interval)
        self._backoff = float(backoff)
        self._max_backoff = float(max_backoff)
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._closed = False
        self._metadata: LLMMetadata | None = None
        self._backends = _open_backends(backends)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._monitor = threading.Thread(
            target=_monitor,
            args=(weakref.ref(self), self._stop, self._wake),
            name="homefire-router-health",
            daemon=True,
        )
        weakref.finalize(self, _halt, self._stop, self._wake)
        self._monitor.start()

    def __repr__(self) -> str:
        names = [b.name for b in self._backends]
        return f"Router({names!r}, strategy={self.strategy!r})"

    # --- choosing a backend ------------------------------------------------------------------

    def _acquire(self, tried: Sequence[_Backend], turn: int) -> _Backend | None:
        """The next backend to try (counted in flight from here), or None when all were tried.

        Backends that are up come first, in the strategy's order; those marked down are tried
        last, as the mark may be older than the server's recovery.
        """
        with self._lock:
            if self._closed:
                raise ServerError("this router was closed; make a new one")
            left = [b for b in self._backends if b not in tried]
            if not left:
                return None
            pool = [b for b in left if b.up] or left
            count = len(self._backends)
            if self.strategy == "least-busy":
                chosen = min(pool, key=lambda b: (b.full, b.in_flight, (b.index - turn) % count))
            elif self.strategy == "round-robin":
                chosen = min(pool, key=lambda b: (b.full, (b.index - turn) % count))
            else:
                chosen = min(pool, key=lambda b: (b.full, b.index))
            chosen.in_flight += 1
            return chosen

    def _release(self, backend: _Backend, answered: bool, error: HomefireError | None) -> None:
        with self._lock:
            backend.in_flight -= 1
            if answered:
                backend.answered += 1
                backend.failures = 0
                self._mark(backend, True, "")
            elif error is not None:
                backend.failed += 1
                self._mark(backend, False, _why(error))
        if error is not None:
            self._wake.set()

    def _mark(self, backend: _Backend, up: bool, reason: str) -> None:
        """Record a backend's state and when to look at it next (call with the lock held)."""
        now = time.monotonic()
        if up:
            backend.up, backend.reason = True, ""
            backend.next_check = now + self._interval if backend.has_health else math.inf
            return
        backend.up, backend.reason = False, reason
        backend.failures += 1
        wait = self._backoff * 2.0 ** min(backend.failures - 1, 32)
        backend.next_check = now + min(wait, self._max_backoff)

    def _llm(self, backend: _Backend) -> LLM:
        if backend.llm is not None:
            return backend.llm
        assert backend.spec is not None  # a backend without an LLM was given as a spec
        try:
            llm = _connect(backend.spec)
        except HomefireError as exc:
            raise ServerNotRunningError(
                f"could not connect to {backend.spec}: {_why(exc)}"
            ) from None
        with self._lock:
            if backend.llm is None:
                backend.llm, backend.limit = llm, _limit(llm)
                return llm
        llm.close()  # another thread connected it first
        return backend.llm

    async def _allm(self, backend: _Backend) -> LLM:
        if backend.llm is not None:
            return backend.llm
        return await run_in_thread(self._llm, backend)

    # --- routing whole calls ---------------------------------------------------------------

    def _route(self, call: Callable[[LLM, GenerationOptions], T], options: GenerationOptions) -> T:
        failures: list[tuple[_Backend, HomefireError]] = []
        tried: list[_Backend] = []
        turn = next(self._turn)
        while (backend := self._acquire(tried, turn)) is not None:
            tried.append(backend)
            answered, error = False, None
            try:
                llm = self._llm(backend)
                result = call(llm, _merged(llm, options))
                answered = True
                return result
            except HomefireError as exc:
                if not _before_answer(exc):
                    raise
                error = exc
                failures.append((backend, exc))
            finally:
                self._release(backend, answered, error)
        raise _exhausted(failures)

    async def _aroute(
        self, call: Callable[[LLM, GenerationOptions], Awaitable[T]], options: GenerationOptions
    ) -> T:
        failures: list[tuple[_Backend, HomefireError]] = []
        tried: list[_Backend] = []
        turn = next(self._turn)
        while (backend := self._acquire(tried, turn)) is not None:
            tried.append(backend)
            answered, error = False, None
            try:
                llm = await self._allm(backend)
                result = await call(llm, _merged(llm, options))
                answered = True
                return result
            except HomefireError as exc:
                if not _before_answer(exc):
                    raise
                error = exc
                failures.append((backend, exc))
            finally:
                self._release(backend, answered, error)
        raise _exhausted(failures)

    def _route_stream(
        self, start: Callable[[LLM, GenerationOptions], Iterator[T]], options: GenerationOptions
    ) -> Iterator[T]:
        """Fail over until the first chunk arrives; from then on the stream is this backend's."""
        failures: list[tuple[_Backend, HomefireError]] = []
        tried: list[_Backend] = []
        turn = next(self._turn)
        while (backend := self._acquire(tried, turn)) is not None:
            tried.append(backend)
            answered, began, error = False, False, None
            chunks: Iterator[T] | None = None
            try:
                llm = self._llm(backend)
                chunks = start(llm, _merged(llm, options))
                for chunk in chunks:
                    began = True
                    yield chunk
                answered = True
                return
            except HomefireError as exc:
                if began or not _before_answer(exc):
                    raise
                error = exc
                failures.append((backend, exc))
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
                self._release(backend, answered, error)
        raise _exhausted(failures)

    async def _aroute_stream(
        self,
        start: Callable[[LLM, GenerationOptions], AsyncIterator[T]],
        options: GenerationOptions,
    ) -> AsyncIterator[T]:
        failures: list[tuple[_Backend, HomefireError]] = []
        tried: list[_Backend] = []
        turn = next(self._turn)
        while (backend := self._acquire(tried, turn)) is not None:
            tried.append(backend)
            answered, began, error = False, False, None
            chunks: AsyncIterator[T] | None = None
            try:
                llm = await self._allm(backend)
                chunks = start(llm, _merged(llm, options))
                async for chunk in chunks:
                    began = True
                    yield chunk
                answered = True
                return
            except HomefireError as exc:
                if began or not _before_answer(exc):
                    raise
                error = exc
                failures.append((backend, exc))
            finally:
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
                self._release(backend, answered, error)
        raise _exhausted(failures)

    # --- LLM: every call goes whole to one backend's own path -------------------------------

    @property
    def metadata(self) -> LLMMetadata:
        """The backends' metadata combined, with the SMALLEST context window (and output
        length) among them: any request may go to any backend, so only a prompt that fits
        the smallest fits wherever it lands. Backends that cannot be reached yet are left out
        until they can (the result is kept once every backend has answered)."""
        if self._metadata is not None:
            return self._metadata
        reasons: dict[str, str] = {}
        for backend in self._backends:
            if backend.metadata is None and backend.up:
                try:
                    backend.metadata = self._llm(backend).metadata
                except HomefireError as exc:
                    if not _before_answer(exc):
                        raise
                    reasons[backend.name] = _why(exc)
                    with self._lock:
                        self._mark(backend, False, reasons[backend.name])
            elif backend.metadata is None:
                reasons[backend.name] = backend.reason
        known = [b.metadata for b in self._backends if b.metadata is not None]
        if not known:
            raise NoBackendAvailableError(reasons)
        names = list(dict.fromkeys(m.model_name for m in known))
        combined = LLMMetadata(
            context_window=min(m.context_window for m in known),
            num_output=min(m.num_output for m in known),
            model_name=" | ".join(names),
            is_chat_model=all(m.is_chat_model for m in known),
            supports_tools=all(m.supports_tools for m in known),
            is_function_calling_model=all(m.is_function_calling_model for m in known),
            extra={
                "provider": "router",
                "strategy": self.strategy,
                "backends": [b.name for b in self._backends],
            },
        )
        if len(known) == len(self._backends):
            self._metadata = combined
        return combined

    def _native_tools(self, options: GenerationOptions) -> bool:
        """The router never describes tools in the prompt itself: the backend that takes the
        call does, if it must."""
        return True

    def _chat_extended(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> ChatResponse:
        return self._route(lambda llm, o: llm._chat_extended(messages, o), options)

    def _stream_chat_extended(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[ChatResponse]:
        return self._route_stream(lambda llm, o: llm._stream_chat_extended(messages, o), options)

    async def _achat_extended(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> ChatResponse:
        return await self._aroute(lambda llm, o: llm._achat_extended(messages, o), options)

    def _astream_chat_extended(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ChatResponse]:
        return self._aroute_stream(lambda llm, o: llm._astream_chat_extended(messages, o), options)

    def _chat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        return self._route(lambda llm, o: llm._chat(messages, o), options)

    def _stream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[ChatResponse]:
        return self._route_stream(lambda llm, o: llm._stream_chat(messages, o), options)

    def _complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        return self._route(lambda llm, o: llm._complete(prompt, o, formatted), options)

    def _stream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> Iterator[CompletionResponse]:
        return self._route_stream(
            lambda llm, o: llm._stream_complete(prompt, o, formatted), options
        )

    async def _acomplete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        return await self._aroute(lambda llm, o: llm._acomplete(prompt, o, formatted), options)

    def _astream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> AsyncIterator[CompletionResponse]:
        return self._aroute_stream(
            lambda llm, o: llm._astream_complete(prompt, o, formatted), options
        )

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return self._route(lambda llm, _: llm._embed(texts), self.default_options)

    async def _aembed(self, texts: list[str]) -> list[list[float]]:
        return await self._aroute(lambda llm, _: llm._aembed(texts), self.default_options)

    # --- the backends as a whole ------------------------------------------------------------

    def status(self) -> list[BackendStatus]:
        """Each backend's state: up or down (and why), requests in flight and answered."""
        with self._lock:
            return [
                BackendStatus(b.name, b.up, b.reason, b.in_flight, b.answered, b.failed, b.limit)
                for b in self._backends
            ]

    def health(self) -> bool:
        """Check every backend now; True when at least one is ready to answer."""
        for backend in self._backends:
            self._check(backend)
        with self._lock:
            return any(b.up for b in self._backends)

    async def ahealth(self) -> bool:
        """`health()` without blocking the event loop."""
        return await run_in_thread(self.health)

    def models(self) -> list[ModelInfo]:
        """The backends' model lists merged by id, each a RoutedModelInfo naming the backends
        that offer it.

        Backends that cannot list models (in-process ones) or cannot be reached are left out;
        NoBackendAvailableError when none could answer.
        """
        listings: list[tuple[str, list[ModelInfo]]] = []
        reasons: dict[str, str] = {}
        for backend in self._backends:
            try:
                listings.append((backend.name, self._llm(backend).models()))
            except NotSupportedError:
                continue
            except HomefireError as exc:
                if not _before_answer(exc):
                    raise
                reasons[backend.name] = _why(exc)
        if reasons and not listings:
            raise NoBackendAvailableError(reasons)
        return _merge_models(listings)

    async def amodels(self) -> list[ModelInfo]:
        return await run_in_thread(self.models)

    def close(self) -> None:
        """Stop the health checks and close the backends the router built from specs."""
        for llm in self._shut():
            llm.close()

    async def aclose(self) -> None:
        """`close()` for async code: also closes those backends' async connections."""
        for llm in await run_in_thread(self._shut):
            aclose = getattr(llm, "aclose", None)
            if aclose is not None:
                await aclose()
            else:
                llm.close()

    def _shut(self) -> list[LLM]:
        """Stop the monitor (once); the backends the router built, for the caller to close."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
        _halt(self._stop, self._wake)
        if self._monitor is not threading.current_thread():
            self._monitor.join(_JOIN_SECONDS)
        return [b.llm for b in self._backends if b.owned and b.llm is not None]

    # --- health checks (the monitor thread, or `health()`) ------------------------------------

    def _check(self, backend: _Backend) -> None:
        with self._lock:
            if backend.full:  # evidently serving; a probe would only queue behind its requests
                backend.next_check = time.monotonic() + self._interval
                return
        up, reason = self._probe(backend)
        with self._lock:
            if up and backend.has_health:
                backend.failures = 0
            self._mark(backend, up, reason)

    def _probe(self, backend: _Backend) -> tuple[bool, str]:
        """Whether a backend is ready, and why not. A backend without a health check counts
        as ready once its wait is over: the next request finds out."""
        try:
            health = getattr(self._llm(backend), "health", None)
            if health is not None:
                return (True, "") if health() else (False, _NOT_READY)
        except NotSupportedError:
            pass
        except Exception as exc:  # the monitor must outlive any backend's failure
            return False, _why(exc)
        backend.has_health = False
        return True, ""

    def _check_due(self) -> float:
        """Check the backends whose time has come; seconds until the next one is due."""
        now = time.monotonic()
        with self._lock:
            due = [b for b in self._backends if b.next_check <= now]
        for backend in due:
            if self._stop.is_set():
                break
            self._check(backend)
        with self._lock:
            soonest = min(b.next_check for b in self._backends)
        return min(max(soonest - time.monotonic(), 0.0), self._interval)


# --- the monitor thread ----------------------------------------------------------------------


def _monitor(ref: weakref.ref[Router], stop: threading.Event, wake: threading.Event) -> None:
    """Run due health checks until stopped; holds the router only while checking, so a
    router nobody closed can still be collected (its finalizer stops this thread)."""
    while not stop.is_set():
        router = ref()
        if router is None:
            return
        wait = router._check_due()
        del router
        wake.wait(wait)
        wake.clear()


def _halt(stop: threading.Event, wake: threading.Event) -> None:
    stop.set()
    wake.set()


# --- helpers ------------------------------------------------------------------------------------


def _merged(llm: LLM, options: GenerationOptions) -> GenerationOptions:
    """The call's options over the backend's own defaults, as its public methods do."""
    return llm.default_options.merged(options)


def _limit(llm: LLM) -> int | None:
    limit = getattr(getattr(llm, "http", None), "max_concurrency", None)
    return limit if isinstance(limit, int) else None


def _before_answer(exc: HomefireError) -> bool:
    """True when the backend failed before any of its answer arrived, so another may answer."""
    if isinstance(exc, ServerNotRunningError | ServerBusyError | ServerDisconnectedError):
        return True
    return isinstance(exc, HomefireTimeoutError) and exc.which in _BEFORE_ANSWER_TIMEOUTS


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _exhausted(failures: list[tuple[_Backend, HomefireError]]) -> NoBackendAvailableError:
    return NoBackendAvailableError({backend.name: _why(exc) for backend, exc in failures})


def _connect(spec: str) -> LLM:
    return connect_spec(spec)


def connect_spec(spec: str, **kwargs: Any) -> LLM:
    """The LLM a spec names, where a configured name may be a router over other endpoints;
    keyword arguments go to the provider (or override the router's table)."""
    from homefire.servers.config import config_path, load_config
    from homefire.servers.specs import build, parse_spec, resolve

    if parse_spec(spec) is None and not spec.lower().startswith(("http://", "https://")):
        path = config_path()
        entry = load_config(path).get(spec)
        if entry is not None and entry.get("provider") == "router":
            return router_from_config(spec, {**entry, **kwargs}, path)
    return build(resolve(spec), **kwargs)


def _open_backends(backends: Backends) -> list[_Backend]:
    """The backends as routing state; specs are connected here, all closed again on an error.

    A spec naming a bare URL is probed to learn the server type; when nothing answers yet it
    is connected later (the health checks keep trying) instead of failing the router.
    """
    if isinstance(backends, str | LLM) or not isinstance(backends, Sequence | Mapping):
        raise InvalidParameterError(
            "backends", f"must be a list (or a mapping of names) of LLMs or specs, got {backends!r}"
        )
    named = list(backends.items()) if isinstance(backends, Mapping) else list(enumerate(backends))
    if not named:
        raise InvalidParameterError("backends", "give at least one backend")
    opened: list[_Backend] = []
    try:
        for index, (key, item) in enumerate(named):
            name = _unique(key if isinstance(key, str) else _label(item, index), opened)
            if isinstance(item, LLM):
                opened.append(_Backend(index, name, item, None, owned=False))
            elif isinstance(item, str) and item.strip():
                opened.append(_open_spec(index, name, item))
            else:
                raise InvalidParameterError(
                    "backends", f"each backend must be an LLM or a spec string, got {item!r}"
                )
    except BaseException:
        for backend in opened:
            if backend.owned and backend.llm is not None:
                backend.llm.close()
        raise
    return opened


def _open_spec(index: int, name: str, spec: str) -> _Backend:
    try:
        return _Backend(index, name, _connect(spec), spec, owned=True)
    except (ServerError, HomefireTimeoutError) as exc:
        backend = _Backend(index, name, None, spec, owned=True, up=False, reason=_why(exc))
        backend.failures = 1
        return backend


def _label(item: Any, index: int) -> str:
    if isinstance(item, str):
        return item
    base_url = getattr(item, "base_url", None)
    return base_url if isinstance(base_url, str) else f"{type(item).__name__}#{index}"


def _unique(name: str, taken: list[_Backend]) -> str:
    names = {b.name for b in taken}
    if name not in names:
        return name
    return next(f"{name}#{n}" for n in itertools.count(2) if f"{name}#{n}" not in names)


def _merge_models(listings: list[tuple[str, list[ModelInfo]]]) -> list[ModelInfo]:
    merged: dict[str, RoutedModelInfo] = {}
    for name, models in listings:
        for model in models:
            seen = merged.get(model.id)
            if seen is None:
                merged[model.id] = RoutedModelInfo(
                    id=model.id,
                    loaded=model.loaded,
                    context_length=model.context_length,
                    max_context_length=model.max_context_length,
                    quantization=model.quantization,
                    size_bytes=model.size_bytes,
                    capabilities=list(model.capabilities),
                    raw=model.raw,
                    nodes=list(model.nodes),
                    backends=[name],
                )
            else:
                seen.loaded = seen.loaded or model.loaded
                seen.nodes += [node for node in model.nodes if node not in seen.nodes]
                if name not in seen.backends:
                    seen.backends.append(name)
    return list(merged.values())


# --- the config file -----------------------------------------------------------------------------


def router_from_config(name: str, table: Mapping[str, Any], path: Path) -> Router:
    """The Router an [endpoints.NAME] table with `provider = "router"` describes:

        [endpoints.team]
        provider = "router"
        strategy = "least-busy"            # or "round-robin", "fallback"
        backends = ["local-llama", "http://127.0.0.1:8081", "ollama:llama3.2"]
        health_interval = 5                # seconds; also backoff, max_backoff

    Each backend is a spec, a URL or the name of another configured endpoint.
    """
    where = f"endpoint {name!r} in {path}"
    unknown = sorted(set(table) - set(_CONFIG_KEYS))
    if unknown:
        raise InvalidParameterError(
            "config",
            f"{where}: unknown key(s) {', '.join(unknown)} for a router; "
            f"the keys are {', '.join(_CONFIG_KEYS)}",
        )
    backends = table.get("backends")
    if (
        not isinstance(backends, list)
        or not backends
        or not all(isinstance(b, str) and b.strip() for b in backends)
    ):
        raise InvalidParameterError(
            "config", f"{where}: backends must be a non-empty list of specs or endpoint names"
        )
    building = _BUILDING.get()
    if name in building or name in backends:
        chain = " -> ".join([*building, name])
        raise InvalidParameterError("config", f"{where}: the router names itself ({chain})")
    options = {k: table[k] for k in ("health_interval", "backoff", "max_backoff") if k in table}
    token = _BUILDING.set((*building, name))
    try:
        return Router(backends, table.get("strategy", "least-busy"), **options)
    except InvalidParameterError as exc:
        raise InvalidParameterError("config", f"{where}: {exc}") from None
    finally:
        _BUILDING.reset(token)
