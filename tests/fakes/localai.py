"""A fake LocalAI (OpenAI-compatible plus its management routes), faithful to its source.

Like the real one (mudler/LocalAI, core/http): `/.well-known/localai.json` lists endpoints;
`/healthz`, `/readyz` and the well-known file stay public while API keys are set, everything
else answers 401 with the OpenAI envelope and `WWW-Authenticate: Bearer`; request bodies are
bound leniently (a key it does not know is ignored, a value of the wrong type is a 400
"failed parsing request body"); errors that reach its HTTP error handler are
`{"error": {"message", "code"}}` with echo's "code=N, message=..." text; an unknown model is
404 'model "x" not found. To see available models, call GET /v1/models'; models load lazily
on first use (`/system` shows them); the gallery installs through jobs polled at
`/models/jobs/{uuid}`; and it imitates Ollama's `/api/version` (fixed "0.9.0") and root banner.

Its documented failures can be switched on: `fail_stream_after=N` ends a chat stream after N
pieces with `data: {"error": {...server_error}}` then `data: [DONE]` (a completion stream
instead carries the error as its text, "Internal error: ...", with no `[DONE]`); and
`loading` answers inference with 503 `model_loading`, `Retry-After` and a `loading` object
until `finish_loading()` (`loading_answered` is set once the first 503 went out).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from typing import Any

from fakes._canned import chat_reply, completion_reply
from fakes._server import FakeServer, Reply, Request

_PUBLIC = ("/healthz", "/readyz", "/.well-known/localai.json")
Types = dict[str, type | tuple[type, ...]]
# Fields of the OpenAI request whose Go types a body must match (others are ignored).
_INFERENCE_TYPES: Types = {
    "model": str,
    "stream": bool,
    "max_tokens": int,
    "temperature": (int, float),
    "top_p": (int, float),
    "top_k": int,
    "messages": list,
}
RUN_FAILURE = "rpc error: code = Unavailable desc = error reading from server: EOF"


def _error(status: int, message: str, kind: str | None = None) -> Reply:
    """The envelope of LocalAI's error handler (`type` only where a handler sets one)."""
    error: dict[str, Any] = {"code": status, "message": message}
    if kind is not None:
        error["type"] = kind
    return Reply(status, {"error": error})


def _http_error(status: int, message: str) -> Reply:
    """An echo.HTTPError as LocalAI's error handler renders it."""
    return _error(status, f"code={status}, message={message}")


