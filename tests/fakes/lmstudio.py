"""A fake LM Studio (OpenAI `/v1`, REST `/api/v0` and `/api/v1`), faithful to what it answers.

Like the real one (0.4.x, docs and measured traffic):
- `/lmstudio-greeting` says `{"lmstudio": true}`; an unknown route answers 200 with a string
  error "Unexpected endpoint or method. (GET /foo)".
- The REST v1 routes validate their body strictly: a key they do not take is a 400
  `unrecognized_keys` ("Unrecognized key(s) in object: 'ttl'"); `/api/v1/models/load` takes
  `model`, `context_length`, `eval_batch_size`, `flash_attention`, `num_experts`,
  `offload_kv_cache_to_gpu` and `echo_load_config`, nothing else (GPU offload and TTL are
  `lms load --gpu/--ttl` only). An unknown model there is 404 `model_not_found`
  ("Invalid model identifier \\"x\\".").
- The OpenAI and v0 routes ignore keys they do not know and take `ttl`, which applies to a
  model that request loads just in time (JIT); auto-evict unloads the previous JIT-loaded
  model but never one loaded explicitly. `response_format` `json_object` is a 400 string
  error. An unknown model is 404 `model_not_found` in the OpenAI envelope, except that with
  exactly one model loaded LM Studio answers with that model whatever the name (a known quirk).
- Optional fields are optional: `/api/v0/models` sends `loaded_context_length` only while
  `v0_reports_loaded_context` is set (it is undocumented), and a model may come without
  `capabilities` (the embedding model here).
- With `api_key` set, a request without `Authorization: Bearer <key>` is refused with 401.
Texts not seen from the real server are marked "shape only": tests must not match on them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from fakes._canned import chat_reply, completion_reply
from fakes._server import FakeServer, Reply, Request

DEFAULT_CONTEXT = 4096
DEFAULT_JIT_TTL = 3600

LOAD_KEYS = frozenset(
    {
        "model",
        "context_length",
        "eval_batch_size",
        "flash_attention",
        "num_experts",
        "offload_kv_cache_to_gpu",
        "echo_load_config",
    }
)
UNLOAD_KEYS = frozenset({"instance_id"})
DOWNLOAD_KEYS = frozenset({"model", "quantization"})


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
    jit: bool = False
    ttl: int | None = None
    flash_attention: bool = True
    eval_batch_size: int = 512


def _v1_error(status: int, message: str, code: str, param: str | None = None) -> Reply:
    error: dict[str, Any] = {"type": "invalid_request", "message": message, "code": code}
    if param is not None:
        error["param"] = param
    return Reply(status, {"error": error})


class FakeLMStudio(FakeServer):
    server_header = "Express"

    def __init__(self, *, api_key: str | None = None, jit: bool = True) -> None:
        super().__init__()
        self.api_key = api_key
        self.jit = jit
        self.rest_v1 = True  # False: an LM Studio before 0.4, without /api/v1
        self.v0_reports_loaded_context = True
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

    def dispatch(self, request: Request) -> Reply:
        if not self.rest_v1 and request.path.startswith("/api/v1/"):
            self.requests.append(request)
            return self.unknown_route(request)
        return super().dispatch(request)

    def authorize(self, request: Request) -> Reply | None:
        if self.api_key is None or request.path == "/lmstudio-greeting":
            return None
        if request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return _v1_error(
            401,
            "An LM Studio API token is required to make requests to this server, but none was "
            "provided using the Authorization header using the 'Bearer' scheme (i.e., "
            "'Authorization: Bearer $LM_API_TOKEN'). Learn more at: "
            "https://lmstudio.ai/docs/developer/core/authentication.",
            "invalid_api_key",
        )

    def _model_not_found(self, name: Any) -> Reply:
        yours = "\n".join(self.models)
        return Reply(
            404,
            {
                "error": {
                    "message": f'Model "{name}" not found. Please specify a valid model.'
                    f"\n\nYour models:\n\n{yours}",
                    "type": "invalid_request_error",
                    "param": "model",
                    "code": "model_not_found",
                }
            },
        )

    @staticmethod
    def _invalid_identifier(name: Any) -> Reply:
        return _v1_error(404, f'Invalid model identifier "{name}".', "model_not_found", "model")

    @staticmethod
    def _body(request: Request) -> dict[str, Any] | Reply:
        try:
            body = request.json()
        except ValueError:  # shape only
            return Reply(400, {"error": "Unexpected token in JSON at position 1"})
        if not isinstance(body, dict):  # shape only
            return Reply(400, {"error": "Request body must be an object"})
        return body

    @classmethod
    def _strict(cls, request: Request, keys: frozenset[str]) -> dict[str, Any] | Reply:
        """The body of a REST v1 route, refused as LM Studio refuses keys it does not take."""
        body = cls._body(request)
        if isinstance(body, Reply):
            return body
        unknown = [k for k in body if k not in keys]
        if unknown:
            listed = ", ".join(f"'{k}'" for k in unknown)
            return _v1_error(400, f"Unrecognized key(s) in object: {listed}", "unrecognized_keys")
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
            }
            if model.type == "llm":
                item["capabilities"] = ["tool_use"]
            if model.key in self.loaded and self.v0_reports_loaded_context:
                item["loaded_context_length"] = self.loaded[model.key].context_length
            data.append(item)
        return Reply(200, {"object": "list", "data": data})

    def _rest_v1_models(self, request: Request) -> Reply:
        items = []
        for model in self.models.values():
            instance = self.loaded.get(model.key)
            instances = []
            if instance is not None:
                config: dict[str, Any] = {"context_length": instance.context_length}
                if model.type == "llm":
                    config.update(
                        eval_batch_size=instance.eval_batch_size,
                        parallel=4,
                        flash_attention=instance.flash_attention,
                        offload_kv_cache_to_gpu=True,
                    )
                instances.append({"id": model.key, "config": config})
            item: dict[str, Any] = {
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
            }
            if model.type == "llm":  # a model may say nothing of its capabilities
                item["capabilities"] = {"vision": False, "trained_for_tool_use": True}
            items.append(item)
        return Reply(200, {"models": items})

    def _load(self, request: Request) -> Reply:
        body = self._strict(request, LOAD_KEYS)
        if isinstance(body, Reply):
            return body
        key = body.get("model")
        if key not in self.models:
            return self._invalid_identifier(key)
        model = self.models[key]
        context = body.get("context_length") or DEFAULT_CONTEXT
        instance = Instance(
            context,
            flash_attention=body.get("flash_attention", True),
            eval_batch_size=body.get("eval_batch_size", 512),
        )
        self.loaded[key] = instance
        answer: dict[str, Any] = {
            "type": "embedding" if model.type == "embeddings" else "llm",
            "instance_id": key,
            "load_time_seconds": 0.01,
            "status": "loaded",
        }
        if body.get("echo_load_config"):
            answer["load_config"] = {"context_length": context}
            if model.type == "llm":
                answer["load_config"].update(
                    eval_batch_size=instance.eval_batch_size,
                    flash_attention=instance.flash_attention,
                    offload_kv_cache_to_gpu=True,
                )
        return Reply(200, answer)

    def _unload(self, request: Request) -> Reply:
        body = self._strict(request, UNLOAD_KEYS)
        if isinstance(body, Reply):
            return body
        instance = body.get("instance_id")
        if instance not in self.loaded:
            return self._invalid_identifier(instance)  # shape only
        del self.loaded[instance]
        return Reply(200, {"instance_id": instance})

    def _download(self, request: Request) -> Reply:
        body = self._strict(request, DOWNLOAD_KEYS)
        if isinstance(body, Reply):
            return body
        key = body.get("model")
        if key in self.models:
            return Reply(200, {"status": "already_downloaded"})
        if key not in self.catalog:
            return self._invalid_identifier(key)  # shape only
        job = f"job_{next(self._jobs)}"
        total = self.catalog[key]
        self.downloads[job] = {"model": key, "total": total, "polls": 0}
        return Reply(
            200,
            {
                "job_id": job,
                "status": "downloading",
                "total_size_bytes": total,
                "started_at": "2026-01-02T10:00:00.000Z",
            },
        )

    def _download_status(self, request: Request) -> Reply:
        job = self.downloads.get(request.params["job"])
        if job is None:  # shape only
            return _v1_error(404, f"Job {request.params['job']} not found", "not_found")
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
            for name in [n for n, i in self.loaded.items() if i.jit]:
                del self.loaded[name]  # auto-evict: one JIT-loaded model at a time
            ttl = body.get("ttl", DEFAULT_JIT_TTL)
            self.loaded[key] = Instance(DEFAULT_CONTEXT, jit=True, ttl=ttl)
            return str(key)
        if len(self.loaded) == 1:  # the loaded model answers whatever the name
            return next(iter(self.loaded))
        return self._model_not_found(key)

    @staticmethod
    def _check_format(body: dict[str, Any]) -> Reply | None:
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
        if not isinstance(body.get("messages"), list) or not body["messages"]:  # shape only
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
        if not isinstance(body.get("prompt"), str):  # shape only
            return Reply(400, {"error": "'prompt' field is required"})
        refused = self._check_format(body)
        if refused is not None:
            return refused
        key = self._ensure_loaded(body)
        if isinstance(key, Reply):
            return key
        return completion_reply(body, key)
