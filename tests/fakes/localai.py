"""A fake LocalAI (OpenAI-compatible plus its management routes), faithful to its source.

Like the real one: `/.well-known/localai.json` lists endpoints; `/healthz`, `/readyz` and
the well-known file stay public while API keys are set, everything else answers 401 with the
OpenAI envelope and `WWW-Authenticate: Bearer`; models load lazily on first use (`/system`
shows them); the gallery installs through jobs polled at `/models/jobs/{uuid}`; and it
imitates Ollama's `/api/version` (fixed "0.9.0") and root banner, as LocalAI does.
"""

from __future__ import annotations

import itertools
from typing import Any

from fakes._canned import chat_reply, completion_reply
from fakes._server import FakeServer, Reply, Request

_PUBLIC = ("/healthz", "/readyz", "/.well-known/localai.json")


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Reply:
    return Reply(status, {"error": {"code": status, "message": message, "type": kind}})


class FakeLocalAI(FakeServer):
    def __init__(self, *, api_keys: list[str] | None = None, ready: bool = True) -> None:
        super().__init__()
        self.api_keys = api_keys or []
        self.ready = ready
        self.models = {"smollm2": "llama-cpp", "phi-3-mini": "llama-cpp"}
        self.loaded: set[str] = set()
        self.gallery = {"localai@tinyllama-1.1b-chat": "tinyllama-1.1b-chat"}
        self.jobs: dict[str, dict[str, Any]] = {}
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

    def unknown_route(self, request: Request) -> Reply:
        return _error(404, "Not Found", "not_found")

    def authorize(self, request: Request) -> Reply | None:
        if not self.api_keys or request.path in _PUBLIC:
            return None
        auth = request.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        key = key or request.headers.get("x-api-key")
        if key in self.api_keys:
            return None
        reply = _error(401, "An authentication key is required")
        reply.headers["WWW-Authenticate"] = "Bearer"
        return reply

    def _body(self, request: Request) -> dict[str, Any] | Reply:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "failed parsing request body: invalid character")
        if not isinstance(body, dict):
            return _error(400, "failed parsing request body: expected an object")
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
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        uuid = f"0b1c-{next(self._uuids)}"
        name = self.gallery.get(str(body.get("id")))
        self.jobs[uuid] = {"name": name, "polls": 0, "id": body.get("id")}
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
            status.update(error=f"no model found with name {job['id']!r}", processed=True)
        elif job["polls"] >= 2:
            status.update(processed=True, message="completed", progress=100.0)
            self.models[job["name"]] = "llama-cpp"
        return Reply(200, status)

    def _model_name(self, request: Request) -> str | Reply:
        body = self._body(request) if request.raw else {}
        if isinstance(body, Reply):
            return body
        name = body.get("model") or request.query.get("model")
        if name not in self.models:
            return _error(404, f"model {name!r} not found", "not_found")
        return str(name)

    def _backend_load(self, request: Request) -> Reply:
        name = self._model_name(request)
        if isinstance(name, Reply):
            return name
        self.loaded.add(name)
        return Reply(200, {"loaded": [name], "message": "model loaded"})

    def _monitor(self, request: Request) -> Reply:
        name = self._model_name(request)
        if isinstance(name, Reply):
            return name
        if name not in self.loaded:
            return _error(500, f"backend {name} is not running", "server_error")
        return Reply(200, {"state": 2, "memory": {"total": 123456, "breakdown": {}}})

    def _shutdown(self, request: Request) -> Reply:
        name = self._model_name(request)
        if isinstance(name, Reply):
            return name
        self.loaded.discard(name)
        return Reply(200, {"message": "model stopped"})

    def _inference_model(self, body: dict[str, Any]) -> str | Reply:
        name = body.get("model")
        if name not in self.models:
            return _error(404, f"could not find model {name!r}", "not_found")
        self.loaded.add(str(name))
        return str(name)

    def _chat(self, request: Request) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, "messages are required")
        name = self._inference_model(body)
        if isinstance(name, Reply):
            return name
        reply = chat_reply(body, name)
        if request.headers.get("extra-usage") and isinstance(reply.body, dict):
            reply.body["usage"].update(timing_prompt_processing=12.5, timing_token_generation=80.0)
        return reply

    def _completions(self, request: Request) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        if not isinstance(body.get("prompt"), str):
            return _error(400, "prompt is required")
        name = self._inference_model(body)
        if isinstance(name, Reply):
            return name
        return completion_reply(body, name)
