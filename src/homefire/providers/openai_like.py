"""`OpenAILike`: any OpenAI-compatible server (vLLM, SGLang, TGI, a proxy, a cloud endpoint).

`base_url` is the API root as OpenAI clients take it (`http://host:8000/v1`; a bare
`http://host:8000` gets `/v1` added). When no model is named, the server's first model is
used; the context window comes from the model list when the server tells it
(`max_model_len` from vLLM, `meta.n_ctx_train` from llama.cpp).

Such a server may take `tools`, `tool_choice` and `response_format` and do nothing with them
(llama-cpp-python's server without a tool-calling chat format answers plain text to
"required"; llama.cpp reads a named `tool_choice` as "auto"; llama-cpp-python refuses
`json_schema` but takes `json_object` with a schema). So before the first request that needs
one, the server is asked once with a tiny probe whose answer shows whether it honours it:

- tools, per kind of choice ("auto"/"none", "required", a named tool): a request that asks
  for a plain answer under "required", or for another tool than the named one, gets a tool
  call back only from a server that enforces the choice; "auto" must see a call when asked
  for one. Where the server does not, homefire's constrained prompting does the tool call.
- a JSON schema, per route: a schema that admits one answer the prompt does not mention,
  tried in each form the server might take; the first that comes back as that answer is the
  one used. Where none does, a call with a schema raises NotSupportedError before it is sent.

Probing costs one short generation per question, once per instance; guessing from the
answers to real calls could not tell a server that ignored "auto" from a model that chose
not to call, and would spend a whole generation on a request it then has to send again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from homefire.errors import APIStatusError, GenerationError, NotSupportedError, ProtocolError
from homefire.options import GenerationOptions
from homefire.protocols import openai
from homefire.protocols.openai import SchemaField
from homefire.providers._server import (
    Call,
    Plan,
    Route,
    RouteKind,
    ServerLLM,
    named_choice,
)
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    MessageRole,
)

ToolKind = Literal["auto", "required", "named"]

_PROBE_TOKENS = 64
_PROBE_VALUE = "homefire"
_PROBE_SCHEMA = {
    "type": "object",
    "properties": {"probe": {"type": "string", "enum": [_PROBE_VALUE]}},
    "required": ["probe"],
    "additionalProperties": False,
}
_SCHEMA_FIELDS: dict[RouteKind, tuple[SchemaField, ...]] = {
    "chat": ("json_schema", "json_object"),
    "completion": ("llamacpp", "json_schema"),
}
_FIELD_WORDS: dict[SchemaField, str] = {
    "json_schema": "response_format json_schema",
    "json_object": "response_format json_object with a schema",
    "llamacpp": "llama.cpp's json_schema field",
}
# Statuses a server answers a field it does not take with (validation errors included).
_REFUSALS = frozenset({400, 422, 500})


def _probe_tool(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": "A test tool.",
            "parameters": {"type": "object", "properties": {}},
        },
    }


_TOOLS = (_probe_tool("homefire_probe_a"), _probe_tool("homefire_probe_b"))
_EITHER = frozenset(("homefire_probe_a", "homefire_probe_b"))
_TOOL_PROBES: dict[ToolKind, tuple[str, str, frozenset[str]]] = {
    # kind: (prompt, tool_choice, the tools whose call proves the server honours it)
    "auto": ("Call the tool homefire_probe_a now.", "auto", _EITHER),
    "required": ("Reply with the single word hello, and nothing else.", "required", _EITHER),
    "named": (
        "Call the tool homefire_probe_a now.",
        "homefire_probe_b",
        frozenset(("homefire_probe_b",)),
    ),
}


def _tool_kind(options: GenerationOptions) -> ToolKind:
    if named_choice(options):
        return "named"
    return "required" if options.tool_choice == "required" else "auto"


@dataclass
class _Honoured:
    """What this server was found to honour; a missing key has not been asked yet."""

    tools: dict[ToolKind, bool] = field(default_factory=dict)
    schema: dict[RouteKind, SchemaField | None] = field(default_factory=dict)
    refusals: dict[RouteKind, str] = field(default_factory=dict)


class OpenAILike(ServerLLM):
    """An LLM behind any server that speaks OpenAI's chat and completions API."""

    chat_route: ClassVar[Route[ChatResponse]] = Route(
        "/chat/completions", openai.parse_chat, openai.ChatStreamAssembler
    )
    completion_route: ClassVar[Route[CompletionResponse]] = Route(
        "/completions", openai.parse_completion, openai.CompletionStreamAssembler
    )
    models_path: ClassVar[str] = "/models"
    embeddings_path: ClassVar[str] = "/embeddings"
    load_instead: ClassVar[str] = (
        "an OpenAI-compatible server serves the models it was started with; create "
        "OpenAILike(model=...) for another of them"
    )

    _discovered_model: str | None = None

    def _normalise_base_url(self, base_url: str) -> str:
        trimmed = base_url.rstrip("/")
        if urlsplit(trimmed).path == "":
            return trimmed + "/v1"
        return trimmed

    def _address_hint(self) -> str | None:
        parts = urlsplit(self.base_url)
        if parts.path.rstrip("/").endswith("/v1"):
            return None
        return (
            "OpenAILike takes the API root OpenAI clients take, usually ending in /v1 "
            f"({parts.scheme}://{parts.netloc}/v1), not {parts.path}"
        )

    def _request_model(self) -> str | None:
        return self.model or self._discovered_model

    def _settle(self) -> Plan[None]:
        yield from self._discover()

    def _discover(self) -> Plan[None]:
        """Without a model named, ask once for the server's first one."""
        if self.model is None and self._discovered_model is None:
            models = yield from self._models()
            self._discovered_model = models[0].id if models else None

    @cached_property
    def _honoured(self) -> _Honoured:
        return _Honoured()

    # --- the wire, in the forms this server was found to take --------------------------------

    def _chat_body(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, stream: bool
    ) -> dict[str, Any]:
        return openai.build_chat_body(
            messages,
            options,
            model=self._request_model(),
            stream=stream,
            schema_field=self._honoured.schema.get("chat") or "json_schema",
        )

    def _completion_body(
        self, prompt: str, options: GenerationOptions, stream: bool, formatted: bool
    ) -> dict[str, Any]:
        return openai.build_completion_body(
            prompt,
            options,
            model=self._request_model(),
            stream=stream,
            schema_field=self._honoured.schema.get("completion") or "json_schema",
        )

    # --- what the server honours, asked once ---------------------------------------------------

    def _tool_support(self, options: GenerationOptions) -> Plan[bool]:
        if not options.tools:
            return True
        kind = _tool_kind(options)
        known = self._honoured.tools.get(kind)
        if known is None:
            yield from self._discover()
            known = self._honoured.tools[kind] = yield from self._probe_tools(kind)
        return known

    def _ready_for(self, options: GenerationOptions, route: RouteKind) -> Plan[None]:
        """A request with a JSON schema needs a form of it the server honours."""
        if options.json_schema is None:
            return
        honoured = self._honoured
        if route not in honoured.schema:
            yield from self._discover()
            honoured.schema[route] = yield from self._probe_schema(route)
        if honoured.schema[route] is None:
            path = (self.chat_route if route == "chat" else self.completion_route).path
            instead = ", or use chat instead of completion" if route == "completion" else ""
            raise NotSupportedError(
                f"{self.base_url}{path} does not constrain its output to a JSON schema "
                f"({honoured.refusals.get(route, 'it was not asked')}). A JSON schema "
                "(json_schema=, structured(), or tools the server does not call itself) needs a "
                f"server that can{instead}"
            )

    def _probe_tools(self, kind: ToolKind) -> Plan[bool]:
        prompt, choice, proof = _TOOL_PROBES[kind]
        options = GenerationOptions(
            tools=_TOOLS, tool_choice=choice, max_tokens=_PROBE_TOKENS, temperature=0.0
        )
        body = openai.build_chat_body(
            [ChatMessage(MessageRole.USER, prompt)], options, model=self._request_model()
        )
        answer, refusal = yield from self._ask(self.chat_route.path, body)
        if refusal is not None:
            return False
        try:
            calls = openai.parse_chat(answer).message.tool_calls
        except (ProtocolError, GenerationError):
            return False
        return bool(calls) and all(call.name in proof for call in calls)

    def _probe_schema(self, route: RouteKind) -> Plan[SchemaField | None]:
        options = GenerationOptions(
            max_tokens=_PROBE_TOKENS, temperature=0.0, json_schema=_PROBE_SCHEMA
        )
        model = self._request_model()
        hello = [ChatMessage(MessageRole.USER, "Say hello.")]
        reasons = []
        for form in _SCHEMA_FIELDS[route]:
            if route == "chat":
                path = self.chat_route.path
                body = openai.build_chat_body(hello, options, model=model, schema_field=form)
            else:
                path = self.completion_route.path
                body = openai.build_completion_body(
                    "Hello", options, model=model, schema_field=form
                )
            answer, refusal = yield from self._ask(path, body)
            if refusal is None and _is_probe_answer(answer, route):
                return form
            reasons.append(f"{_FIELD_WORDS[form]}: {refusal or 'ignored'}")
        self._honoured.refusals[route] = "; ".join(reasons)
        return None

    def _ask(self, path: str, body: dict[str, Any]) -> Plan[tuple[Any, str | None]]:
        """The server's answer to a probe, or why it refused what the probe sent. Any other
        failure is raised: a wrong key or an absent model is no answer to the question."""
        try:
            return (yield Call("POST", path, body)), None
        except APIStatusError as exc:
            if type(exc) is not APIStatusError or exc.status not in _REFUSALS:
                raise
            return None, str(exc)[:300]


def _is_probe_answer(answer: Any, route: RouteKind) -> bool:
    try:
        text = (
            openai.parse_chat(answer) if route == "chat" else openai.parse_completion(answer)
        ).text
        value = json.loads(text)
    except (ProtocolError, GenerationError, ValueError):
        return False
    return bool(value == {"probe": _PROBE_VALUE})
