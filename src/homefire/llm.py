"""The `LLM` base every provider implements.

Public methods validate messages and options once, merge them over the instance defaults
and hand the result to a small set of `_` hooks. Providers implement the sync hooks and, when
they have real async I/O, the async ones; otherwise async runs the sync hooks in a worker
thread so the event loop never blocks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Unpack

from homefire._bridge import iterate_in_thread, run_in_thread
from homefire.errors import InvalidParameterError
from homefire.options import GenerationKwargs, GenerationOptions, parse_options
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    Messages,
    as_messages,
)

if TYPE_CHECKING:
    from types import TracebackType


class LLM(ABC):
    """Chat and completion, sync and async, streaming or not, with per-call options."""

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
        return self.default_options.merged(parse_options(kwargs))

    def chat(self, messages: Messages, **kwargs: Unpack[GenerationKwargs]) -> ChatResponse:
        return self._chat(as_messages(messages), self.resolve_options(dict(kwargs)))

    def stream_chat(
        self, messages: Messages, **kwargs: Unpack[GenerationKwargs]
    ) -> Iterator[ChatResponse]:
        return self._stream_chat(as_messages(messages), self.resolve_options(dict(kwargs)))

    def complete(
        self, prompt: str, formatted: bool = False, **kwargs: Unpack[GenerationKwargs]
    ) -> CompletionResponse:
        return self._complete(_prompt(prompt), self.resolve_options(dict(kwargs)), formatted)

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Unpack[GenerationKwargs]
    ) -> Iterator[CompletionResponse]:
        return self._stream_complete(_prompt(prompt), self.resolve_options(dict(kwargs)), formatted)

    async def achat(self, messages: Messages, **kwargs: Unpack[GenerationKwargs]) -> ChatResponse:
        return await self._achat(as_messages(messages), self.resolve_options(dict(kwargs)))

    def astream_chat(
        self, messages: Messages, **kwargs: Unpack[GenerationKwargs]
    ) -> AsyncIterator[ChatResponse]:
        return self._astream_chat(as_messages(messages), self.resolve_options(dict(kwargs)))

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Unpack[GenerationKwargs]
    ) -> CompletionResponse:
        return await self._acomplete(_prompt(prompt), self.resolve_options(dict(kwargs)), formatted)

    def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Unpack[GenerationKwargs]
    ) -> AsyncIterator[CompletionResponse]:
        return self._astream_complete(
            _prompt(prompt), self.resolve_options(dict(kwargs)), formatted
        )

    # --- resources --------------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - a no-op is right for LLMs that hold nothing
        """Release engines, connections and processes; the LLM is unusable afterwards."""

    def __enter__(self) -> LLM:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _prompt(prompt: Any) -> str:
    if not isinstance(prompt, str):
        raise InvalidParameterError("prompt", f"must be a string, got {type(prompt).__name__}")
    return prompt
