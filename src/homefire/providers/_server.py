"""`ServerLLM`: what every provider for an HTTP server shares, written once for sync and async.

A server provider is configuration plus its own lifecycle calls:

Routes (class attributes)
    `chat_route`, `completion_route`   path, answer parser, stream assembler, framing (SSE or
                                       NDJSON) of the two generation routes
    `models_path`, `embeddings_path`, `health_path`   the plain GET/POST routes
Hooks (override any of them)
    `_chat_body(messages, options, stream)`, `_completion_body(prompt, options, stream, formatted)`
                                       the wire body (extra fields a server takes)
    `_after_chat(response, messages)`, `_after_completion(response, prompt)`
                                       a check on the final answer (Ollama's silent truncation)
    `_settle()`                        what must happen once before the first request (LM Studio
                                       loading the model with the settings asked for)
    `_ready_for(options, route)`       what must be known before a request with these options is
                                       built (how an unknown server takes a JSON schema), or a
                                       NotSupportedError before anything is sent
    `_models()`, `_load(...)`, `_unload(...)`, `_pull(...)`, `_health()`, `_tool_support(...)`
                                       the lifecycle, where the server has one
    `_http_error(status, body, url=)`  a server's own error bodies to homefire errors

The I/O is described, not done: each operation above is a *plan*, a generator that yields
steps (`Call` one request, `Listen` to a stream, `Pause`) and receives their answers (or has
their errors raised at the `yield`). `_run` carries a plan out with the blocking client and
`_arun` with the async one, so every operation exists sync and async from one definition and
the two cannot drift. Generation streams are driven the same way by `_stream`/`_astream`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from homefire._validate import integer, seconds, text
from homefire.errors import (
    APIStatusError,
    HomefireError,
    HomefireTimeoutError,
    InvalidParameterError,
    ServerBusyError,
    ServerNotRunningError,
)
from homefire.http import HTTPClient, Response, RetryPolicy, Timeouts
from homefire.http.urls import check_base_url
from homefire.llm.base import LLM
from homefire.options import GenerationOptions, parse_options
from homefire.progress import ProgressCallback
from homefire.protocols import openai
from homefire.protocols.errors import error_from_response
from homefire.providers import _registry
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    LoadRequest,
    ModelInfo,
)

T = TypeVar("T")
R = TypeVar("R", ChatResponse, CompletionResponse)
Framing = Literal["sse", "ndjson"]
RouteKind = Literal["chat", "completion"]

DEFAULT_CONTEXT = 4096
DEFAULT_OUTPUT = 256
_READY_POLL_SECONDS = 0.25


# --- the steps a plan yields ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One request. The plan receives the JSON answer, or with `raw` the `Response` whatever
    its status; an error status (without `raw`) or a transport failure is raised in the plan."""

    method: str
    path: str
    body: Any = None
    params: Mapping[str, Any] | None = None
    timeout: float | None = None
    retry: bool = True
    raw: bool = False

    def options(self) -> dict[str, Any]:
        """The keyword arguments every client method takes."""
        return {"json": self.body, "params": self.params, "timeout": self.timeout}


