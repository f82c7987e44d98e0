"""`CustomLLM`: implement completion once, get chat, streaming, async and metadata for free.

A subclass overrides `complete` and `stream_complete` (or `acomplete` and
`astream_complete`); they may return `CompletionResponse` objects or plain strings. The
subclass's methods are moved aside when the class is created, so calls still go through the
base class's validation, option defaults and normalisation before reaching them. Chat turns
messages into a prompt with `messages_to_prompt`, a Jinja `chat_template`, or a plain
transcript, in that order of preference.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from homefire._bridge import iterate_sync, run_sync
from homefire.llm.base import LLM
from homefire.llm.templates import render_chat_template, simple_messages_to_prompt
from homefire.options import GenerationOptions
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    chat_from_completion,
)

MessagesToPrompt = Callable[[Sequence[ChatMessage]], str]

_USER_METHODS = ("complete", "stream_complete", "acomplete", "astream_complete")


def _as_completion(value: CompletionResponse | str, so_far: str = "") -> CompletionResponse:
    if isinstance(value, CompletionResponse):
        return value
    if isinstance(value, str):
        return CompletionResponse(text=so_far + value, delta=value)
    raise TypeError(
        f"a custom LLM's completion returned {type(value).__name__}; "
        "return a CompletionResponse or a str"
    )


def _call_kwargs(options: GenerationOptions) -> dict[str, Any]:
    kwargs = options.sampling_items()
    if "stop" in kwargs:
        kwargs["stop"] = list(kwargs["stop"])
    if options.extra:
        kwargs["extra"] = dict(options.extra)
    return kwargs


class CustomLLM(LLM):
    """Base for user-written LLMs; see the module docstring for what to override."""

    context_window: int = 4096
    num_output: int = 256
    model_name: str = "custom"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _USER_METHODS:
            if name in cls.__dict__:
                setattr(cls, f"_user_{name}", cls.__dict__[name])
                delattr(cls, name)

    def __init__(
        self,
        *,
        messages_to_prompt: MessagesToPrompt | None = None,
        chat_template: str | None = None,
        defaults: GenerationOptions | None = None,
    ) -> None:
        super().__init__(defaults)
        self._messages_to_prompt = messages_to_prompt
        self._chat_template = chat_template
        self._user: dict[str, Callable[..., Any] | None] = {
            name: getattr(self, f"_user_{name}", None) for name in _USER_METHODS
        }
        if self._user["complete"] is None and self._user["acomplete"] is None:
            raise TypeError(f"{type(self).__name__} must implement complete() or acomplete()")

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.num_output,
            model_name=self.model_name,
            is_chat_model=False,
            supports_tools=True,
        )

    def messages_to_prompt(self, messages: Sequence[ChatMessage]) -> str:
        if self._messages_to_prompt is not None:
            return self._messages_to_prompt(messages)
        if self._chat_template is not None:
            return render_chat_template(
                self._chat_template, messages, source=f"{type(self).__name__}.chat_template"
            )
        return simple_messages_to_prompt(messages)

    # --- completion: the user's methods, reached whichever flavour they wrote ------------

    def _complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        kwargs = _call_kwargs(options)
        if (complete := self._user["complete"]) is not None:
            return _as_completion(complete(prompt, **kwargs))
        acomplete = self._user["acomplete"]
        assert acomplete is not None  # checked in __init__
        return _as_completion(run_sync(acomplete(prompt, **kwargs)))

    def _stream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> Iterator[CompletionResponse]:
        kwargs = _call_kwargs(options)
        if (stream := self._user["stream_complete"]) is not None:
            chunks: Iterator[Any] = iter(stream(prompt, **kwargs))
        elif (astream := self._user["astream_complete"]) is not None:
            chunks = iterate_sync(astream(prompt, **kwargs))
        else:
            chunks = iter([self._complete(prompt, options, formatted)])
        return self._accumulate(chunks)

    async def _acomplete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        if (acomplete := self._user["acomplete"]) is not None:
            return _as_completion(await acomplete(prompt, **_call_kwargs(options)))
        return await super()._acomplete(prompt, options, formatted)

    def _astream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> AsyncIterator[CompletionResponse]:
        if (astream := self._user["astream_complete"]) is not None:
            return self._aaccumulate(astream(prompt, **_call_kwargs(options)))
        return super()._astream_complete(prompt, options, formatted)

    @staticmethod
    def _accumulate(chunks: Iterator[Any]) -> Iterator[CompletionResponse]:
        text = ""
        for chunk in chunks:
            response = _as_completion(chunk, text)
            text = response.text
            yield response

    @staticmethod
    async def _aaccumulate(chunks: AsyncIterator[Any]) -> AsyncIterator[CompletionResponse]:
        text = ""
        async for chunk in chunks:
            response = _as_completion(chunk, text)
            text = response.text
            yield response

    # --- chat, built on completion ------------------------------------------------------------

    def _chat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        return chat_from_completion(
            self._complete(self.messages_to_prompt(messages), options, True)
        )

    def _stream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[ChatResponse]:
        prompt = self.messages_to_prompt(messages)
        return (chat_from_completion(c) for c in self._stream_complete(prompt, options, True))

    async def _achat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        return chat_from_completion(
            await self._acomplete(self.messages_to_prompt(messages), options, True)
        )

    async def _astream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ChatResponse]:
        prompt = self.messages_to_prompt(messages)
        async for chunk in self._astream_complete(prompt, options, True):
            yield chat_from_completion(chunk)
