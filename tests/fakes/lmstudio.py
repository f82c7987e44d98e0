"""A fake LM Studio (OpenAI `/v1`, REST `/api/v0` and `/api/v1`), faithful to its documentation.

Like the real one: `/lmstudio-greeting` says `{"lmstudio": true}`; an unknown route answers
200 with a string error; `response_format` `json_object` is a 400 string error; an unknown
model is 404 `model_not_found` in the OpenAI envelope; a request naming a downloaded but
unloaded model loads it just in time (JIT) with the request's `ttl`; v0 answers add `stats`.
With `api_key` set, every request without `Authorization: Bearer <key>` is refused with 401.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from fakes._canned import chat_reply, completion_reply
from fakes._server import FakeServer, Reply, Request

DEFAULT_CONTEXT = 4096


@dataclass
class FakeModel:
    key: str
    max_context_length: int = 8192
    quantization: str = "Q4_1"
    size_bytes: int = 98_000_000
    type: str = "llm"


@dataclass
class Instance:
    context_length: int
    gpu: float | None = None
    ttl: int | None = None


class FakeLMStudio(FakeServer):
    server_header = "Express"

    def __init__(self, *, api_key: str | None = None, jit: bool = True) -> None:
        super().__init__()
        self.api_key = api_key
        self.jit = jit
        self.rest_v1 = True  # False: an LM Studio before 0.4, without /api/v1
        self.models = {
            m.key: m
            for m in (
                FakeModel("smollm2-135m-instruct"),
                FakeModel("qwen2.5-7b-instruct", max_context_length=32768, quantization="Q4_K_M"),
                FakeModel("nomic-embed-text", 2048, "Q4_0", 80_000_000, "embeddings"),
            )
        }
        self.loaded: dict[str, Instance] = {}
        self.catalog = {"ibm/granite-4-micro": 2_000_000}
        self.downloads: dict[str, dict[str, Any]] = {}
        self._jobs = itertools.count(1)
        self.route("GET", "/lmstudio-greeting", lambda r: Reply(200, {"lmstudio": True}))
        self.route("GET", "/v1/models", self._v1_models)
        self.route("GET", "/api/v0/models", self._v0_models)
        self.route("GET", "/api/v1/models", self._rest_v1_models)
        self.route("POST", "/api/v1/models/load", self._load)
        self.route("POST", "/api/v1/models/unload", self._unload)
        self.route("POST", "/api/v1/models/download", self._download)
        self.route("GET", "/api/v1/models/download/status/(?P<job>[^/]+)", self._download_status)
        self.route("POST", "/v1/chat/completions", lambda r: self._chat(r, v0=False))
        self.route("POST", "/api/v0/chat/completions", lambda r: self._chat(r, v0=True))
        self.route("POST", "/v1/completions", self._completions)
        self.route("POST", "/api/v0/completions", self._completions)

    # --- refusals -----------------------------------------------------------------------

    def unknown_route(self, request: Request) -> Reply:
        return Reply(
            200, {"error": f"Unexpected endpoint or method. ({request.method} {request.path})"}
        )

    def authorize(self, request: Request) -> Reply | None:
        if self.api_key is None or request.path == "/lmstudio-greeting":
            return None
        if request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return Reply(
            401,
            {
                "error": {
                    "message": "Invalid or missing API token",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
        )

    @staticmethod
    def _model_not_found(name: Any) -> Reply:
        return Reply(
            404,
            {
                "error": {
                    "message": f'Model "{name}" not found. Please specify a valid model.',
                    "type": "invalid_request_error",
                    "param": "model",
                    "code": "model_not_found",
                }
            },
        )

    @staticmethod
    def _body(request: Request) -> dict[str, Any] | Reply:
        try:
            body = request.json()
        except ValueError:
            return Reply(400, {"error": "Unexpected token in JSON at position 1"})
        if not isinstance(body, dict):
            return Reply(400, {"error": "Request body must be an object"})
        return body

    # --- models -------------------------------------------------------------------------

    def _v1_models(self, request: Request) -> Reply:
        keys = self.models if self.jit else self.loaded
        data = [{"id": k, "object": "model", "owned_by": "organization_owner"} for k in keys]
        return Reply(200, {"object": "list", "data": data})

    def _v0_models(self, request: Request) -> Reply:
        data = []
        for model in self.models.values():
            item: dict[str, Any] = {
                "id": model.key,
                "object": "model",
                "type": model.type,
                "publisher": "lmstudio-community",
                "arch": "llama",
                "compatibility_type": "gguf",
                "quantization": model.quantization,
                "state": "loaded" if model.key in self.loaded else "not-loaded",
                "max_context_length": model.max_context_length,
                "capabilities": ["tool_use"] if model.type == "llm" else [],
            }
            if model.key in self.loaded:
                item["loaded_context_length"] = self.loaded[model.key].context_length
            data.append(item)
        return Reply(200, {"object": "list", "data": data})

    def _rest_v1_models(self, request: Request) -> Reply:
        if not self.rest_v1:
            return self.unknown_route(request)
        items = []
        for model in self.models.values():
            instance = self.loaded.get(model.key)
            instances = (
                [{"id": model.key, "config": {"context_length": instance.context_length}}]
                if instance
                else []
            )
            items.append(
                {
                    "type": model.type,
                    "publisher": "lmstudio-community",
                    "key": model.key,
                    "display_name": model.key,
                    "architecture": "llama",
                    "quantization": {"name": model.quantization, "bits_per_weight": 4},
                    "size_bytes": model.size_bytes,
                    "loaded_instances": instances,
                    "max_context_length": model.max_context_length,
                    "format": "gguf",
                    "capabilities": {"vision": False, "trained_for_tool_use": model.type == "llm"},
                }
            )
        return Reply(200, {"models": items})

    def _load(self, request: Request) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        key = body.get("model")
        if key not in self.models:
            return self._model_not_found(key)
        model = self.models[key]
        context = body.get("context_length") or DEFAULT_CONTEXT
        if not isinstance(context, int) or context < 1 or context > model.max_context_length:
            return Reply(
                400,
                {"error": f"context_length must be between 1 and {model.max_context_length}"},
            )
        self.loaded[key] = Instance(context, body.get("gpu"), body.get("ttl"))
        answer: dict[str, Any] = {
            "type": model.type,
            "instance_id": key,
            "load_time_seconds": 0.01,
            "status": "loaded",
        }
        if body.get("echo_load_config"):
            answer["load_config"] = {"context_length": context}
        return Reply(200, answer)

    def _unload(self, request: Request) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        instance = body.get("instance_id")
        if instance not in self.loaded:
            return Reply(404, {"error": f'No model loaded with identifier "{instance}"'})
        del self.loaded[instance]
        return Reply(200, {"instance_id": instance})

    def _download(self, request: Request) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        key = body.get("model")
        if key in self.models:
            return Reply(200, {"status": "already_downloaded"})
        if key not in self.catalog:
            return Reply(404, {"error": f'Model "{key}" not found in the catalog'})
        job = f"job_{next(self._jobs)}"
        total = self.catalog[key]
        self.downloads[job] = {"model": key, "total": total, "polls": 0}
        return Reply(
            200,
            {
                "job_id": job,
                "status": "downloading",
                "total_size_bytes": total,
                "started_at": "now",
            },
        )

    def _download_status(self, request: Request) -> Reply:
        job = self.downloads.get(request.params["job"])
        if job is None:
            return Reply(404, {"error": "Unknown job"})
        job["polls"] += 1
        done = job["polls"] >= 2
        if done:
            self.models[job["model"]] = FakeModel(job["model"], size_bytes=job["total"])
        return Reply(
            200,
            {
                "job_id": request.params["job"],
                "status": "completed" if done else "downloading",
                "total_size_bytes": job["total"],
                "downloaded_bytes": job["total"] if done else job["total"] // 2,
            },
        )

    # --- inference ----------------------------------------------------------------------

    def _ensure_loaded(self, body: dict[str, Any]) -> str | Reply:
        key = body.get("model")
        if key in self.loaded:
            return str(key)
        if key in self.models and self.jit:
            self.loaded.clear()  # auto-evict: one JIT-loaded model at a time
            self.loaded[key] = Instance(DEFAULT_CONTEXT, ttl=body.get("ttl"))
            return str(key)
        return self._model_not_found(key)

    def _check_format(self, body: dict[str, Any]) -> Reply | None:
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") not in (
            "json_schema",
            "text",
        ):
            return Reply(400, {"error": "'response_format.type' must be 'json_schema' or 'text'"})
        return None

    def _chat(self, request: Request, *, v0: bool) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return Reply(400, {"error": "'messages' field is required and must be non-empty"})
        refused = self._check_format(body)
        if refused is not None:
            return refused
        key = self._ensure_loaded(body)
        if isinstance(key, Reply):
            return key
        extra = None
        if v0:
            model = self.models[key]
            extra = {
                "stats": {
                    "tokens_per_second": 38.2,
                    "time_to_first_token": 0.24,
                    "generation_time": 1.61,
                    "stop_reason": "eosFound",
                },
                "model_info": {
                    "arch": "llama",
                    "quant": model.quantization,
                    "format": "gguf",
                    "context_length": self.loaded[key].context_length,
                },
                "runtime": {"name": "llama.cpp-fake", "version": "1.50.0"},
            }
        return chat_reply(body, key, extra)

    def _completions(self, request: Request) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        if not isinstance(body.get("prompt"), str):
            return Reply(400, {"error": "'prompt' field is required"})
        refused = self._check_format(body)
        if refused is not None:
            return refused
        key = self._ensure_loaded(body)
        if isinstance(key, Reply):
            return key
        return completion_reply(body, key)
