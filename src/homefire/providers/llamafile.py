"""`Llamafile` (also `LlamaCppServer`): llama.cpp's HTTP server, and the llamafiles built on it.

Chat goes to `/v1/chat/completions`; completion to the native `/completion`, which every
generation of the server has (llamafile's classic server lacks `/v1/completions`) and which
takes the full sampler set. The context window is the one in effect, from `/props`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from homefire.errors import InvalidParameterError
from homefire.options import GenerationOptions
from homefire.protocols import llamacpp
from homefire.providers._server import Call, Plan, Route, ServerLLM, named_choice
from homefire.types import CompletionResponse, LLMMetadata, Messages, as_messages


class Llamafile(ServerLLM):
    """A llama.cpp server (`llama-server`, a llamafile, `homefire serve`) at `base_url`."""

    completion_route: ClassVar[Route[CompletionResponse]] = Route(
        "/completion", llamacpp.parse_completion, llamacpp.CompletionStreamAssembler
    )
    health_path: ClassVar[str | None] = "/health"
    ready_timeout: ClassVar[float] = 120.0
    load_instead: ClassVar[str] = (
        "a llama.cpp server serves the model it was started with: restart it with another "
        "`-m MODEL.gguf` (homefire serve OTHER.gguf)"
    )

    _takes_tools: bool | None = None

    def _routing(self) -> dict[str, str] | None:
        """`?model=` for GET routes: a router-mode server answers them for the model named."""
        return {"model": self.model} if self.model is not None else None

    def _completion_body(
        self, prompt: str, options: GenerationOptions, stream: bool, formatted: bool
    ) -> dict[str, Any]:
        """The native `/completion` route: every server generation has it (llamafile's classic
        server lacks `/v1/completions`) and it takes the full sampler set."""
        return llamacpp.build_completion_body(prompt, options, stream=stream, model=self.model)

    # --- what the server knows --------------------------------------------------------------

    def _props(self) -> Plan[llamacpp.ServerProps]:
        return llamacpp.parse_props((yield self._get("/props")))

    def _get(self, path: str) -> Call:
        return Call("GET", path, params=self._routing())

    def props(self) -> llamacpp.ServerProps:
        """`/props`: the context in effect, slots, model path, chat template, build."""
        return self._run(self._props())

    async def aprops(self) -> llamacpp.ServerProps:
        return await self._arun(self._props())

    def _fetch_metadata(self) -> LLMMetadata:
        props = self.props()
        name = self.model or props.model_alias or props.model_path
        if name is None:
            models = self.models()
            name = models[0].id if models else "unknown"
        caps = props.raw.get("chat_template_caps")
        return self._describe(
            self.context_window or props.n_ctx,
            name,
            native_tools=isinstance(caps, Mapping) and caps.get("supports_tools") is True,
            total_slots=props.total_slots,
            build_info=props.build_info,
            classic_llamafile=props.classic_llamafile,
        )

    def _server_health(self) -> Plan[llamacpp.Health]:
        response = yield self._probe("/health")
        return llamacpp.parse_health(response.status, response.json_or_text())

    def server_health(self) -> llamacpp.Health:
        """`/health` in full: ready or not, the server's status word, old builds' slot counts."""
        return self._run(self._server_health())

    async def aserver_health(self) -> llamacpp.Health:
        return await self._arun(self._server_health())

    def _health(self) -> Plan[bool]:
        """True when the model is loaded and the server answers; False while it loads."""
        return (yield from self._server_health()).ready

    def slots(self) -> list[llamacpp.Slot]:
        return llamacpp.parse_slots(self.http.get_json("/slots", params=self._routing()))

    def metrics(self) -> dict[str, float]:
        """`/metrics` (the server must run with metrics enabled) as {name: value}."""
        response = self.http.request("GET", "/metrics", params=self._routing())
        if response.status >= 400:
            raise self.http.error_for(response)
        return llamacpp.parse_metrics(response.text)

    # --- tools: native only where the server's chat template handles them ----------------

    def _tool_support(self, options: GenerationOptions) -> Plan[bool]:
        """llama.cpp ignores `tools` (and `tool_choice`) when the model's template has no tool
        support, so ask `/props` (once) whether it has. It reads `tool_choice` only as a
        word ("auto", "none", "required") and takes a named tool for "auto", so a named choice
        always goes through homefire's constrained prompting."""
        if named_choice(options):
            return False
        if self._takes_tools is None:
            caps = (yield from self._props()).raw.get("chat_template_caps")
            self._takes_tools = isinstance(caps, Mapping) and caps.get("supports_tools") is True
        return self._takes_tools

    # --- tokens and templates ---------------------------------------------------------------

    def tokenize(
        self, text: str, *, add_special: bool = False, parse_special: bool = True
    ) -> list[int]:
        if not isinstance(text, str):
            raise InvalidParameterError("text", f"must be a string, got {type(text).__name__}")
        body = llamacpp.build_tokenize_body(
            text, add_special=add_special, parse_special=parse_special, model=self.model
        )
        return llamacpp.parse_tokenize(self.http.post_json("/tokenize", body))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def detokenize(self, tokens: Sequence[int]) -> str:
        if isinstance(tokens, str) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in tokens
        ):
            raise InvalidParameterError("tokens", "must be a list of token ids (integers)")
        body = llamacpp.build_detokenize_body(tokens, model=self.model)
        return llamacpp.parse_detokenize(self.http.post_json("/detokenize", body))

    def apply_chat_template(self, messages: Messages) -> str:
        """The prompt the server's chat template makes of `messages` (`/apply-template`)."""
        body = llamacpp.build_apply_template_body(as_messages(messages), model=self.model)
        return llamacpp.parse_apply_template(self.http.post_json("/apply-template", body))


LlamaCppServer = Llamafile
