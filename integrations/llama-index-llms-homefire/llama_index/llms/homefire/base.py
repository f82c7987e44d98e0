"""`HomefireLLM`: any homefire LLM as a LlamaIndex `FunctionCallingLLM`.

Every call goes to the homefire method of the same name; messages, tool calls and responses
are converted on the way (see `utils`). Tools work on every backend: homefire passes them to
backends that call tools natively and, on the others, constrains the output to a tool call,
so `tool_required` and a named `tool_choice` are enforced rather than hoped for. That is why
`is_function_calling_model` defaults to True whatever the model.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from typing import TYPE_CHECKING, Any

import homefire as hf
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.events.llm import (
    LLMStructuredPredictEndEvent,
    LLMStructuredPredictStartEvent,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.types import PydanticProgramMode

from llama_index.llms.homefire.utils import (
    chat_response,
    completion_response,
    merged_options,
    resolve_tool_choice,
    to_homefire_messages,
    tool_arguments,
)

if TYPE_CHECKING:
    from llama_index.core.prompts import BasePromptTemplate
    from llama_index.core.tools.types import BaseTool
    from llama_index.core.types import Model

dispatcher = get_dispatcher(__name__)


class HomefireLLM(FunctionCallingLLM):
    """A LlamaIndex LLM over any homefire LLM (in-process llama.cpp, a llama.cpp server,
    LM Studio, LocalAI, Xinference, Ollama, an OpenAI-compatible server or your own).

    ```python
    import homefire as hf
    from llama_index.llms.homefire import HomefireLLM

    llm = HomefireLLM(hf.LlamaCPP(model_path="model.gguf"))
    print(llm.complete("Once upon a time").text)
    ```

    Per-call keyword arguments are homefire's generation options (`temperature`,
    `max_tokens`, `top_p`, `stop`, `seed`, `extra={...}`, ...); an unknown one raises
    `hf.InvalidParameterError` before anything is sent. Usage lands in `additional_kwargs`
    (`prompt_tokens`, `completion_tokens`, `total_tokens`, `timings`, `finish_reason`) and
    in `raw["usage"]`, where LlamaIndex's token counting reads it.
    """

    model_config = ConfigDict(extra="forbid")

    is_function_calling_model: bool = Field(
        default=True,
        description="Whether LlamaIndex may call tools through this LLM. homefire enforces "
        "tool calls on every backend, so this is True unless you turn it off.",
    )

    _llm: Any = PrivateAttr()
    # Options every call starts from (a drop-in's generate_kwargs, seed, json_mode ...).
    _call_defaults: dict[str, Any] = PrivateAttr(default_factory=dict)

    def __init__(self, llm: hf.LLM, **kwargs: Any) -> None:
        if not isinstance(llm, hf.LLM):
            raise hf.InvalidParameterError(
                "llm", f"must be a homefire LLM (hf.LlamaCPP(), hf.Ollama(...), ...), got {llm!r}"
            )
        super().__init__(**kwargs)
        self._llm = llm

    @classmethod
    def class_name(cls) -> str:
        return "HomefireLLM"

    @property
    def llm(self) -> hf.LLM:
        """The homefire LLM every call goes to (for lifecycle calls, `close()`, ...)."""
        return self._llm  # type: ignore[no-any-return]

    @property
    def metadata(self) -> LLMMetadata:
        meta = self._llm.metadata
        return LLMMetadata(
            context_window=meta.context_window,
            num_output=meta.num_output,
            model_name=meta.model_name,
            is_chat_model=meta.is_chat_model,
            is_function_calling_model=self.is_function_calling_model,
        )

    def _options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return merged_options(self._call_defaults, kwargs) if self._call_defaults else kwargs

    # --- chat and completion ------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        response = self._llm.chat(to_homefire_messages(messages), **self._options(kwargs))
        return chat_response(response)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        chunks = self._llm.stream_chat(to_homefire_messages(messages), **self._options(kwargs))

        def gen() -> Generator[ChatResponse, None, None]:
            for chunk in chunks:
                yield chat_response(chunk)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        response = self._llm.complete(prompt, formatted=formatted, **self._options(kwargs))
        return completion_response(response)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        chunks = self._llm.stream_complete(prompt, formatted=formatted, **self._options(kwargs))

        def gen() -> Generator[CompletionResponse, None, None]:
            for chunk in chunks:
                yield completion_response(chunk)

        return gen()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        response = await self._llm.achat(to_homefire_messages(messages), **self._options(kwargs))
        return chat_response(response)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        chunks = self._llm.astream_chat(to_homefire_messages(messages), **self._options(kwargs))

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            async for chunk in chunks:
                yield chat_response(chunk)

        return gen()

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        options = self._options(kwargs)
        response = await self._llm.acomplete(prompt, formatted=formatted, **options)
        return completion_response(response)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        chunks = self._llm.astream_complete(prompt, formatted=formatted, **self._options(kwargs))

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            async for chunk in chunks:
                yield completion_response(chunk)

        return gen()

    # --- tools --------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        specs = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
        if specs:
            kwargs["tools"] = specs
            kwargs["tool_choice"] = resolve_tool_choice(tool_choice, tool_required)
        return {"messages": messages, **kwargs}

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Keeps only the first tool call unless parallel calls were allowed."""
        if not allow_parallel_tool_calls:
            calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
            if len(calls) > 1:
                response.message.blocks = [
                    b for b in response.message.blocks if not isinstance(b, ToolCallBlock)
                ] + [calls[0]]
        return response

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
        if not calls and error_on_no_tool_call:
            raise ValueError("Expected at least one tool call, but the model called none.")
        return [
            ToolSelection(
                tool_id=call.tool_call_id or call.tool_name,
                tool_name=call.tool_name,
                tool_kwargs=tool_arguments(call.tool_name, call.tool_kwargs),
            )
            for call in calls
        ]

    # --- structured output --------------------------------------------------------------------
    # homefire constrains the answer to the output class's JSON schema on every backend and
    # retries once with the validation error, which suits small local models better than
    # LlamaIndex's tool-call program; the other program modes are LlamaIndex's own.

    @dispatcher.span
    def structured_predict(
        self,
        output_cls: type[Model],
        prompt: BasePromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        if self.pydantic_program_mode != PydanticProgramMode.DEFAULT:
            program: Model = super().structured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
            return program
        messages = self._structured_messages(output_cls, prompt, prompt_args)
        result: Model = self._llm.structured(
            messages, output_cls, **self._options(llm_kwargs or {})
        )
        dispatcher.event(LLMStructuredPredictEndEvent(output=result))
        return result

    @dispatcher.span
    async def astructured_predict(
        self,
        output_cls: type[Model],
        prompt: BasePromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        if self.pydantic_program_mode != PydanticProgramMode.DEFAULT:
            program: Model = await super().astructured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
            return program
        messages = self._structured_messages(output_cls, prompt, prompt_args)
        options = self._options(llm_kwargs or {})
        result: Model = await self._llm.astructured(messages, output_cls, **options)
        dispatcher.event(LLMStructuredPredictEndEvent(output=result))
        return result

    def _structured_messages(
        self, output_cls: type[Model], prompt: BasePromptTemplate, prompt_args: dict[str, Any]
    ) -> list[Any]:
        dispatcher.event(
            LLMStructuredPredictStartEvent(
                output_cls=output_cls, template=prompt, template_args=prompt_args
            )
        )
        return to_homefire_messages(self._get_messages(prompt, **prompt_args))
