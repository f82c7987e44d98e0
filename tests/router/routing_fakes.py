"""Backends for the router's tests: scripted LLMs that fail on cue, and fake OpenAI-compatible
servers that answer, refuse, say 503, drop the connection or cut their answer, counting every
chat request that reaches them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import homefire as hf
from fakes._canned import chat_reply
from fakes._server import FakeServer, Reply, Request, sse

CHAT = "/v1/chat/completions"
HOLD_SECONDS = 20.0


class Backend(hf.CustomLLM):
    """Answers "<name> #<n>", or raises `error` (before any answer, or after `cut_after`
    streamed pieces); counts the calls that reached it."""

    def __init__(
        self,
        name: str,
        *,
        error: hf.HomefireError | None = None,
        cut_after: int | None = None,
        context_window: int = 4096,
    ) -> None:
        super().__init__()
        self.name = name
        self.error = error
        self.cut_after = cut_after
        self.context_window = context_window
        self.model_name = name
        self.calls: list[str] = []
        self.options: list[dict[str, Any]] = []

    def _answer(self, prompt: str, kwargs: dict[str, Any]) -> str:
        self.calls.append(prompt)
        self.options.append(kwargs)
        if self.error is not None and self.cut_after is None:
            raise self.error
        return f"{self.name} #{len(self.calls)}"

    def complete(self, prompt: str, **kwargs: Any) -> hf.CompletionResponse:  # type: ignore[override]
        return hf.CompletionResponse(text=self._answer(prompt, kwargs), finish_reason="stop")

    def stream_complete(self, prompt: str, **kwargs: Any) -> Iterator[str]:  # type: ignore[override]
        text = self._answer(prompt, kwargs)
        for n, word in enumerate(text.split(" ")):
            if self.cut_after is not None and n == self.cut_after:
                assert self.error is not None
                raise self.error
            yield word if n == 0 else " " + word


class Healthy(Backend):
    """A Backend with a health check the test switches; each check is counted and stamped."""

    def __init__(self, name: str, ready: bool = True, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.ready = ready
        self.checks: list[float] = []
        self.checked = threading.Event()

    def health(self) -> bool:
        self.checks.append(time.monotonic())
        self.checked.set()
        return self.ready


class OpenAIFake(FakeServer):
    """An OpenAI-compatible server; `behaviour` decides how it treats chat requests:

    answer   a whole answer (streamed when asked); a call of the first tool when one is
             required, as a server that calls tools itself does
    busy     503 "Loading model"
    drop     closes the connection without any answer
    cut      starts the answer, then closes the connection halfway
    hold     answers once `release` is set (bounded wait); `entered` is set on arrival
    """

    def __init__(self, behaviour: str = "answer", models: tuple[str, ...] = ("m",)) -> None:
        super().__init__()
        self.behaviour = behaviour
        self.models = list(models)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.route("GET", "/v1/models", self._list)
        self.route("POST", CHAT, self._chat)

    @property
    def chats(self) -> int:
        return sum(1 for r in self.requests if r.path == CHAT)

    def _list(self, request: Request) -> Reply:
        data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]
        return Reply(200, {"object": "list", "data": data})

    def _chat(self, request: Request) -> Reply:
        body = request.json()
        if self.behaviour == "busy":
            return Reply(503, {"error": {"code": 503, "message": "Loading model"}})
        if self.behaviour == "drop":
            raise ConnectionAbortedError("dropped on purpose")
        if self.behaviour == "cut":
            return _cut(body)
        if self.behaviour == "hold":
            self.entered.set()
            self.release.wait(HOLD_SECONDS)
        if body.get("tools") and body.get("tool_choice") == "required":
            return _tool_call(body)
        return chat_reply(body, self.models[0])

    def start(self, port: int = 0) -> OpenAIFake:
        super().start(port)
        assert self._httpd is not None
        # "drop" raises in the handler: the socket closes with no answer, and no traceback.
        self._httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        return self


def _tool_call(body: dict[str, Any]) -> Reply:
    """A call of the first tool, with no arguments (streamed when asked)."""
    name = body["tools"][0]["function"]["name"]
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{}"}}
    if body.get("stream"):
        pieces = [
            {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, **call}]}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        ]
        return Reply(200, stream=sse(pieces), content_type="text/event-stream")
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
    return Reply(200, {"id": "c", "object": "chat.completion", "choices": [choice]})


def _cut(body: dict[str, Any]) -> Reply:
    """Part of an answer, then the connection closes (no finish reason, no [DONE])."""
    if body.get("stream"):
        piece = {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}],
        }
        return Reply(200, stream=sse([piece, piece], done=False), content_type="text/event-stream")
    # The headers promise 1000 bytes; 20 arrive.
    return Reply(200, headers={"Content-Length": "1000"}, stream=iter([b'{"id": "c", "choices']))


def client(url: str, **kwargs: Any) -> hf.OpenAILike:
    """An OpenAILike backend for `url` that tries each request once (the router fails over)."""
    return hf.OpenAILike(
        base_url=f"{url}/v1", model="m", retry=hf.RetryPolicy(attempts=1), **kwargs
    )


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Poll `condition` until it holds; fail (never hang) after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds}s waiting for {what}")
        time.sleep(0.01)