class FakeLocalAI(FakeServer):
    def __init__(self, *, api_keys: list[str] | None = None, ready: bool = True) -> None:
        super().__init__()
        self.api_keys = api_keys or []
        self.ready = ready
        self.models = {"smollm2": "llama-cpp", "phi-3-mini": "llama-cpp"}
        self.loaded: set[str] = set()
        self.gallery = {"localai@tinyllama-1.1b-chat": "tinyllama-1.1b-chat"}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.fail_stream_after: int | None = None
        self.loading = False
        self.loading_answered = threading.Event()
        self._uuids = itertools.count(1)
        self.route("GET", "/.well-known/localai.json", self._well_known)
        self.route("GET", "/healthz", lambda r: Reply(200, None, content_type="text/plain"))
        self.route("GET", "/readyz", self._readyz)
        self.route("GET", "/version", lambda r: Reply(200, {"version": "v3.7.0"}))
        self.route("GET", "/", lambda r: Reply(200, "Ollama is running", content_type="text/plain"))
        self.route("GET", "/api/version", lambda r: Reply(200, {"version": "0.9.0"}))
        self.route("GET", "/system", self._system)
        self.route("GET", "/v1/models", self._models)
        self.route("GET", "/models/available", self._available)
        self.route("POST", "/models/apply", self._apply)
        self.route("GET", "/models/jobs/(?P<uuid>[^/]+)", self._job)
        self.route("POST", "/backend/load", self._backend_load)
        self.route("GET", "/backend/monitor", self._monitor)
        self.route("POST", "/backend/monitor", self._monitor)
        self.route("POST", "/backend/shutdown", self._shutdown)
        self.route("POST", "/v1/chat/completions", self._chat)
        self.route("POST", "/v1/completions", self._completions)

    def finish_loading(self) -> None:
        self.loading = False

    def unknown_route(self, request: Request) -> Reply:
        return _error(404, "Resource not found")

    def authorize(self, request: Request) -> Reply | None:
        if not self.api_keys or request.path in _PUBLIC:
            return None
        auth = request.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        key = key or request.headers.get("x-api-key")
        if key in self.api_keys:
            return None
        reply = _error(401, "An authentication key is required", "invalid_request_error")
        reply.headers["WWW-Authenticate"] = "Bearer"
        return reply

    @staticmethod
    def _body(request: Request, typed: Types) -> dict[str, Any] | Reply:
        """The JSON body bound as Go binds it: unknown keys ignored, a mistyped one refused."""
        try:
            body = request.json()
        except ValueError as exc:
            return _http_error(400, f"failed parsing request body: {exc}")
        if not isinstance(body, dict):
            return _http_error(
                400, "failed parsing request body: json: cannot unmarshal array into Go value"
            )
        for key, kind in typed.items():
            if key in body and body[key] is not None and not isinstance(body[key], kind):
                got = type(body[key]).__name__
                return _http_error(
                    400,
                    f"failed parsing request body: json: cannot unmarshal {got} into Go struct "
                    f"field .{key}",
                )
        return body

    def _well_known(self, request: Request) -> Reply:
        return Reply(
            200,
            {
                "version": "v3.7.0",
                "endpoints": {
                    "models": "/v1/models",
                    "chat_completions": "/v1/chat/completions",
                    "completions": "/v1/completions",
                },
            },
        )

    def _readyz(self, request: Request) -> Reply:
        if self.ready:
            return Reply(200, None, content_type="text/plain")
        return Reply(503, {"status": "starting", "reason": "startup preload in progress"})

    def _system(self, request: Request) -> Reply:
        return Reply(
            200,
            {
                "backends": ["llama-cpp"],
                "loaded_models": [
                    {"id": m, "backend": self.models[m]} for m in sorted(self.loaded)
                ],
            },
        )

    def _models(self, request: Request) -> Reply:
        data = [{"id": name, "object": "model"} for name in self.models]
        return Reply(200, {"object": "list", "data": data})

    def _available(self, request: Request) -> Reply:
        items = [
            {
                "name": name,
                "url": f"github:mudler/LocalAI/gallery/{name}.yaml",
                "description": "a tiny chat model",
                "installed": name in self.models,
                "gallery": {"name": "localai", "url": "github:mudler/LocalAI/gallery/index.yaml"},
            }
            for name in self.gallery.values()
        ]
        return Reply(200, items)

    def _apply(self, request: Request) -> Reply:
        body = self._body(request, {"id": str, "url": str, "name": str})
        if isinstance(body, Reply):
            return body
        uuid = f"0b1c-{next(self._uuids)}"
        gallery_id = str(body.get("id"))
        name = self.gallery.get(gallery_id)
        self.jobs[uuid] = {"name": name, "polls": 0, "wanted": gallery_id.partition("@")[2]}
        return Reply(200, {"uuid": uuid, "status": f"{self.base_url}/models/jobs/{uuid}"})

    def _job(self, request: Request) -> Reply:
        job = self.jobs.get(request.params["uuid"])
        if job is None:
            return _error(500, "could not find any status for ID")
        job["polls"] += 1
        status: dict[str, Any] = {
            "deletion": False,
            "file_name": "",
            "error": None,
            "processed": False,
            "message": "downloading",
            "progress": 50.0,
            "file_size": "3 MiB",
            "downloaded_size": "1.5 MiB",
            "gallery_element_name": job["name"] or "",
            "cancelled": False,
            "cancellable": True,
        }
        if job["name"] is None:
            status.update(error=f"no model found with name {json.dumps(job['wanted'])}")
            status.update(processed=True)
        elif job["polls"] >= 2:
            status.update(processed=True, message="completed", progress=100.0)
            self.models[job["name"]] = "llama-cpp"
        return Reply(200, status)

    def _backend_load(self, request: Request) -> Reply:
        body = self._body(request, {"model": str})
        if isinstance(body, Reply):
            return body
        name = body.get("model")
        if not name:
            return Reply(400, {"loaded": None, "message": "model is required"})
        if name not in self.models:  # the loader's own words after the prefix: shape only
            failure = f"failed to load model: could not load model {name}: no such file"
            return Reply(500, {"loaded": None, "message": failure})
        self.loaded.add(name)
        return Reply(200, {"loaded": [name], "message": "model loaded"})

    def _monitor(self, request: Request) -> Reply:
        name = request.query.get("model")
        if not name:
            body = self._body(request, {"model": str}) if request.raw else {}
            if isinstance(body, Reply):
                return body
            name = body.get("model")
        if not name:
            return _http_error(400, "model query parameter is required")
        if name not in self.loaded:  # shape only
            return _error(500, f"backend {name} is not running")
        return Reply(200, {"state": 2, "memory": {"total": 123456, "breakdown": {}}})

    def _shutdown(self, request: Request) -> Reply:
        body = self._body(request, {"model": str})
        if isinstance(body, Reply):
            return body
        name = body.get("model")
        if not name:
            return _http_error(400, "model is required")
        if name not in self.loaded:
            return _http_error(
                404, f'model "{name}" is not loaded on this instance or on any worker node'
            )
        self.loaded.discard(name)
        return Reply(200, {"message": "model stopped"})

    def _inference_model(self, body: dict[str, Any]) -> str | Reply:
        name = body.get("model")
        if name not in self.models:
            return _error(
                404,
                f"model {json.dumps(name)} not found. To see available models, call GET /v1/models",
                "invalid_request_error",
            )
        if self.loading:
            return self._still_loading(str(name))
        self.loaded.add(str(name))
        return str(name)

    def _still_loading(self, name: str) -> Reply:
        self.loading_answered.set()
        status = {"model": name, "state": "loading", "node": "worker-1", "progress": 41.2}
        return Reply(
            503,
            {
                "error": {
                    "message": f"model {name} is loading on node worker-1 (41%)",
                    "type": "model_loading",
                    "code": "model_loading",
                },
                "loading": status,
            },
            headers={"Retry-After": "1"},
        )

    def _chat(self, request: Request) -> Reply:
        body = self._body(request, _INFERENCE_TYPES)
        if isinstance(body, Reply):
            return body
        name = self._inference_model(body)
        if isinstance(name, Reply):
            return name
        reply = chat_reply(body, name)
        if request.headers.get("extra-usage") and isinstance(reply.body, dict):
            reply.body["usage"].update(timing_prompt_processing=12.5, timing_token_generation=80.0)
        if reply.stream is not None and self.fail_stream_after is not None:
            reply.stream = self._failing_chat(reply.stream, self.fail_stream_after)
        return reply

    @staticmethod
    def _failing_chat(stream: Iterator[bytes], pieces: int) -> Iterator[bytes]:
        """The first events, then LocalAI's mid-stream error and `[DONE]` (chat.go)."""
        yield from itertools.islice(stream, pieces)
        error = {"error": {"message": RUN_FAILURE, "type": "server_error", "code": "server_error"}}
        yield f"data: {json.dumps(error)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    def _completions(self, request: Request) -> Reply:
        body = self._body(request, {**_INFERENCE_TYPES, "prompt": (str, list)})
        if isinstance(body, Reply):
            return body
        name = self._inference_model(body)
        if isinstance(name, Reply):
            return name
        reply = completion_reply(body, name)
        if reply.stream is not None and self.fail_stream_after is not None:
            reply.stream = self._failing_completion(reply.stream, self.fail_stream_after, name)
        return reply

    @staticmethod
    def _failing_completion(stream: Iterator[bytes], pieces: int, model: str) -> Iterator[bytes]:
        """The first events, then the error as a last piece of text and no `[DONE]`
        (completion.go)."""
        yield from itertools.islice(stream, pieces)
        chunk = {
            "id": "cmpl-fake",
            "created": 0,
            "model": model,
            "object": "text_completion",
            "choices": [
                {"index": 0, "finish_reason": "stop", "text": f"Internal error: {RUN_FAILURE}"}
            ],
        }
        yield f"data: {json.dumps(chunk)}\n\n".encode()
