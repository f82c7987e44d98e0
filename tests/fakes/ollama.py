"""A fake Ollama (native `/api/*` plus the OpenAI layer), faithful to its source.

Like the real one (ollama/ollama, server/routes.go): `GET /` says "Ollama is running";
bodies are bound leniently (an unknown key is ignored, a value of the wrong type is a 400
with Go's unmarshal error, an empty body "missing request body", no model "model is
required"); unknown models are 404 `{"error": "model 'x' not found"}`; streams are NDJSON
ending in a `done` line with nanosecond stats; a prompt longer than `num_ctx` is silently
cut (only `prompt_eval_count` shows it); a model without the tools capability refuses
`tools` with 400 "<name> does not support tools"; the OpenAI layer wraps errors as
`{"error": {"message", "type": "not_found_error"|..., "param": null, "code": null}}`.

`fail_stream_after=N` makes generation fail as a crashed runner does: after N pieces an
`{"error": "an error was encountered while running the model: ..."}` line ends a stream
(HTTP status stays 200); before any piece (N=0), or without streaming, the error is the
whole answer with status 500.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fakes._canned import chat_reply, count_tokens, prompt_of, reply_words, schema_instance
from fakes._server import FakeServer, Reply, Request, ndjson

DEFAULT_NUM_CTX = 4096
RUN_FAILURE = "an error was encountered while running the model: unexpected EOF"

# Fields of the request types whose Go types a body must match (others are ignored), with the
# Go type Go's unmarshal error names; and how it names a JSON value of each Python type.
_TYPED: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "string"),
    "messages": (list, "[]api.Message"),
    "prompt": (str, "string"),
    "stream": (bool, "bool"),
    "options": (dict, "map[string]interface {}"),
    "tools": (list, "api.Tools"),
    "raw": (bool, "bool"),
}
_JSON_KINDS = {"str": "string", "list": "array", "dict": "object", "bool": "bool"}


@dataclass
class FakeModel:
    name: str
    size: int = 98_000_000
    quantization: str = "Q4_1"
    family: str = "llama"
    context_length: int = 8192
    capabilities: list[str] = field(default_factory=lambda: ["completion"])


@dataclass
class Loaded:
    num_ctx: int
    expires_at: str = "2099-01-01T00:00:00Z"


class FakeOllama(FakeServer):
    def __init__(self, models: list[FakeModel] | None = None) -> None:
        super().__init__()
        default = [
            FakeModel("smollm2:135m"),
            FakeModel("qwen3:0.6b", capabilities=["completion", "tools", "thinking"]),
        ]
        self.models = {m.name: m for m in (models or default)}
        self.loaded: dict[str, Loaded] = {}
        self.registry = {"tinyllama:latest": 3_000_000}
        # lines of a pull sent before the connection drops (None: the whole pull)
        self.pull_cut_after: int | None = None
        self.fail_stream_after: int | None = None
        self.route("GET", "/", lambda r: Reply(200, "Ollama is running", content_type="text/plain"))
        self.route("GET", "/api/version", lambda r: Reply(200, {"version": "0.12.3"}))
        self.route("GET", "/api/tags", self._tags)
        self.route("GET", "/api/ps", self._ps)
        self.route("POST", "/api/show", self._show)
        self.route("POST", "/api/chat", self._chat)
        self.route("POST", "/api/generate", self._generate)
        self.route("POST", "/api/pull", self._pull)
        self.route("GET", "/v1/models", self._v1_models)
        self.route("POST", "/v1/chat/completions", self._v1_chat)

    def unknown_route(self, request: Request) -> Reply:
        return Reply(404, "404 page not found", content_type="text/plain")

    # --- helpers ------------------------------------------------------------------------

    def _resolve(self, name: Any) -> FakeModel | None:
        if not isinstance(name, str):
            return None
        return self.models.get(name) or self.models.get(f"{name}:latest")

    @staticmethod
    def _not_found(name: Any) -> Reply:
        return Reply(404, {"error": f"model '{name}' not found"})

    @staticmethod
    def _body(request: Request, kind: str = "ChatRequest") -> dict[str, Any] | Reply:
        """The body bound as gin binds it into `api.<kind>`."""
        if not request.raw:
            return Reply(400, {"error": "missing request body"})
        try:
            body = request.json()
        except ValueError:
            first = request.raw[:1].decode(errors="replace")
            error = f"invalid character '{first}' looking for beginning of value"
            return Reply(400, {"error": error})
        if not isinstance(body, dict):
            got = _JSON_KINDS.get(type(body).__name__, "number")
            return Reply(
                400, {"error": f"json: cannot unmarshal {got} into Go value of type api.{kind}"}
            )
        for key, (wanted, go_type) in _TYPED.items():
            value = body.get(key)
            if value is not None and not isinstance(value, wanted):
                got = _JSON_KINDS.get(type(value).__name__, "number")
                error = (
                    f"json: cannot unmarshal {got} into Go struct field {kind}.{key} "
                    f"of type {go_type}"
                )
                return Reply(400, {"error": error})
        return body

    def _body_and_model(
        self, request: Request, kind: str = "ChatRequest"
    ) -> tuple[dict[str, Any], FakeModel] | Reply:
        """The request's JSON body and the model it names, or the refusal Ollama sends."""
        body = self._body(request, kind)
        if isinstance(body, Reply):
            return body
        if not body.get("model"):
            return Reply(400, {"error": "model is required"})
        model = self._resolve(body.get("model"))
        if model is None:
            return self._not_found(body.get("model"))
        return body, model

    def _entry(self, model: FakeModel) -> dict[str, Any]:
        return {
            "name": model.name,
            "model": model.name,
            "modified_at": "2026-01-02T10:00:00Z",
            "size": model.size,
            "digest": "a" * 64,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": model.family,
                "families": [model.family],
                "parameter_size": "135M",
                "quantization_level": model.quantization,
            },
        }

    # --- routes -------------------------------------------------------------------------

    def _tags(self, request: Request) -> Reply:
        return Reply(200, {"models": [self._entry(m) for m in self.models.values()]})

    def _ps(self, request: Request) -> Reply:
        items = []
        for name, loaded in self.loaded.items():
            entry = self._entry(self.models[name])
            entry.update(expires_at=loaded.expires_at, size_vram=0, context_length=loaded.num_ctx)
            items.append(entry)
        return Reply(200, {"models": items})

    def _show(self, request: Request) -> Reply:
        found = self._body_and_model(request)
        if isinstance(found, Reply):
            return found
        _, model = found
        return Reply(
            200,
            {
                "modelfile": f"FROM {model.name}",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": self._entry(model)["details"],
                "model_info": {
                    "general.architecture": model.family,
                    f"{model.family}.context_length": model.context_length,
                },
                "capabilities": model.capabilities,
                "modified_at": "2026-01-02T10:00:00Z",
            },
        )

    def _lifecycle(self, model: FakeModel, body: Mapping[str, Any]) -> Reply | None:
        """Load / unload answers when the request carries nothing to generate."""
        keep_alive = body.get("keep_alive")
        base = {"model": model.name, "created_at": "2026-01-02T10:00:00Z", "done": True}
        if keep_alive == 0 or keep_alive == "0":
            self.loaded.pop(model.name, None)
            return Reply(200, {**base, "response": "", "done_reason": "unload"})
        self._load(model, body)
        return Reply(200, {**base, "response": "", "done_reason": "load"})

    def _load(self, model: FakeModel, body: Mapping[str, Any]) -> int:
        options = body.get("options") or {}
        num_ctx = options.get("num_ctx") or DEFAULT_NUM_CTX
        current = self.loaded.get(model.name)
        if current is None or current.num_ctx != num_ctx:
            self.loaded[model.name] = Loaded(num_ctx)
        return int(num_ctx)

    def _stats(self, prompt_tokens: int, generated: int) -> dict[str, Any]:
        return {
            "total_duration": 2_650_000_000,
            "load_duration": 1_900_000,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 210_000_000,
            "eval_count": generated,
            "eval_duration": 40_000_000 * max(generated, 1),
        }

    def _run(self, model: FakeModel, body: Mapping[str, Any], prompt: str, key: str) -> Reply:
        """Generate (echo) under `num_ctx`: the prompt is cut to fit, silently, like Ollama."""
        num_ctx = self._load(model, body)
        options = body.get("options") or {}
        prompt_tokens = min(count_tokens(prompt), num_ctx)
        room = num_ctx - prompt_tokens
        limit = options.get("num_predict")
        limit = room if limit is None or limit < 0 else min(limit, room)
        pieces, reason = reply_words(prompt, limit)
        constraint = body.get("format")
        if constraint:  # a schema (or "json") constrains the whole answer, like Ollama's grammar
            instance = schema_instance(constraint) if isinstance(constraint, dict) else {}
            pieces, reason = [json.dumps(instance)], "stop"
        if room <= 0:
            pieces, reason = [], "length"
        thinking = body.get("think") and "thinking" in model.capabilities
        base = {"model": model.name, "created_at": "2026-01-02T10:00:00Z"}

        def piece_line(text: str, thought: str = "") -> dict[str, Any]:
            if key == "message":
                message: dict[str, Any] = {"role": "assistant", "content": text}
                if thought:
                    message["thinking"] = thought
                return {**base, "message": message, "done": False}
            line = {**base, "response": text, "done": False}
            if thought:
                line["thinking"] = thought
            return line

        final = piece_line("")
        final.update(done=True, done_reason=reason, **self._stats(prompt_tokens, len(pieces)))
        tool_calls = self._tool_calls(body)
        if tool_calls and key == "message":
            final["message"]["tool_calls"] = tool_calls
        failing = self.fail_stream_after
        if failing is not None and (failing == 0 or not body.get("stream", True)):
            return Reply(500, {"error": RUN_FAILURE})
        if not body.get("stream", True):
            full = piece_line("".join(pieces), "Let me think." if thinking else "")
            full.update({k: v for k, v in final.items() if k not in ("message", "response")})
            if tool_calls and key == "message":
                full["message"]["tool_calls"] = tool_calls
            return Reply(200, full)

        def lines() -> Iterator[dict[str, Any]]:
            if thinking:
                yield piece_line("", "Let me think.")
            for index, piece in enumerate(pieces):
                if index == failing:
                    yield {"error": RUN_FAILURE}
                    return
                yield piece_line(piece)
            yield final

        return Reply(200, stream=ndjson(lines()), content_type="application/x-ndjson")

    @staticmethod
    def _tool_calls(body: Mapping[str, Any]) -> list[dict[str, Any]]:
        tools = body.get("tools") or []
        if not tools:
            return []
        function = tools[0]["function"]
        return [{"function": {"name": function["name"], "arguments": {"city": "Tokyo"}}}]

    def _chat(self, request: Request) -> Reply:
        found = self._body_and_model(request)
        if isinstance(found, Reply):
            return found
        body, model = found
        if body.get("tools") and "tools" not in model.capabilities:
            return Reply(
                400, {"error": f"registry.ollama.ai/library/{model.name} does not support tools"}
            )
        messages = body.get("messages") or []
        if not messages:
            return self._lifecycle(model, body) or Reply(500, {"error": "unreachable"})
        kept = self._fit(messages, body)
        return self._run(model, {**body, "messages": kept}, prompt_of(kept), "message")

    def _fit(self, messages: list[dict[str, Any]], body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Drop the oldest non-system messages until the prompt fits, as Ollama's chat does."""
        num_ctx = (body.get("options") or {}).get("num_ctx") or DEFAULT_NUM_CTX
        kept = list(messages)
        while len(kept) > 1 and count_tokens(prompt_of(kept)) > num_ctx:
            index = 1 if kept[0].get("role") == "system" and len(kept) > 2 else 0
            kept.pop(index)
        return kept

    def _generate(self, request: Request) -> Reply:
        found = self._body_and_model(request, "GenerateRequest")
        if isinstance(found, Reply):
            return found
        body, model = found
        prompt = body.get("prompt")
        if not prompt:
            return self._lifecycle(model, body) or Reply(500, {"error": "unreachable"})
        return self._run(model, body, str(prompt), "response")

    def _pull(self, request: Request) -> Reply:
        body = self._body(request, "PullRequest")
        if isinstance(body, Reply):
            return body
        name = str(body.get("model") or body.get("name") or "")
        full = name if ":" in name else f"{name}:latest"
        size = self.registry.get(full)

        def lines() -> Iterator[dict[str, Any]]:
            yield {"status": "pulling manifest"}
            if size is None:
                yield {"error": "pull model manifest: file does not exist"}
                return
            for done in (0, size // 2, size):
                yield {
                    "status": "pulling 0123abcd",
                    "digest": "sha256:0123abcd",
                    "total": size,
                    "completed": done,
                }
            yield {"status": "verifying sha256 digest"}
            yield {"status": "writing manifest"}
            self.models[full] = FakeModel(full, size=size)
            yield {"status": "success"}

        sent = itertools.islice(lines(), self.pull_cut_after)
        return Reply(200, stream=ndjson(sent), content_type="application/x-ndjson")

    def _v1_models(self, request: Request) -> Reply:
        data = [
            {"id": m.name, "object": "model", "created": 0, "owned_by": "library"}
            for m in self.models.values()
        ]
        return Reply(200, {"object": "list", "data": data})

    def _v1_chat(self, request: Request) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return _openai_error(body)
        model = self._resolve(body.get("model"))
        if model is None:
            return _openai_error(self._not_found(body.get("model")))
        return chat_reply(body, model.name)


def _openai_error(native: Reply) -> Reply:
    """A native `{"error": "..."}` refusal as Ollama's OpenAI layer words it (openai.NewError)."""
    kinds = {400: "invalid_request_error", 404: "not_found_error"}
    error = {
        "message": native.body["error"],
        "type": kinds.get(native.status, "api_error"),
        "param": None,
        "code": None,
    }
    return Reply(native.status, {"error": error})