@dataclass(frozen=True, slots=True)
class Listen:
    """POST `body` and hand each event of the streamed answer to `on_event`, to the end."""

    path: str
    body: Any
    framing: Framing
    on_event: Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait before the next step (polling a server that is still busy)."""

    seconds: float


Step = Call | Listen | Pause
Plan = Generator[Step, Any, T]


@dataclass(frozen=True, slots=True)
class _Failed:
    error: HomefireError


class Assembler(Protocol[R]):  # type: ignore[misc]  # a constrained TypeVar as Protocol parameter
    """Builds answers from stream events: a piece per event that adds to it, then the whole."""

    def feed(self, event: Any) -> R | None: ...

    def finish(self) -> R: ...


@dataclass(frozen=True, slots=True)
class Route(Generic[R]):
    """A generation route: where it is, how its answers are read whole and streamed."""

    path: str
    parse: Callable[[Any], R]
    assembler: Callable[[], Assembler[R]]
    framing: Framing = "sse"


@dataclass(frozen=True, slots=True)
class Exchange(Generic[R]):
    """One generation request ready to send: its route, its body and the check on the answer."""

    route: Route[R]
    body: dict[str, Any]
    check: Callable[[R], R] = field(default=lambda response: response)


OPENAI_CHAT = Route("/v1/chat/completions", openai.parse_chat, openai.ChatStreamAssembler)
OPENAI_COMPLETION = Route(
    "/v1/completions", openai.parse_completion, openai.CompletionStreamAssembler
)


def named_choice(options: GenerationOptions) -> bool:
    """Whether the options force one named tool (not "auto", "none" or "required")."""
    return bool(options.tools) and options.tool_choice not in (None, "auto", "none", "required")


class ServerLLM(LLM):
    """An LLM served over HTTP; see the module docstring for what a provider declares."""

    chat_route: ClassVar[Route[ChatResponse]] = OPENAI_CHAT
    completion_route: ClassVar[Route[CompletionResponse]] = OPENAI_COMPLETION
    models_path: ClassVar[str] = "/v1/models"
    embeddings_path: ClassVar[str] = "/v1/embeddings"
    health_path: ClassVar[str | None] = None
    ready_timeout: ClassVar[float] = 60.0
    """How long `wait_until_ready()` waits by default."""
    load_instead: ClassVar[str] = "load models with the server's own tools"
    """What to tell a user who asks this server to load or unload a model, when it cannot."""

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        context_window: int | None = None,
        temperature: float | None = None,
        max_new_tokens: int | None = None,
        is_chat_model: bool = True,
        additional_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            parse_options(
                {
                    "temperature": temperature,
                    "max_tokens": max_new_tokens,
                    "extra": dict(additional_kwargs or {}),
                }
            )
        )
        text("model", model, optional=True)
        integer("context_window", context_window, low=1, optional=True)
        if timeouts is not None and not isinstance(timeouts, Timeouts):
            raise InvalidParameterError(
                "timeouts", f"must be hf.Timeouts(connect=..., first_token=...), got {timeouts!r}"
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidParameterError(
                "retry", f"must be hf.RetryPolicy(attempts=..., backoff=...), got {retry!r}"
            )
        row = self._row()
        if api_key is None and row.api_key_env:
            api_key = os.environ.get(row.api_key_env) or None
        self.model = model
        self.context_window = context_window
        self.is_chat_model = is_chat_model
        self.http = HTTPClient(
            self._normalise_base_url(check_base_url(base_url or row.default_base_url or "")),
            api_key=api_key,
            headers=headers,
            timeouts=timeouts or Timeouts(),
            retry=retry or RetryPolicy(),
            max_concurrency=max_concurrency,
            error_mapper=self._mapped_error,
            start_hint=row.start_hint,
        )
        self._metadata: LLMMetadata | None = None
        self._settled = False
        self._settle_lock = threading.Lock()
        self._asettle_lock = asyncio.Lock()

    def __repr__(self) -> str:
        model = f", model={self.model!r}" if self.model else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}{model})"

    @classmethod
    def _row(cls) -> _registry.Provider:
        row = _registry.for_class(cls)
        if row is None:
            raise TypeError(f"{cls.__name__} derives from no provider in homefire's registry")
        return row

    @property
    def label(self) -> str:
        """How messages name this server ("LM Studio")."""
        return self._row().label

    @property
    def base_url(self) -> str:
        return self.http.base_url

    # --- hooks ----------------------------------------------------------------------------

    def _normalise_base_url(self, base_url: str) -> str:
        """The server root: routes carry their own `/v1`, so a base URL ending in one (as
        OpenAI clients take it) loses it."""
        trimmed = base_url.rstrip("/")
        return trimmed.removesuffix("/v1")

    def _http_error(self, status: int, body: Any, *, url: str | None = None) -> HomefireError:
        return error_from_response(status, body, url=url)

    def _mapped_error(self, status: int, body: Any, *, url: str | None = None) -> HomefireError:
        """The provider's error for a status; a missing route also says when the base URL
        itself looks wrong."""
        error = self._http_error(status, body, url=url)
        hint = self._address_hint() if status == 404 and type(error) is APIStatusError else None
        if hint is None:
            return error
        return APIStatusError(f"{error}. {hint}", url=url, status=status, body=body)

    def _address_hint(self) -> str | None:
        """What to change in a base URL at which a route is missing: routes carry their own
        paths, so this provider wants the server's root."""
        parts = urlsplit(self.base_url)
        if not parts.path:
            return None
        root = f"{parts.scheme}://{parts.netloc}"
        return (
            f"{self.label} takes the server's root address: if the server is {root}, drop "
            f"{parts.path} from base_url"
        )

    def _request_model(self) -> str | None:
        return self.model

    def _chat_body(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, stream: bool
    ) -> dict[str, Any]:
        return openai.build_chat_body(messages, options, model=self._request_model(), stream=stream)

    def _completion_body(
        self, prompt: str, options: GenerationOptions, stream: bool, formatted: bool
    ) -> dict[str, Any]:
        return openai.build_completion_body(
            prompt, options, model=self._request_model(), stream=stream
        )

    def _after_chat(self, response: ChatResponse, messages: Sequence[ChatMessage]) -> ChatResponse:
        return response

    def _after_completion(self, response: CompletionResponse, prompt: str) -> CompletionResponse:
        return response

    def _settle(self) -> Plan[None]:
        """Nothing by default; a provider that must ask or set up the server first does it here
        (it runs once, before the first request that needs the server)."""
        return
        yield

    def _ready_for(self, options: GenerationOptions, route: RouteKind) -> Plan[None]:
        """Nothing by default: a provider that must first learn how its server takes these
        options (or find that it cannot) does it here, before the request is built."""
        return
        yield

    def _tool_support(self, options: GenerationOptions) -> Plan[bool]:
        """Whether the server takes these tools itself. Local OpenAI-compatible servers call
        tools for "auto", "none" and "required", but most ignore a named `tool_choice` or
        treat it as "auto", so a named one goes through homefire's constrained prompting."""
        return not named_choice(options)
        yield

    def _fetch_metadata(self) -> LLMMetadata:
        """Metadata from the model list: the requested model's entry, else the first."""
        models = self.models()
        chosen = next((m for m in models if m.id == self.model), models[0] if models else None)
        context = self.context_window
        if context is None and chosen is not None:
            context = chosen.context_length
        name = self.model or (chosen.id if chosen else "unknown")
        native = chosen is not None and "tools" in chosen.capabilities
        return self._describe(context, name, native_tools=native)

    def _describe(
        self, context: int | None, name: str, *, native_tools: bool = False, **extra: Any
    ) -> LLMMetadata:
        return LLMMetadata(
            context_window=context or DEFAULT_CONTEXT,
            num_output=self.default_options.max_tokens or DEFAULT_OUTPUT,
            model_name=name,
            is_chat_model=self.is_chat_model,
            supports_tools=True,
            is_function_calling_model=native_tools,
            extra={"base_url": self.base_url, "provider": self.label, **extra},
        )

    # --- lifecycle plans ------------------------------------------------------------------

    def _models(self) -> Plan[list[ModelInfo]]:
        return openai.parse_models((yield Call("GET", self.models_path)))

    def _load(self, request: LoadRequest) -> Plan[ModelInfo]:
        raise self._cannot("load models", self.load_instead)
        yield

    def _unload(self, model: str | None) -> Plan[None]:
        raise self._cannot("unload models", self.load_instead)
        yield

    def _pull(self, model: str, progress: ProgressCallback | None) -> Plan[None]:
        raise self._cannot("download models", "download them with the server's own tools")
        yield

    def _health(self) -> Plan[bool]:
        """True when the health route answers 2xx, False while the server is busy or loading."""
        response = yield self._probe(self.health_path or self.models_path)
        return self._judge(response)

    def _probe(self, path: str, params: Mapping[str, Any] | None = None) -> Call:
        return Call("GET", path, params=params, timeout=self.http.timeouts.connect, raw=True)

    def _judge(self, response: Response, accept: Callable[[Any], bool] | None = None) -> bool:
        if response.status < 400:
            return accept is None or accept(response.json_or_text())
        error = self._mapped_error(response.status, response.json_or_text(), url=response.url)
        if isinstance(error, ServerBusyError):
            return False
        raise error

    def _wait_ready(self, timeout: float | None) -> Plan[None]:
        limit = seconds("timeout", self.ready_timeout if timeout is None else timeout)
        end = time.monotonic() + limit
        while True:
            try:
                if (yield from self._health()):
                    return
            except (ServerNotRunningError, HomefireTimeoutError):
                pass  # still starting, or too busy loading to answer the probe in time
            if time.monotonic() + _READY_POLL_SECONDS > end:
                raise HomefireTimeoutError(
                    "ready", limit, f"waiting for {self.label} at {self.base_url} to be ready"
                )
            yield Pause(_READY_POLL_SECONDS)

    # --- the lifecycle, sync and async ----------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """The models the server offers, marked `loaded` where it says so."""
        return self._run(self._models())

    async def amodels(self) -> list[ModelInfo]:
        return await self._arun(self._models())

    def _load_model(self, request: LoadRequest) -> ModelInfo:
        return self._run(self._load(request))

    async def _aload_model(self, request: LoadRequest) -> ModelInfo:
        return await self._arun(self._load(request))

    def unload(self, model: str | None = None) -> None:
        self._run(self._unload(model))

    async def aunload(self, model: str | None = None) -> None:
        await self._arun(self._unload(model))

    def pull(self, model: str, *, progress: ProgressCallback | None = None) -> None:
        self._run(self._pull(model, progress))

    async def apull(self, model: str, *, progress: ProgressCallback | None = None) -> None:
        await self._arun(self._pull(model, progress))

    def health(self) -> bool:
        """True when the server is ready to answer, False while it loads or is busy.

        Raises ServerNotRunningError when nothing listens, and the server's own error when
        it refuses for another reason (a wrong API key, for one).
        """
        return self._run(self._health())

    async def ahealth(self) -> bool:
        return await self._arun(self._health())

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Poll until the server is ready; nothing listening yet counts as not ready."""
        self._run(self._wait_ready(timeout))

    async def await_until_ready(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._arun(self._wait_ready(timeout))

    # --- generation -----------------------------------------------------------------------

    @property
    def metadata(self) -> LLMMetadata:
        """Asks the server once (for the context window) unless everything was given."""
        if self._metadata is None:
            if self.context_window is not None and self.model is not None:
                self._metadata = self._describe(self.context_window, self.model)
            else:
                self._metadata = self._fetch_metadata()
        return self._metadata

    def _chat_exchange(
        self, messages: list[ChatMessage], options: GenerationOptions, stream: bool
    ) -> Exchange[ChatResponse]:
        body = self._chat_body(messages, options, stream)
        return Exchange(self.chat_route, body, lambda r: self._after_chat(r, messages))

    def _completion_exchange(
        self, prompt: str, options: GenerationOptions, stream: bool, formatted: bool
    ) -> Exchange[CompletionResponse]:
        body = self._completion_body(prompt, options, stream, formatted)
        return Exchange(self.completion_route, body, lambda r: self._after_completion(r, prompt))

    def _exchange(self, exchange: Exchange[R]) -> Plan[R]:
        answer = yield Call("POST", exchange.route.path, exchange.body)
        return exchange.check(exchange.route.parse(answer))

    def _prepared(self, options: GenerationOptions, route: RouteKind) -> None:
        self._ensure_settled()
        self._run(self._ready_for(options, route))

    async def _aprepared(self, options: GenerationOptions, route: RouteKind) -> None:
        await self._aensure_settled()
        await self._arun(self._ready_for(options, route))

    def _chat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        self._prepared(options, "chat")
        return self._run(self._exchange(self._chat_exchange(messages, options, False)))

    async def _achat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        await self._aprepared(options, "chat")
        return await self._arun(self._exchange(self._chat_exchange(messages, options, False)))

    def _stream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[ChatResponse]:
        self._prepared(options, "chat")
        return self._stream(self._chat_exchange(messages, options, True))

    def _astream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ChatResponse]:
        return self._astream(
            lambda: self._aprepared(options, "chat"),
            lambda: self._chat_exchange(messages, options, True),
        )

    def _complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        self._prepared(options, "completion")
        exchange = self._completion_exchange(prompt, options, False, formatted)
        return self._run(self._exchange(exchange))

    async def _acomplete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        await self._aprepared(options, "completion")
        exchange = self._completion_exchange(prompt, options, False, formatted)
        return await self._arun(self._exchange(exchange))

    def _stream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> Iterator[CompletionResponse]:
        self._prepared(options, "completion")
        return self._stream(self._completion_exchange(prompt, options, True, formatted))

    def _astream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> AsyncIterator[CompletionResponse]:
        return self._astream(
            lambda: self._aprepared(options, "completion"),
            lambda: self._completion_exchange(prompt, options, True, formatted),
        )

    def _native_tools(self, options: GenerationOptions) -> bool:
        return self._run(self._tool_support(options))

    async def _anative_tools(self, options: GenerationOptions) -> bool:
        return await self._arun(self._tool_support(options))

    def _embedding(self, texts: list[str]) -> Plan[list[list[float]]]:
        body = openai.build_embeddings_body(texts, model=self._request_model())
        return openai.parse_embeddings((yield Call("POST", self.embeddings_path, body)))

    def _embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text (the server must serve an embedding model)."""
        self._ensure_settled()
        return self._run(self._embedding(texts))

    async def _aembed(self, texts: list[str]) -> list[list[float]]:
        await self._aensure_settled()
        return await self._arun(self._embedding(texts))

    # --- carrying plans out ---------------------------------------------------------------

    def _ensure_settled(self) -> None:
        if self._settled:
            return
        with self._settle_lock:
            if not self._settled:
                self._run(self._settle())
                self._settled = True

    async def _aensure_settled(self) -> None:
        if self._settled:
            return
        async with self._asettle_lock:
            if not self._settled:
                await self._arun(self._settle())
                self._settled = True

    def _run(self, plan: Plan[T]) -> T:
        """Carry a plan out with the blocking client."""
        driver = _Driver(plan)
        while (step := driver.next()) is not None:
            driver.answer = _outcome(self._perform, step)
        return driver.result

    async def _arun(self, plan: Plan[T]) -> T:
        """Carry a plan out with the async client, never blocking the event loop."""
        driver = _Driver(plan)
        while (step := driver.next()) is not None:
            driver.answer = await _aoutcome(self._aperform, step)
        return driver.result

    def _perform(self, step: Step) -> Any:
        if isinstance(step, Pause):
            time.sleep(step.seconds)
            return None
        if isinstance(step, Listen):
            for event in self._events(step.path, step.body, step.framing):
                step.on_event(event)
            return None
        if step.raw:
            return self.http.request(step.method, step.path, **step.options())
        return self.http.send_json(step.method, step.path, retry=step.retry, **step.options())

    async def _aperform(self, step: Step) -> Any:
        if isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
            return None
        if isinstance(step, Listen):
            async for event in self._aevents(step.path, step.body, step.framing):
                step.on_event(event)
            return None
        if step.raw:
            return await self.http.arequest(step.method, step.path, **step.options())
        return await self.http.asend_json(
            step.method, step.path, retry=step.retry, **step.options()
        )

    def _events(self, path: str, body: Any, framing: Framing) -> Iterator[Any]:
        if framing == "ndjson":
            return self.http.stream_ndjson(path, body)
        return self.http.stream_sse(path, body)

    def _aevents(self, path: str, body: Any, framing: Framing) -> AsyncIterator[Any]:
        if framing == "ndjson":
            return self.http.astream_ndjson(path, body)
        return self.http.astream_sse(path, body)

    def _stream(self, exchange: Exchange[R]) -> Iterator[R]:
        route = exchange.route
        assembler = route.assembler()
        for event in self._events(route.path, exchange.body, route.framing):
            if (piece := assembler.feed(event)) is not None:
                yield piece
        yield exchange.check(assembler.finish())

    async def _astream(
        self, prepare: Callable[[], Awaitable[None]], make: Callable[[], Exchange[R]]
    ) -> AsyncIterator[R]:
        await prepare()
        exchange = make()
        route = exchange.route
        assembler = route.assembler()
        async for event in self._aevents(route.path, exchange.body, route.framing):
            if (piece := assembler.feed(event)) is not None:
                yield piece
        yield exchange.check(assembler.finish())

    def close(self) -> None:
        self.http.close()

    async def aclose(self) -> None:
        await self.http.aclose()


class _Driver(Generic[T]):
    """Walks a plan: hands it each step's answer (or raises the step's error inside it) and
    keeps its result once it returns."""

    def __init__(self, plan: Plan[T]) -> None:
        self._plan = plan
        self.answer: Any = None
        self.result: T

    def next(self) -> Step | None:
        """The next step to carry out, or None once the plan has returned."""
        try:
            if isinstance(self.answer, _Failed):
                return self._plan.throw(self.answer.error)
            return self._plan.send(self.answer)
        except StopIteration as stop:
            self.result = stop.value
            return None


def _outcome(perform: Callable[[Step], Any], step: Step) -> Any:
    try:
        return perform(step)
    except HomefireError as exc:
        return _Failed(exc)


async def _aoutcome(perform: Callable[[Step], Awaitable[Any]], step: Step) -> Any:
    try:
        return await perform(step)
    except HomefireError as exc:
        return _Failed(exc)
