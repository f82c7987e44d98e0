"""The routes: OpenAI-compatible chat, completions, embeddings and models for any `LLM`, plus
llama.cpp's native routes when the LLM is the in-process engine.

Chat goes through the LLM's own `achat` / `astream_chat`, so a model file's template is
rendered by homefire's sandboxed renderer, and tools, `tool_choice` and JSON schemas get
homefire's constrained fallback where the backend has no native support. Until the model has
loaded every route but `/health` answers 503 "Loading model", as llama.cpp's server does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homefire.errors import (
    APIStatusError,
    AuthenticationError,
    ChatTemplateError,
    ContextOverflowError,
    HomefireError,
    HomefireTimeoutError,
    InvalidParameterError,
    ModelNotFoundError,
    NotSupportedError,
    ServerBusyError,
    ServerError,
    ServerNotRunningError,
    StreamInterruptedError,
)
from homefire.llm.base import LLM
from homefire.options import GenerationOptions
from homefire.protocols import openai_server as wire
from homefire.servers.front.guard import ASGIApp, Guard, GuardSettings, Receive, Scope, Send
from homefire.servers.front.metrics import ROUTES, Metrics
from homefire.servers.front.native import FORWARDED, GENERATING, NativeRoutes
from homefire.servers.front.native import with_defaults as native_defaults
from homefire.servers.front.transport import (
    SSE_DONE,
    BodyError,
    ClientLeft,
    Stopping,
    StreamedResponse,
    dumps,
    json_response,
    read_body,
    read_json,
    sse,
    watched,
)
from homefire.types import ChatMessage, ChatResponse, CompletionResponse

logger = logging.getLogger("homefire.serve")

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Served:
    """What the front end serves, once it is ready.

    `native` is set for the in-process engine (llama.cpp's native routes go to it);
    `render` turns messages into the prompt (for `/apply-template`) where the LLM can say.
    """

    llm: LLM
    model_id: str
    owned_by: str = "homefire"
    meta: dict[str, Any] = field(default_factory=dict)
    native: NativeRoutes | None = None
    defaults: GenerationOptions = field(default_factory=GenerationOptions)
    render: Callable[[list[ChatMessage]], str] | None = None
    embeddings: bool = False


class FrontState:
    """Set once the model is ready (or the load failed); routes read it."""

    def __init__(self) -> None:
        self.served: Served | None = None
        self.started = int(time.time())
        self.stopping = asyncio.Event()


class _NotReady(Exception):
    pass


@dataclass(frozen=True, slots=True)
class FrontSettings:
    guard: GuardSettings
    max_body: int


# --- errors ---------------------------------------------------------------------------------


def error_status(exc: HomefireError) -> tuple[int, str, dict[str, Any]]:
    """(HTTP status, error type, extra fields) for an error raised while answering."""
    if isinstance(exc, ContextOverflowError):
        extra = {"n_prompt_tokens": exc.prompt_tokens, "n_ctx": exc.context_window}
        return 400, "exceed_context_size_error", {k: v for k, v in extra.items() if v is not None}
    if isinstance(exc, InvalidParameterError | ChatTemplateError):
        return 400, "invalid_request_error", {}
    if isinstance(exc, NotSupportedError):
        return 400, "not_supported_error", {}
    if isinstance(exc, ModelNotFoundError):
        return 404, "not_found_error", {}
    if isinstance(exc, ServerBusyError | ServerNotRunningError):
        return 503, "unavailable_error", {}
    if isinstance(exc, HomefireTimeoutError):
        return 504, "server_error", {}
    if isinstance(exc, AuthenticationError):  # the backend refused *our* key: not the client's
        return 502, "server_error", {}
    if isinstance(exc, APIStatusError) and 400 <= exc.status < 500:
        return exc.status, "invalid_request_error", {}
    if isinstance(exc, ServerError):
        return 502, "server_error", {}
    return 500, "server_error", {}


def _message(exc: HomefireError) -> str:
    if isinstance(exc, ContextOverflowError):
        return (
            "the request exceeds the available context size: the prompt has "
            f"{exc.prompt_tokens} tokens, the context window is {exc.context_window} tokens"
        )
    return str(exc)


def error_body(exc: HomefireError) -> tuple[int, dict[str, Any]]:
    status, kind, extra = error_status(exc)
    return status, wire.error_answer(status, _message(exc), kind, **extra)


def _error(status: int, message: str, kind: str) -> Response:
    return json_response(wire.error_answer(status, message, kind), status)


_STOPPING = "the server is stopping; send the request again to another one, or later"


def _loading() -> Response:
    return _error(503, "Loading model", "unavailable_error")


def _guarded(handler: Handler) -> Handler:
    """Every route answers a typed error as JSON, and nothing escapes as a crash."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except _NotReady:
            return _loading()
        except BodyError as exc:
            return _error(exc.status, exc.message, "invalid_request_error")
        except ClientLeft:
            return Response(status_code=499)  # nobody reads it
        except Stopping:
            return _error(503, _STOPPING, "unavailable_error")
        except HomefireError as exc:
            status, body = error_body(exc)
            return json_response(body, status)
        except Exception:
            logger.exception("unexpected error answering %s", request.url.path)
            return _error(500, "internal error; see the server's log", "server_error")

    return run


# --- the application ------------------------------------------------------------------------


class Front:
    """The routes, bound to one `FrontState`."""

    def __init__(self, state: FrontState, settings: FrontSettings, metrics: Metrics) -> None:
        self.state = state
        self.settings = settings
        self.metrics = metrics

    def ready(self) -> Served:
        if self.state.served is None:
            raise _NotReady
        return self.state.served

    def routes(self) -> list[Route]:
        own: list[tuple[str, Handler, str]] = [
            ("/health", self.health, "GET"),
            ("/v1/health", self.health, "GET"),
            ("/v1/models", self.models, "GET"),
            ("/models", self.models, "GET"),
            ("/v1/models/{model_id:path}", self.model, "GET"),
            ("/v1/chat/completions", self.chat, "POST"),
            ("/chat/completions", self.chat, "POST"),
            ("/v1/completions", self.completion, "POST"),
            ("/v1/embeddings", self.embeddings, "POST"),
            ("/apply-template", self.apply_template, "POST"),
            ("/metrics", self.prometheus, "GET"),
        ]
        routes = [Route(path, _guarded(h), methods=[method]) for path, h, method in own]
        for path, method in FORWARDED.items():
            routes.append(Route(path, _guarded(self.forward), methods=[method]))
        return routes

    # --- state and models -----------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        self.ready()
        return json_response({"status": "ok"})

    def _model_entry(self, served: Served) -> dict[str, Any]:
        return {
            "id": served.model_id,
            "object": "model",
            "created": self.state.started,
            "owned_by": served.owned_by,
            "meta": served.meta,
        }

    async def models(self, request: Request) -> Response:
        served = self.ready()
        return json_response({"object": "list", "data": [self._model_entry(served)]})

    async def model(self, request: Request) -> Response:
        served = self.ready()
        asked = request.path_params["model_id"]
        if asked != served.model_id:
            message = f"model {asked!r} is not served here; this server serves {served.model_id!r}"
            return _error(404, message, "not_found_error")
        return json_response(self._model_entry(served))

    async def prometheus(self, request: Request) -> Response:
        served = self.state.served
        text = self.metrics.render()
        if served is not None and served.native is not None:
            text += await served.native.metrics()
        return Response(text, media_type="text/plain; version=0.0.4")

    # --- generation -----------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        served = self.ready()
        parsed = wire.parse_chat_request(await read_json(request, self.settings.max_body))
        ids = _Ids("chatcmpl", served.model_id)
        llm = served.llm
        if not parsed.stream:
            response = await self._answer(request, llm.achat(parsed.messages, **parsed.options))
            return json_response(wire.chat_answer(response, **ids.fields()))
        stream = llm.astream_chat(parsed.messages, **parsed.options)
        chunks = wire.ChatChunks(include_usage=parsed.include_usage, **ids.fields())
        return await self._stream(request, stream, _chat_events(stream, chunks, self.metrics))

    async def completion(self, request: Request) -> Response:
        served = self.ready()
        parsed = wire.parse_completion_request(await read_json(request, self.settings.max_body))
        ids = _Ids("cmpl", served.model_id)
        llm = served.llm
        if not parsed.stream:
            response = await self._answer(request, llm.acomplete(parsed.prompt, **parsed.options))
            return json_response(wire.completion_answer(response, **ids.fields()))
        stream = llm.astream_complete(parsed.prompt, **parsed.options)
        events = _completion_events(stream, ids, parsed.include_usage, self.metrics)
        return await self._stream(request, stream, events)

    async def _answer(self, request: Request, work: Awaitable[Any]) -> Any:
        """A whole answer, counted."""
        self.metrics.in_flight += 1
        try:
            response = await watched(request.receive, self.state.stopping, work)
        finally:
            self.metrics.in_flight -= 1
        self.metrics.used(response.usage)
        return response

    async def _stream(
        self, request: Request, stream: AsyncIterator[Any], events: AsyncIterator[bytes]
    ) -> Response:
        """Start streaming once the first piece is there: an error before it (a prompt too
        long, say) is then a plain HTTP error, as clients expect."""
        self.metrics.in_flight += 1
        try:
            first = await watched(request.receive, self.state.stopping, anext(events))
        except BaseException:
            self.metrics.in_flight -= 1
            await _aclose(events)
            await _aclose(stream)
            raise

        async def close() -> None:
            self.metrics.in_flight -= 1
            await _aclose(events)

        farewell = sse(wire.error_answer(503, _STOPPING, "unavailable_error"))
        return StreamedResponse(
            _prepended(first, events), self.state.stopping, on_close=close, farewell=farewell
        )

    async def embeddings(self, request: Request) -> Response:
        served = self.ready()
        if not served.embeddings:
            return _error(
                501,
                "this server was started without embeddings: restart it with --embeddings",
                "not_supported_error",
            )
        texts, as_base64 = wire.parse_embeddings_request(
            await read_json(request, self.settings.max_body)
        )
        vectors = await watched(request.receive, self.state.stopping, served.llm.aembed(texts))
        tokens = await asyncio.to_thread(_count_tokens, served.llm, texts)
        return json_response(
            wire.embeddings_answer(
                vectors, model=served.model_id, prompt_tokens=tokens, as_base64=as_base64
            )
        )

    async def apply_template(self, request: Request) -> Response:
        served = self.ready()
        if served.render is None:
            return _error(501, "this backend does not expose its prompt", "not_supported_error")
        body = await read_json(request, self.settings.max_body)
        messages = wire.parse_chat_request(
            {"messages": body.get("messages") if isinstance(body, dict) else None}
        ).messages
        prompt = await asyncio.to_thread(served.render, messages)
        return json_response({"prompt": prompt})

    # --- llama.cpp's native routes --------------------------------------------------------

    async def forward(self, request: Request) -> Response:
        served = self.ready()
        path = request.url.path
        if served.native is None:
            return _error(
                501,
                f"{path} is a llama.cpp route, served only for an in-process model; "
                "use the OpenAI-compatible routes under /v1",
                "not_supported_error",
            )
        query = request.url.query
        try:
            if path == "/props":
                status, props = await served.native.props(query)
                return json_response(props, status)
            body = None
            if request.method == "POST":
                body = await read_body(request, self.settings.max_body)
                if path in GENERATING:
                    body = _with_defaults(body, served.defaults)
            upstream = await served.native.send(request.method, path, query, body)
        except (httpx.HTTPError, ValueError) as exc:
            return _error(502, f"the engine did not answer {path} ({exc})", "server_error")
        media_type = upstream.headers.get("content-type", "application/json")
        generating = path in GENERATING
        if generating:
            self.metrics.in_flight += 1

        async def close() -> None:
            if generating:
                self.metrics.in_flight -= 1
            await upstream.aclose()  # llama.cpp cancels a generation whose client went away

        return StreamedResponse(
            upstream.aiter_raw(),
            self.state.stopping,
            status=upstream.status_code,
            media_type=media_type,
            on_close=close,
        )


async def _prepended(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for item in rest:
        yield item


def _with_defaults(body: bytes, defaults: GenerationOptions) -> bytes:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BodyError(400, f"the request body is not valid JSON ({exc})"[:300]) from None
    if not isinstance(parsed, dict):
        raise BodyError(400, "the request body must be a JSON object")
    return dumps(native_defaults(parsed, defaults))


def _count_tokens(llm: LLM, texts: list[str]) -> int:
    count = getattr(llm, "count_tokens", None)
    if count is None:
        return 0
    try:
        return sum(int(count(text)) for text in texts)
    except HomefireError:
        return 0


async def _aclose(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


class _Ids:
    """The id, model and time every body and chunk of one answer carries."""

    def __init__(self, prefix: str, model: str) -> None:
        self.request_id = f"{prefix}-{uuid.uuid4().hex}"
        self.model = model
        self.created = int(time.time())

    def fields(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "model": self.model, "created": self.created}


async def _chat_events(
    stream: AsyncIterator[ChatResponse], chunks: wire.ChatChunks, metrics: Metrics
) -> AsyncIterator[bytes]:
    """SSE events of a streamed chat answer; an error after the first is sent in-band."""
    started = False
    try:
        async for response in stream:
            final = response.finish_reason is not None
            out = chunks.last(response) if final else chunks.piece(response)
            if out and not started:
                out.insert(0, chunks.first())
            for chunk in out:
                yield sse(chunk)
                started = True
            if final:
                metrics.used(response.usage)
                yield SSE_DONE
                return
        raise _interrupted()
    except Exception as exc:
        if not started:
            raise
        yield sse(_in_band(exc))
    finally:
        await _aclose(stream)


async def _completion_events(
    stream: AsyncIterator[CompletionResponse], ids: _Ids, include_usage: bool, metrics: Metrics
) -> AsyncIterator[bytes]:
    started = False
    try:
        async for response in stream:
            final = response.finish_reason is not None
            if response.delta or final:
                yield sse(wire.completion_chunk(response, final=final, **ids.fields()))
                started = True
            if final:
                metrics.used(response.usage)
                if include_usage:
                    usage = wire.usage_chunk(response.usage, kind="text_completion", **ids.fields())
                    yield sse(usage)
                yield SSE_DONE
                return
        raise _interrupted()
    except Exception as exc:
        if not started:
            raise
        yield sse(_in_band(exc))
    finally:
        await _aclose(stream)


def _in_band(exc: Exception) -> dict[str, Any]:
    """The error event that ends a stream which had begun (its status line was sent)."""
    if isinstance(exc, HomefireError):
        return error_body(exc)[1]
    logger.exception("unexpected error while streaming an answer", exc_info=exc)
    return wire.error_answer(500, "internal error; see the server's log", "server_error")


def _interrupted() -> StreamInterruptedError:
    return StreamInterruptedError("the backend ended the answer without saying it was complete")


# --- assembly -------------------------------------------------------------------------------


class _Counted:
    """Counts each answer by route and status, for `/metrics`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path = scope["path"]
        route = "/v1/models/{id}" if path.startswith("/v1/models/") else path
        route = route if route in ROUTES else "other"

        async def counting_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self._metrics.answered(route, message["status"])
            await send(message)

        await self._app(scope, receive, counting_send)


def _not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return _error(
            405, f"{request.method} is not allowed on {request.url.path}", "invalid_request_error"
        )
    return _error(404, f"no route {request.url.path}", "not_found_error")


def build_app(state: FrontState, settings: FrontSettings, metrics: Metrics) -> ASGIApp:
    """The whole front end as an ASGI application: counted, guarded, routed."""
    front = Front(state, settings, metrics)
    app = Starlette(routes=front.routes(), exception_handlers={404: _not_found, 405: _not_found})
    return _Counted(Guard(app, settings.guard), metrics)
