"""Structured output: answers constrained to a JSON schema, validated into the caller's type.

The schema goes to the backend's native constraint (grammar, `json_schema`, `format`,
`response_format`) through `GenerationOptions.json_schema`, and into the prompt so the model
knows what the fields mean. An answer that still does not validate is retried once with the
validation error; a second failure raises `StructuredOutputError` carrying the raw text.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from homefire.errors import InvalidParameterError, MissingDependencyError, StructuredOutputError
from homefire.llm.partial_json import parse_partial_json
from homefire.llm.schema import check_value, closed, inline_refs, is_pydantic_model, object_schema
from homefire.options import GenerationOptions
from homefire.types import ChatMessage, ChatResponse, MessageRole

Chat = Callable[[list[ChatMessage], GenerationOptions], ChatResponse]
AsyncChat = Callable[[list[ChatMessage], GenerationOptions], Awaitable[ChatResponse]]
StreamChat = Callable[[list[ChatMessage], GenerationOptions], Iterator[ChatResponse]]
AsyncStreamChat = Callable[[list[ChatMessage], GenerationOptions], AsyncIterator[ChatResponse]]


class _Invalid(Exception):
    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


class OutputSchema:
    """What the caller asked for: its JSON schema and how to turn answer text into it."""

    def __init__(self, target: Any) -> None:
        self.target = target
        if isinstance(target, Mapping):
            if not isinstance(target.get("type", "object"), str | list):
                raise InvalidParameterError("schema", "the JSON schema's 'type' must be a string")
            self.json_schema: dict[str, Any] = closed(inline_refs(target, where="schema"))
        else:
            self.json_schema = closed(object_schema(target, where="schema"))
            self.json_schema.pop("title", None)

    def parse(self, text: str) -> Any:
        """The validated result; raises `_Invalid` with what is wrong."""
        if is_pydantic_model(self.target):
            return self._parse_pydantic(text)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _Invalid(f"not valid JSON: {exc.msg} at character {exc.pos}") from None
        problem = check_value(value, self.json_schema)
        if problem:
            raise _Invalid(problem)
        if dataclasses.is_dataclass(self.target):
            return _adapter(self.target).validate_python(value)
        return value

    def _parse_pydantic(self, text: str) -> Any:
        from pydantic import ValidationError

        try:
            return self.target.model_validate_json(text)
        except ValidationError as exc:
            raise _Invalid(_pydantic_problem(exc)) from None

    def instructed(self, messages: list[ChatMessage]) -> list[ChatMessage]:
        """The conversation with an instruction that shows the schema to the model."""
        note = "Reply with only a JSON object that matches this JSON schema:\n" + json.dumps(
            self.json_schema, ensure_ascii=False
        )
        if messages[0].role is MessageRole.SYSTEM:
            first = replace(messages[0], content=f"{messages[0].content or ''}\n\n{note}".strip())
            return [first, *messages[1:]]
        return [ChatMessage(MessageRole.SYSTEM, note), *messages]


def _adapter(target: Any) -> Any:
    try:
        from pydantic import TypeAdapter
    except ImportError:
        raise MissingDependencyError(
            "pydantic", "structured output into dataclasses", extra="structured"
        ) from None
    return TypeAdapter(target)


def _pydantic_problem(exc: Any) -> str:
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error.get("loc", ())) or "$"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems)


def _retry(messages: list[ChatMessage], raw: str, problem: str) -> list[ChatMessage]:
    return [
        *messages,
        ChatMessage(MessageRole.ASSISTANT, raw),
        ChatMessage(
            MessageRole.USER,
            f"That reply is not valid: {problem}. Reply again with only the corrected JSON.",
        ),
    ]


def _prepare(
    messages: list[ChatMessage], options: GenerationOptions, schema: Any
) -> tuple[OutputSchema, list[ChatMessage], GenerationOptions]:
    if options.json_schema is not None:
        raise InvalidParameterError(
            "json_schema", "structured() sets the schema from its schema= argument; drop it"
        )
    if options.tools:
        raise InvalidParameterError(
            "tools", "structured() cannot be combined with tools; use chat_with_tools()"
        )
    target = OutputSchema(schema)
    return target, target.instructed(messages), replace(options, json_schema=target.json_schema)


def run_structured(
    chat: Chat, messages: list[ChatMessage], options: GenerationOptions, schema: Any
) -> Any:
    """Ask, validate, and retry once with the validation error."""
    target, history, options = _prepare(messages, options, schema)
    raw = chat(history, options).text
    try:
        return target.parse(raw)
    except _Invalid as first:
        raw = chat(_retry(history, raw, first.problem), options).text
    try:
        return target.parse(raw)
    except _Invalid as second:
        raise StructuredOutputError(second.problem, raw) from None


async def arun_structured(
    chat: AsyncChat, messages: list[ChatMessage], options: GenerationOptions, schema: Any
) -> Any:
    target, history, options = _prepare(messages, options, schema)
    raw = (await chat(history, options)).text
    try:
        return target.parse(raw)
    except _Invalid as first:
        raw = (await chat(_retry(history, raw, first.problem), options)).text
    try:
        return target.parse(raw)
    except _Invalid as second:
        raise StructuredOutputError(second.problem, raw) from None


class _Partials:
    """Turns streamed answer text into a partial value each time it grows."""

    def __init__(self) -> None:
        self.text = ""
        self.last: Any = None

    def feed(self, piece: str) -> Any | None:
        if not piece:
            return None
        self.text += piece
        try:
            value = parse_partial_json(self.text)
        except ValueError:
            return None
        if value is None or value == self.last:
            return None
        self.last = value
        return value


def _final(target: OutputSchema, text: str) -> Any:
    try:
        return target.parse(text)
    except _Invalid as exc:
        raise StructuredOutputError(exc.problem, text) from None


def stream_structured(
    stream: StreamChat, messages: list[ChatMessage], options: GenerationOptions, schema: Any
) -> Iterator[Any]:
    """Partial values (plain dicts and lists) as the answer streams, then the validated result.

    A stream cannot be retried after the text went out, so an invalid final answer raises.
    """
    target, history, options = _prepare(messages, options, schema)
    partials = _Partials()
    for chunk in stream(history, options):
        value = partials.feed(chunk.delta or "")
        if value is not None:
            yield value
    yield _final(target, partials.text)


async def astream_structured(
    stream: AsyncStreamChat,
    messages: list[ChatMessage],
    options: GenerationOptions,
    schema: Any,
) -> AsyncIterator[Any]:
    target, history, options = _prepare(messages, options, schema)
    partials = _Partials()
    async for chunk in stream(history, options):
        value = partials.feed(chunk.delta or "")
        if value is not None:
            yield value
    yield _final(target, partials.text)


def schema_of(target: Any) -> dict[str, Any]:
    """The JSON schema homefire sends for a pydantic model, dataclass, TypedDict or dict."""
    return OutputSchema(target).json_schema
