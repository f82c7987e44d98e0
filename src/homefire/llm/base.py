"""The `LLM` base every provider implements.

Public methods validate messages and options once, merge them over the instance defaults
and hand the result to a small set of `_` hooks. Providers implement the sync hooks and, when
they have real async I/O, the async ones; otherwise async runs the sync hooks in a worker
thread so the event loop never blocks.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Self, Unpack

from homefire._bridge import iterate_in_thread, run_in_thread
from homefire._validate import integer
from homefire.errors import InvalidParameterError, NotSupportedError
from homefire.llm import tool_prompting
from homefire.llm.arguments import check_arguments
from homefire.llm.embedding import as_texts, batched, checked_vectors
from homefire.llm.reasoning import asplit_stream, keeps_tags, split_response, split_stream
from homefire.llm.structured import (
    arun_structured,
    astream_structured,
    run_structured,
    stream_structured,
)
from homefire.llm.timing import atimed, timed
from homefire.llm.tools import arun_tool_calls, run_tool_calls, with_tool_specs
from homefire.options import GenerationKwargs, GenerationOptions, parse_options
from homefire.progress import ProgressCallback
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    LoadRequest,
    Messages,
    ModelInfo,
    ToolCall,
    as_messages,
    check_text,
)

if TYPE_CHECKING:
    from types import TracebackType


class LLM(ABC):
    """Chat and completion, sync and async, streaming or not, with per-call options."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        check_arguments(cls, kwargs)
        return super().__new__(cls)

    def __init__(self, defaults: GenerationOptions | None = None) -> None:
        self.default_options = defaults or GenerationOptions()

    # --- what a provider implements -----------------------------------------------------

    @property
    @abstractmethod
    def metadata(self) -> LLMMetadata: ...

    @abstractmethod
    def _chat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse: ...

    @abstractmethod
    def _stream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[ChatResponse]: ...

    @abstractmethod
    def _complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse: ...

    @abstractmethod
    def _stream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> Iterator[CompletionResponse]: ...

    async def _achat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        return await run_in_thread(self._chat, messages, options)

    def _astream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ChatResponse]:
        return iterate_in_thread(lambda: self._stream_chat(messages, options))

    async def _acomplete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        return await run_in_thread(self._complete, prompt, options, formatted)

    def _astream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> AsyncIterator[CompletionResponse]:
        return iterate_in_thread(lambda: self._stream_complete(prompt, options, formatted))

    # --- the public surface ---------------------------------------------------------------

    def resolve_options(self, kwargs: dict[str, Any]) -> GenerationOptions:
        """Validate per-call keyword options and lay them over this LLM's defaults."""
        return self.default_options.merged(parse_options(with_tool_specs(kwargs)))

    def _completion_options(self, kwargs: dict[str, Any]) -> GenerationOptions:
        """Options for a plain completion, where tools have no place to go."""
        if kwargs.get("tools"):
            raise InvalidParameterError("tools", "only chat calls take tools; use chat()")
        return self.resolve_options(kwargs)

    def chat(self, messages: Messages, **kwargs: Unpack[GenerationKwargs]) -> ChatResponse:
        return self._chat_extended(as_messages(messages), self.resolve_options(dict(kwargs)))

    def stream_chat(
        self, messages: Messages, **kwargs: Unpack[GenerationKwargs]
    ) -> Iterator[ChatResponse]:
        options = self.resolve_options(dict(kwargs))
        return timed(self._stream_chat_extended(as_messages(messages), options))

    def complete(
        self, prompt: str, formatted: bool = False, **kwargs: Unpack[GenerationKwargs]
    ) -> CompletionResponse:
        return self._complete(_prompt(prompt), self._completion_options(dict(kwargs)), formatted)

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Unpack[GenerationKwargs]
    ) -> Iterator[CompletionResponse]:
        options = self._completion_options(dict(kwargs))
        return timed(self._stream_complete(_prompt(prompt), options, formatted))

    async def achat(self, messages: Messages, **kwargs: Unpack[GenerationKwargs]) -> ChatResponse:
        return await self._achat_extended(as_messages(messages), self.resolve_options(dict(kwargs)))

    def astream_chat(
        self, messages: Messages, **kwargs: Unpack[GenerationKwargs]
    ) -> AsyncIterator[ChatResponse]:
        options = self.resolve_options(dict(kwargs))
        return atimed(self._astream_chat_extended(as_messages(messages), options))

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Unpack[GenerationKwargs]
    ) -> CompletionResponse:
        return await self._acomplete(
            _prompt(prompt), self._completion_options(dict(kwargs)), formatted
        )

    def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Unpack[GenerationKwargs]
    ) -> AsyncIterator[CompletionResponse]:
        options = self._completion_options(dict(kwargs))
        return atimed(self._astream_complete(_prompt(prompt), options, formatted))

    # --- tools, structured output, reasoning and embeddings ---------------------------------
    # Every provider gets these from its four chat hooks. A provider whose backend calls tools
    # itself overrides `_native_tools`; otherwise tools are described in the prompt and the output
    # is constrained to a tool-call JSON (see homefire.llm.tool_prompting). Think blocks left in
    # content move to `message.reasoning`. Providers that can embed implement `_embed`.

    embed_batch_size: int = 32

    def _native_tools(self, options: GenerationOptions) -> bool:
        """Whether the backend itself takes these `tools` (and `tool_choice`) and returns
        parsed tool calls."""
        return False

    async def _anative_tools(self, options: GenerationOptions) -> bool:
        """`_native_tools` for async calls; a provider that must ask its server overrides it."""
        return self._native_tools(options)

    def _prompts_tools(self, options: GenerationOptions) -> bool:
        return bool(options.tools) and not self._native_tools(options)

    async def _aprompts_tools(self, options: GenerationOptions) -> bool:
        return bool(options.tools) and not await self._anative_tools(options)

    def _chat_extended(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> ChatResponse:
        if self._prompts_tools(options):
            sent, wire = tool_prompting.prepare(messages, options)
            response = tool_prompting.finish(self._chat(sent, wire), options)
        else:
            response = self._chat(messages, options)
        return response if keeps_tags(options) else split_response(response)

    def _stream_chat_extended(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[ChatResponse]:
        if self._prompts_tools(options):
            sent, wire = tool_prompting.prepare(messages, options)
            chunks = tool_prompting.stream(self._stream_chat(sent, wire), options)
        else:
            chunks = self._stream_chat(messages, options)
        return chunks if keeps_tags(options) else split_stream(chunks)

    async def _achat_extended(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> ChatResponse:
        if await self._aprompts_tools(options):
            sent, wire = tool_prompting.prepare(messages, options)
            response = tool_prompting.finish(await self._achat(sent, wire), options)
        else:
            response = await self._achat(messages, options)
        return response if keeps_tags(options) else split_response(response)

    async def _astream_chat_extended(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ChatResponse]:
        if await self._aprompts_tools(options):
            sent, wire = tool_prompting.prepare(messages, options)
            chunks = tool_prompting.astream(self._astream_chat(sent, wire), options)
        else:
            chunks = self._astream_chat(messages, options)
        stream = chunks if keeps_tags(options) else asplit_stream(chunks)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    def chat_with_tools(
        self,
        messages: Messages,
        tools: Sequence[Callable[..., Any]],
        max_turns: int = 5,
        **kwargs: Any,
    ) -> ChatResponse:
        """Call, run the requested tools, feed the results back, until the model answers.

        The first turn uses the given `tool_choice`, later ones "auto", and the last of
        `max_turns` "none", so the loop always ends with an answer. A model that asks again
        for calls it already has the results of is asked for its answer ("none") instead.
        """
        history = as_messages(messages)
        first_choice = kwargs.pop("tool_choice", "auto")
        answered: set[str] = set()
        for turn in range(_turns(max_turns)):
            choice = _turn_choice(turn, max_turns, first_choice)
            response = self.chat(history, tools=tools, tool_choice=choice, **kwargs)
            calls = response.message.tool_calls
            if not calls:
                break
            if _repeats(calls, answered):
                return self.chat(history, tools=tools, tool_choice="none", **kwargs)
            history += [response.message, *run_tool_calls(calls, tools)]
        return response

    async def achat_with_tools(
        self,
        messages: Messages,
        tools: Sequence[Callable[..., Any]],
        max_turns: int = 5,
        **kwargs: Any,
    ) -> ChatResponse:
        """`chat_with_tools` for async code; async tool functions are awaited."""
        history = as_messages(messages)
        first_choice = kwargs.pop("tool_choice", "auto")
        answered: set[str] = set()
        for turn in range(_turns(max_turns)):
            choice = _turn_choice(turn, max_turns, first_choice)
            response = await self.achat(history, tools=tools, tool_choice=choice, **kwargs)
            calls = response.message.tool_calls
            if not calls:
                break
            if _repeats(calls, answered):
                return await self.achat(history, tools=tools, tool_choice="none", **kwargs)
            history += [response.message, *await arun_tool_calls(calls, tools)]
        return response

    def structured(
        self, messages: Messages, schema: Any, **kwargs: Unpack[GenerationKwargs]
    ) -> Any:
        """An answer constrained to `schema` (pydantic model, dataclass, TypedDict or JSON
        schema dict), validated into an instance of it (a dict for a JSON schema)."""
        options = self.resolve_options(dict(kwargs))
        return run_structured(self._chat_extended, as_messages(messages), options, schema)

    async def astructured(
        self, messages: Messages, schema: Any, **kwargs: Unpack[GenerationKwargs]
    ) -> Any:
        options = self.resolve_options(dict(kwargs))
        return await arun_structured(self._achat_extended, as_messages(messages), options, schema)

    def stream_structured(
        self, messages: Messages, schema: Any, **kwargs: Unpack[GenerationKwargs]
    ) -> Iterator[Any]:
        """Partial values (dicts, lists) while the answer streams; the last item is the
        validated result."""
        options = self.resolve_options(dict(kwargs))
        return stream_structured(self._stream_chat_extended, as_messages(messages), options, schema)

    def astream_structured(
        self, messages: Messages, schema: Any, **kwargs: Unpack[GenerationKwargs]
    ) -> AsyncIterator[Any]:
        options = self.resolve_options(dict(kwargs))
        return astream_structured(
            self._astream_chat_extended, as_messages(messages), options, schema
        )

    def embed(self, texts: str | Sequence[str]) -> list[list[float]]:
        """One embedding vector per text, sent in batches of `embed_batch_size`."""
        items = as_texts(texts)
        vectors: list[list[float]] = []
        for batch in batched(items, self.embed_batch_size):
            vectors += checked_vectors(self._embed(batch), len(batch))
        return vectors

    async def aembed(self, texts: str | Sequence[str]) -> list[list[float]]:
        items = as_texts(texts)
        vectors: list[list[float]] = []
        for batch in batched(items, self.embed_batch_size):
            vectors += checked_vectors(await self._aembed(batch), len(batch))
        return vectors

    def _embed(self, texts: list[str]) -> list[list[float]]:
        raise NotSupportedError(
            f"{type(self).__name__} cannot make embeddings; use a provider that serves an "
            "embedding model, or hf.Embedding for a dedicated embedding endpoint"
        )

    async def _aembed(self, texts: list[str]) -> list[list[float]]:
        return await run_in_thread(self._embed, texts)

    # --- the model's lifecycle ----------------------------------------------------------------
    # Every LLM has these verbs. An LLM serves one model by default: `models()` lists it, it is
    # always ready, and loading, unloading or pulling another raises NotSupportedError. Providers
    # whose backend manages models (servers, the in-process engines) override them; the async
    # twins run the sync ones in a worker thread unless a provider has real async I/O.

    def models(self) -> list[ModelInfo]:
        """The models this LLM can answer with; `loaded` tells which are in memory."""
        meta = self.metadata
        return [ModelInfo(id=meta.model_name, loaded=True, context_length=meta.context_window)]

    async def amodels(self) -> list[ModelInfo]:
        return await run_in_thread(self.models)

    def load(
        self,
        model: str | None = None,
        *,
        context_length: int | None = None,
        gpu: float | str | None = None,
        ttl: int | str | None = None,
    ) -> ModelInfo:
        """Load `model` (with this context length, GPU offload and idle time-to-live, where
        the backend takes them) and return it as loaded."""
        return self._load_model(LoadRequest(model, context_length, gpu, ttl))

    async def aload(
        self,
        model: str | None = None,
        *,
        context_length: int | None = None,
        gpu: float | str | None = None,
        ttl: int | str | None = None,
    ) -> ModelInfo:
        return await self._aload_model(LoadRequest(model, context_length, gpu, ttl))

    def _load_model(self, request: LoadRequest) -> ModelInfo:
        raise self._cannot("load models", "create another LLM for another model")

    async def _aload_model(self, request: LoadRequest) -> ModelInfo:
        return await run_in_thread(self._load_model, request)

    def unload(self, model: str | None = None) -> None:
        """Free `model`'s memory (default: this LLM's model)."""
        raise self._cannot("unload models", "close() it instead")

    async def aunload(self, model: str | None = None) -> None:
        await run_in_thread(self.unload, model)

    def pull(self, model: str, *, progress: ProgressCallback | None = None) -> None:
        """Download `model` onto the backend, reporting `Progress` steps to `progress`."""
        raise self._cannot("download models", "use hf.download_model for GGUF files")

    async def apull(self, model: str, *, progress: ProgressCallback | None = None) -> None:
        await run_in_thread(lambda: self.pull(model, progress=progress))

    def health(self) -> bool:
        """True when the backend is ready to answer, False while it loads or is busy."""
        return True

    async def ahealth(self) -> bool:
        return await run_in_thread(self.health)

    def wait_until_ready(self, timeout: float | None = None) -> None:  # noqa: B027 - ready at once
        """Return once `health()` is True; HomefireTimeoutError after `timeout` seconds."""

    async def await_until_ready(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await run_in_thread(self.wait_until_ready, timeout)

    @property
    def label(self) -> str:
        """How messages name this backend."""
        return type(self).__name__

    def _cannot(self, what: str, instead: str) -> NotSupportedError:
        return NotSupportedError(f"{self.label} cannot {what}; {instead}")

    # --- resources --------------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - a no-op is right for LLMs that hold nothing
        """Release engines, connections and processes; the LLM is unusable afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _turn_choice(turn: int, max_turns: int, first_choice: str) -> str:
    """The caller's choice first, then "auto", and "none" on the last turn to get an answer."""
    if turn == max_turns - 1:
        return "none"
    return first_choice if turn == 0 else "auto"


def _repeats(calls: Sequence[ToolCall], answered: set[str]) -> bool:
    """Whether every call was answered before (and, if not, remember them as answered)."""
    keys = {f"{call.name}:{json.dumps(call.arguments, sort_keys=True)}" for call in calls}
    if keys <= answered:
        return True
    answered |= keys
    return False


def _turns(max_turns: Any) -> int:
    return integer("max_turns", max_turns, low=1)


def _prompt(prompt: Any) -> str:
    if not isinstance(prompt, str):
        raise InvalidParameterError("prompt", f"must be a string, got {type(prompt).__name__}")
    return check_text("prompt", prompt)
