"""`Llamafile` (also `LlamaCppServer`): llama.cpp's HTTP server, and the llamafiles built on it.

Chat goes to `/v1/chat/completions`; completion to the native `/completion`, which every
generation of the server has (llamafile's classic server lacks `/v1/completions`) and which
takes the full sampler set. The context window is the one in effect, from `/props`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from homefire.errors import InvalidParameterError
from homefire.http import Response
from homefire.options import GenerationOptions
from homefire.protocols import llamacpp
from homefire.providers._lifecycle import await_until, wait_until
from homefire.providers._openai_compatible import _DEFAULT_OUTPUT, OpenAICompatibleLLM
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    Messages,
    as_messages,
)

_POLL_SECONDS = 0.1


class Llamafile(OpenAICompatibleLLM):
    """A llama.cpp server (`llama-server`, a llamafile, `homefire serve`) at `base_url`."""

    provider_name: ClassVar[str] = "llama.cpp server"
    default_base_url: ClassVar[str] = "http://127.0.0.1:8080"
    start_hint: ClassVar[str] = (
        "start one with `homefire serve MODEL.gguf --port 8080`, "
        "`llama-server -m MODEL.gguf --port 8080` or `./MODEL.llamafile --server`"
    )
    health_path: ClassVar[str | None] = "/health"

    _takes_tools: bool | None = None

    def _routing(self) -> dict[str, str] | None:
        """`?model=` for GET routes: a router-mode server answers them for the model named."""
        return {"model": self.model} if self.model is not None else None

    # --- completion over the native route -------------------------------------------------

    def _native_body(self, prompt: str, options: GenerationOptions, stream: bool) -> dict[str, Any]:
        return llamacpp.build_completion_body(prompt, options, stream=stream, model=self.model)

    def _complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        body = self.http.post_json("/completion", self._native_body(prompt, options, False))
        return llamacpp.parse_completion(body)

    def _stream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> Iterator[CompletionResponse]:
        assembler = llamacpp.CompletionStreamAssembler()
        body = self._native_body(prompt, options, True)
        for event in self.http.stream_sse("/completion", body):
            if (piece := assembler.feed(event)) is not None:
                yield piece
        yield assembler.finish()

    async def _acomplete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        body = self._native_body(prompt, options, False)
        return llamacpp.parse_completion(await self.http.apost_json("/completion", body))

    async def _astream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> AsyncIterator[CompletionResponse]:
        assembler = llamacpp.CompletionStreamAssembler()
        body = self._native_body(prompt, options, True)
        async for event in self.http.astream_sse("/completion", body):
            if (piece := assembler.feed(event)) is not None:
                yield piece
        yield assembler.finish()

    # --- what the server knows --------------------------------------------------------------

    def props(self) -> llamacpp.ServerProps:
        """`/props`: the context in effect, slots, model path, chat template, build."""
        return llamacpp.parse_props(self.http.get_json("/props", params=self._routing()))

    async def aprops(self) -> llamacpp.ServerProps:
        return llamacpp.parse_props(await self.http.aget_json("/props", params=self._routing()))

    def _fetch_metadata(self) -> LLMMetadata:
        props = self.props()
        name = self.model or props.model_alias or props.model_path
        if name is None:
            models = self.models()
            name = models[0].id if models else "unknown"
        return LLMMetadata(
            context_window=self.context_window or props.n_ctx or 4096,
            num_output=self.default_options.max_tokens or _DEFAULT_OUTPUT,
            model_name=name,
            is_chat_model=self.is_chat_model,
            extra={
                "base_url": self.base_url,
                "provider": self.provider_name,
                "total_slots": props.total_slots,
                "build_info": props.build_info,
                "classic_llamafile": props.classic_llamafile,
            },
        )

    def server_health(self) -> llamacpp.Health:
        """`/health` in full: ready or not, the server's status word, old builds' slot counts."""
        response = self.http.request("GET", "/health", timeout=self.http.timeouts.connect)
        return _health(response)

    async def aserver_health(self) -> llamacpp.Health:
        response = await self.http.arequest("GET", "/health", timeout=self.http.timeouts.connect)
        return _health(response)

    def health(self) -> bool:
        """True when the model is loaded and the server answers; False while it loads."""
        return self.server_health().ready

    async def ahealth(self) -> bool:
        return (await self.aserver_health()).ready

    def wait_until_ready(self, timeout: float = 120.0) -> None:
        """Poll `/health` until the model is loaded; a 503 "Loading model" means keep waiting.

        A refused connection also means keep waiting (the server may still be starting),
        until `timeout` seconds have passed.
        """
        wait_until(
            self.health,
            timeout=timeout,
            what=f"waiting for the llama.cpp server at {self.base_url} to load its model",
            interval=_POLL_SECONDS,
        )

    async def await_until_ready(self, timeout: float = 120.0) -> None:  # noqa: ASYNC109
        await await_until(
            self.ahealth,
            timeout=timeout,
            what=f"waiting for the llama.cpp server at {self.base_url} to load its model",
            interval=_POLL_SECONDS,
        )

    def slots(self) -> list[llamacpp.Slot]:
        return llamacpp.parse_slots(self.http.get_json("/slots", params=self._routing()))

    def metrics(self) -> dict[str, float]:
        """`/metrics` (the server must run with metrics enabled) as {name: value}."""
        response = self.http.request("GET", "/metrics", params=self._routing())
        if response.status >= 400:
            raise self.http.error_for(response)
        return llamacpp.parse_metrics(response.text)

    # --- tools: native only where the server's chat template handles them ----------------

    # llama.cpp ignores `tools` (and `tool_choice`) when the template has no tool support.
    # The answer comes from `/props`, asked once; async calls ask it before the sync check.

    def _native_tools(self, options: GenerationOptions) -> bool:
        if self._takes_tools is None:
            self._takes_tools = _supports_tools(self.props())
        return self._takes_tools

    async def _aknow_tools(self, options: GenerationOptions) -> None:
        if options.tools and self._takes_tools is None:
            self._takes_tools = _supports_tools(await self.aprops())

    async def _achat_extended(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> ChatResponse:
        await self._aknow_tools(options)
        return await super()._achat_extended(messages, options)

    async def _astream_chat_extended(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ChatResponse]:
        await self._aknow_tools(options)
        async for piece in super()._astream_chat_extended(messages, options):
            yield piece

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


def _supports_tools(props: llamacpp.ServerProps) -> bool:
    caps = props.raw.get("chat_template_caps")
    return isinstance(caps, Mapping) and caps.get("supports_tools") is True


def _health(response: Response) -> llamacpp.Health:
    return llamacpp.parse_health(response.status, response.json_or_text())


LlamaCppServer = Llamafile
