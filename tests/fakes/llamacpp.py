"""A fake llama.cpp server in router mode (started without `-m`, several models).

What it keeps from the real router: a POST is routed by the `model` in its body and a GET
(`/props`, `/slots`, `/metrics`) by `?model=`; a POST without `model` is a 400 "model name is
missing from the request", an unknown one a 400 "model not found"; `/props` without
`?model=` describes the router itself (`role: router`). Bodies are read as llama.cpp reads
them (samples/llama_server): unknown keys are ignored, malformed JSON and a value of the
wrong type are 400s in its words. `hold(path)` makes a route wait before answering, as the
router does while it starts a model's child server, until the test releases it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fakes._canned import chat_reply, count_tokens, reply_words
from fakes._server import FakeServer, Reply, Request, sse


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Reply:
    return Reply(status, {"error": {"code": status, "message": message, "type": kind}})


HOLD_LIMIT = 20.0


@dataclass
class Hold:
    """A route held open: `entered` once a request waits in it; it answers after `release`
    (or, `expired`, after HOLD_LIMIT seconds without one)."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    expired: bool = False


# Numeric fields llama.cpp reads with nlohmann::json, which refuses another type.
_NUMBERS = ("max_tokens", "n_predict", "temperature", "top_p", "top_k", "seed")


def _type_error(body: dict[str, Any]) -> Reply | None:
    for key in _NUMBERS:
        value = body.get(key)
        if isinstance(value, bool) or (value is not None and not isinstance(value, int | float)):
            kind = {str: "string", list: "array", dict: "object", bool: "boolean"}[type(value)]
            return _error(
                400,
                f"Field '{key}': [json.exception.type_error.302] type must be number, "
                f"but is {kind}",
            )
    return None


class FakeLlamaRouter(FakeServer):
    def __init__(self, models: tuple[str, ...] = ("smollm2", "qwen3")) -> None:
        super().__init__()
        self.models = list(models)
        self._holds: dict[str, Hold] = {}
        self.route("GET", "/health", lambda r: Reply(200, {"status": "ok"}))
        self.route("GET", "/props", self._props)
        self.route("GET", "/slots", self._slots)
        self.route("GET", "/v1/models", self._list)
        self.route("GET", "/models", self._list)
        self.route("POST", "/completion", self._completion)
        self.route("POST", "/tokenize", self._tokenize)
        self.route("POST", "/v1/chat/completions", self._chat)

    def unknown_route(self, request: Request) -> Reply:
        return _error(404, "File Not Found", "not_found_error")

    def hold(self, path: str) -> Hold:
        """Requests to `path` wait for `release` (at most HOLD_LIMIT seconds) before answering."""
        held = self._holds[path] = Hold()
        return held

    def dispatch(self, request: Request) -> Reply:
        held = self._holds.get(request.path)
        if held is not None:
            held.entered.set()
            if not held.release.wait(HOLD_LIMIT):
                held.expired = True
        return super().dispatch(request)

    def _routed(self, name: Any) -> str | Reply:
        if not name:
            return _error(400, "model name is missing from the request")
        if name not in self.models:
            return _error(400, "model not found")
        return str(name)

    def _body_model(self, request: Request) -> tuple[dict[str, Any], str] | Reply:
        try:
            body = request.json()
        except ValueError:
            return _error(
                400,
                "[json.exception.parse_error.101] parse error at line 1: syntax error while "
                "parsing value - unexpected end of input",
            )
        refused = _type_error(body)
        if refused is not None:
            return refused
        name = self._routed(body.get("model"))
        return name if isinstance(name, Reply) else (body, name)

    def _list(self, request: Request) -> Reply:
        data = [
            {"id": m, "object": "model", "owned_by": "llamacpp", "status": {"value": "loaded"}}
            for m in self.models
        ]
        return Reply(200, {"object": "list", "data": data})

    def _props(self, request: Request) -> Reply:
        if "model" not in request.query:
            return Reply(200, {"role": "router", "build_info": "b7000-fake"})
        name = self._routed(request.query["model"])
        if isinstance(name, Reply):
            return name
        return Reply(
            200,
            {
                "default_generation_settings": {"n_ctx": 4096},
                "total_slots": 1,
                "model_path": f"/models/{name}.gguf",
                "chat_template": "{{ messages }}",
                "chat_template_caps": {"supports_tools": True},
                "build_info": "b7000-fake",
            },
        )

    def _slots(self, request: Request) -> Reply:
        name = self._routed(request.query.get("model"))
        if isinstance(name, Reply):
            return name
        return Reply(200, [{"id": 0, "n_ctx": 4096, "is_processing": False}])

    def _completion(self, request: Request) -> Reply:
        routed = self._body_model(request)
        if isinstance(routed, Reply):
            return routed
        body, _ = routed
        pieces, reason = reply_words(str(body.get("prompt", "")), body.get("n_predict"))
        stop_type = "limit" if reason == "length" else "eos"
        final = {
            "content": "" if body.get("stream") else "".join(pieces),
            "stop": True,
            "stop_type": stop_type,
            "tokens_evaluated": count_tokens(str(body.get("prompt", ""))),
            "tokens_predicted": len(pieces),
        }
        if not body.get("stream"):
            return Reply(200, final)

        def events() -> Iterator[dict[str, Any]]:
            for piece in pieces:
                yield {"content": piece, "stop": False}
            yield final

        return Reply(200, stream=sse(events(), done=False), content_type="text/event-stream")

    def _tokenize(self, request: Request) -> Reply:
        routed = self._body_model(request)
        if isinstance(routed, Reply):
            return routed
        body, _ = routed
        return Reply(200, {"tokens": list(range(count_tokens(str(body.get("content", "")))))})

    def _chat(self, request: Request) -> Reply:
        routed = self._body_model(request)
        if isinstance(routed, Reply):
            return routed
        body, name = routed
        return chat_reply(body, name)


LOADING = {"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}


class FakeLlamaServer(FakeServer):
    """A llama.cpp server with one model, that can be held in its loading state.

    While loading (until `finish_loading()`), every route answers what the recorded server
    answered (samples/llama_server/loading_*): 503 `{"error": {"message": "Loading model",
    "type": "unavailable_error", "code": 503}}`; `loading_answered` is set once one such
    answer went out, so a test knows the loading state was seen before it ends it.
    """

    server_header = "llama.cpp"

    def __init__(self, *, loading: bool = False) -> None:
        super().__init__()
        self.loaded = threading.Event()
        self.loading_answered = threading.Event()
        if not loading:
            self.loaded.set()
        self.route("GET", "/health", lambda r: Reply(200, {"status": "ok"}))
        self.route("GET", "/v1/models", self._models)
        self.route("POST", "/v1/chat/completions", self._chat)

    def finish_loading(self) -> None:
        self.loaded.set()

    def unknown_route(self, request: Request) -> Reply:
        error = {"message": "File Not Found", "type": "not_found_error", "code": 404}
        return Reply(404, {"error": error})

    def dispatch(self, request: Request) -> Reply:
        if not self.loaded.is_set():
            self.requests.append(request)
            self.loading_answered.set()
            return Reply(503, LOADING)
        return super().dispatch(request)

    def _models(self, request: Request) -> Reply:
        entry = {"id": "smollm2", "object": "model", "owned_by": "llamacpp", "meta": None}
        return Reply(200, {"object": "list", "data": [entry]})

    def _chat(self, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "[json.exception.parse_error.101] parse error")
        refused = _type_error(body)
        return refused or chat_reply(body, "smollm2")
