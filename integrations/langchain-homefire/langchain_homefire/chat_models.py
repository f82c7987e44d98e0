"""`ChatHomefire`: LangChain's chat model interface over any homefire LLM."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import aclosing, closing
from operator import itemgetter
from typing import Any, Literal, Self

import homefire as hf
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import (
    JsonOutputKeyToolsParser,
    JsonOutputParser,
    PydanticOutputParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import (
    convert_to_json_schema,
    convert_to_openai_function,
    convert_to_openai_tool,
)
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from langchain_homefire._messages import ChunkStream, to_ai_message, to_homefire

# Sampling settings a ChatHomefire holds as defaults; each goes to homefire under the same name.
_SAMPLING = ("temperature", "max_tokens", "top_p", "top_k", "min_p", "repeat_penalty", "seed")
# What `ChatHomefire` needs to build a server client from `model=`; nothing else takes them.
_CLIENT = ("api_key", "timeout", "max_retries")

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]


class ChatHomefire(BaseChatModel):
    """A homefire LLM (in-process llama.cpp, llama.cpp server, LM Studio, LocalAI, Xinference,
    Ollama, any OpenAI-compatible server) as a LangChain chat model.

    Pass a ready LLM as `llm=`, a spec for `hf.connect` as `model=` (a provider URL such as
    `"lmstudio://localhost:1234/qwen2.5-7b-instruct"`, `"ollama:llama3.2"`, a configured
    endpoint name), or neither for the embedded model, in process. Sampling settings here are
    defaults; the same names given to `invoke`/`stream`/`bind` win for that call, and
    `extra={...}` sends backend-specific fields.

    Example:
        ```python
        import homefire as hf
        from langchain_homefire import ChatHomefire

        chat = ChatHomefire(llm=hf.LlamaCPP(), temperature=0)
        chat.invoke("What is the capital of France?")
        ```
    """

    llm: Any = Field(default=None, exclude=True)
    """The homefire LLM that answers (`hf.LLM`); built from `model` when not given."""
    model: str | None = None
    """A spec for `hf.connect`; None (with no `llm`) means the embedded model, in process."""
    api_key: SecretStr | None = None
    """The server's key, for the LLM built from `model`."""
    timeout: float | None = None
    """Seconds a whole request may take, for the LLM built from a server `model`."""
    max_retries: int | None = None
    """Retries of a request that failed before any answer, for a server `model`."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    extra: dict[str, Any] | None = None
    """Backend-specific request fields, sent as they are (homefire's `extra=`)."""
    streaming: bool = False
    """Whether `invoke` streams from the backend and adds the pieces up."""

    # Unknown constructor arguments are errors: a misspelt setting must not go missing.
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    @model_validator(mode="after")
    def _connect(self) -> Self:
        client = {name: getattr(self, name) for name in _CLIENT if getattr(self, name) is not None}
        if self.llm is not None:
            if not isinstance(self.llm, hf.LLM):
                raise hf.InvalidParameterError(
                    "llm", f"must be a homefire LLM (hf.LLM), got {type(self.llm).__name__}"
                )
            taken = [*(["model"] if self.model is not None else []), *client]
            if taken:
                raise hf.InvalidParameterError(
                    taken[0], "configures the LLM built from model=; set it on the llm= you pass"
                )
        elif self.model is None or _in_process(self.model):
            if client:
                raise hf.InvalidParameterError(
                    next(iter(client)), "applies to servers; an in-process model takes none"
                )
            self.llm = hf.LlamaCPP() if self.model is None else hf.connect(self.model)
        else:
            self.llm = hf.connect(self.model, **_client_kwargs(client))
        return self

    @property
    def _llm_type(self) -> str:
        return "homefire"

    @property
    def model_name(self) -> str:
        """The name of the model that answers, as the backend knows it."""
        name = getattr(self.llm, "model", None)
        return name if isinstance(name, str) and name else str(self.llm.metadata.model_name)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, **self._defaults()}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="homefire",
            ls_model_name=kwargs.get("model") or self.model_name,
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        if stop := stop or self.stop:
            params["ls_stop"] = stop
        return params

    # --- calling the model -------------------------------------------------------------------

    def _defaults(self) -> dict[str, Any]:
        options = {
            name: getattr(self, name) for name in _SAMPLING if getattr(self, name) is not None
        }
        if self.stop:
            options["stop"] = list(self.stop)
        if self.extra:
            options["extra"] = dict(self.extra)
        return options

    def _options(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """This model's settings under the call's; homefire checks every name and value."""
        options = self._defaults()
        if stop:
            options["stop"] = list(stop)
        extra = {**options.get("extra", {}), **(kwargs.pop("extra", None) or {})}
        options.update(kwargs)
        if extra:
            options["extra"] = extra
        return options

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        response = self.llm.chat(to_homefire(messages), **self._options(stop, kwargs))
        return _result(to_ai_message(response, self.model_name))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        response = await self.llm.achat(to_homefire(messages), **self._options(stop, kwargs))
        return _result(to_ai_message(response, self.model_name))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        history, options = to_homefire(messages), self._options(stop, kwargs)
        stream = ChunkStream(self.model_name)
        # Closing the stream early (a consumer that stops reading) stops the generation.
        with closing(self.llm.stream_chat(history, **options)) as responses:
            for response in responses:
                chunk = stream.chunk(response)
                if run_manager is not None:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        if (last := stream.closing()) is not None:
            yield last

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        history, options = to_homefire(messages), self._options(stop, kwargs)
        stream = ChunkStream(self.model_name)
        async with aclosing(self.llm.astream_chat(history, **options)) as responses:
            async for response in responses:
                chunk = stream.chunk(response)
                if run_manager is not None:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        if (last := stream.closing()) is not None:
            yield last

    # --- tools and structured output ---------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer `tools` to the model.

        `tool_choice` is "auto", "none", "required" (LangChain's "any" means the same) or a
        tool's name. Backends whose chat template ignores tools get them in the prompt, with the
        answer constrained to a tool call, so "required" and a named tool are enforced.
        `strict=True` closes each tool's parameter schema (every property required, no others).
        """
        specs = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = _tool_choice(tool_choice, specs)
        return super().bind(tools=specs, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: StructuredMethod = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Answers parsed into `schema` (a pydantic class, TypedDict or JSON schema).

        `"json_schema"` (the default) constrains the output to the schema on the backend;
        objects refuse properties the schema does not list, and `strict=True` also makes every
        property required. `"function_calling"` forces a call of a tool shaped like the
        schema. `"json_mode"` constrains the output to some JSON object (say which in the
        prompt); `schema` then only says how to parse it, and may be None for a dict.
        """
        if kwargs:
            raise hf.InvalidParameterError(
                next(iter(kwargs)), "with_structured_output takes method, include_raw and strict"
            )
        if schema is None and method != "json_mode":
            raise hf.InvalidParameterError("schema", f'method="{method}" needs a schema')
        trace = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
        pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        llm: Runnable[LanguageModelInput, Any]
        parser: Runnable[Any, Any]
        if method == "function_calling":
            name = convert_to_openai_tool(schema)["function"]["name"]  # type: ignore[arg-type]
            llm = self.bind_tools(
                [schema],  # type: ignore[list-item]
                tool_choice=name,
                strict=strict,
                ls_structured_output_format=trace,
            )
            parser = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
                if pydantic
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
        elif method in ("json_schema", "json_mode"):
            json_schema = (
                {"type": "object"} if method == "json_mode" else _output_schema(schema, strict)
            )
            llm = self.bind(json_schema=json_schema, ls_structured_output_format=trace)
            parser = (
                PydanticOutputParser(pydantic_object=schema)  # type: ignore[arg-type]
                if pydantic
                else JsonOutputParser()
            )
        else:
            raise hf.InvalidParameterError(
                "method",
                f'must be "json_schema", "function_calling" or "json_mode", got {method!r}',
            )
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        unparsed = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks(
            [unparsed], exception_key="parsing_error"
        )


def _result(message: AIMessage) -> ChatResult:
    return ChatResult(generations=[ChatGeneration(message=message)])


def _in_process(spec: str) -> bool:
    """Whether `spec` names a model file for the in-process engine ("llamacpp:/path")."""
    return spec.partition(":")[0].lower() == "llamacpp"


def _client_kwargs(client: dict[str, Any]) -> dict[str, Any]:
    """LangChain's client settings as homefire's provider arguments."""
    out: dict[str, Any] = {}
    if "api_key" in client:
        out["api_key"] = client["api_key"].get_secret_value()
    if "timeout" in client:
        out["timeouts"] = hf.Timeouts(total=client["timeout"])
    if "max_retries" in client:
        retries = client["max_retries"]
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise hf.InvalidParameterError(
                "max_retries", f"must be an integer >= 0, got {retries!r}"
            )
        out["retry"] = hf.RetryPolicy(attempts=retries + 1)
    return out


def _tool_choice(choice: str | dict[str, Any], specs: list[dict[str, Any]]) -> str:
    """LangChain's tool choice as homefire's: "auto", "none", "required" or a tool's name."""
    if isinstance(choice, dict):
        function = choice.get("function")
        choice = function.get("name", "") if isinstance(function, dict) else choice.get("name", "")
    if choice == "any":
        return "required"
    names = [spec["function"]["name"] for spec in specs]
    if choice in ("auto", "none", "required") or choice in names:
        return str(choice)
    raise hf.InvalidParameterError(
        "tool_choice",
        f'must be "auto", "none", "any", "required" or one of {names}, got {choice!r}',
    )


def _output_schema(schema: Any, strict: bool | None) -> dict[str, Any]:
    """The JSON schema the answer is held to."""
    if strict:
        parameters: dict[str, Any] = convert_to_openai_function(schema, strict=True)["parameters"]
        return parameters
    json_schema = convert_to_json_schema(schema)
    if strict is False:
        return json_schema
    from homefire.llm.schema import closed

    result: dict[str, Any] = closed(json_schema)
    return result
