"""Tool calling for backends that cannot do it natively (or whose chat template ignores tools).

The tools are described in the system message, and the output is constrained by JSON schema
to `{"name": ..., "arguments": {...}}` — for "required" or a named tool the schema admits
nothing else, so the choice is enforced, not hoped for; "auto" also admits
`{"content": "<answer>"}`. The JSON is parsed back into `message.tool_calls`, the same in
`chat` and at the end of `stream_chat`.

Such templates cannot show earlier tool calls and results either, so they leave the turns and
go into the system message as facts looked up ("- get_weather(city="Paris"): sunny"): shown
as turns of their own, a small model copies their wording instead of answering.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from typing import Any

from homefire.errors import GenerationError, NotSupportedError
from homefire.llm.partial_json import parse_partial_json
from homefire.llm.schema import closed
from homefire.options import GenerationOptions
from homefire.protocols.openai import parse_tool_arguments
from homefire.types import ChatMessage, ChatResponse, MessageRole, ToolCall

_ANSWER = {
    "type": "object",
    "properties": {"content": {"type": "string"}},
    "required": ["content"],
    "additionalProperties": False,
}


def _chosen(options: GenerationOptions) -> list[dict[str, Any]]:
    tools = list(options.tools or ())
    choice = options.tool_choice
    if choice in (None, "auto", "required", "none"):
        return tools
    return [t for t in tools if t["function"]["name"] == choice]


def _call_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """One tool's call; arguments it does not declare are shut out unless its schema allows."""
    function = spec["function"]
    parameters = closed(function.get("parameters", {"type": "object", "properties": {}}))
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": [function["name"]]},
            "arguments": parameters,
        },
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def tool_call_schema(options: GenerationOptions) -> dict[str, Any]:
    """The JSON schema an answer must match under the options' tools and tool choice."""
    shapes = [_call_schema(spec) for spec in _chosen(options)]
    if options.tool_choice in (None, "auto"):
        shapes.append(_ANSWER)
    return shapes[0] if len(shapes) == 1 else {"anyOf": shapes}


def tools_prompt(options: GenerationOptions) -> str:
    """The system-message text that tells the model which tools it has and how to call one."""
    lines = ["You can call these tools:"]
    for spec in _chosen(options):
        function = spec["function"]
        description = function.get("description", "")
        lines.append(f"- {function['name']}: {description}".rstrip(": "))
        lines.append(f"  arguments schema: {json.dumps(function.get('parameters', {}))}")
    lines.append(
        'To call a tool, reply with only a JSON object: {"name": "<tool name>", '
        '"arguments": {<the arguments>}}.'
    )
    choice = options.tool_choice
    if choice in (None, "auto"):
        lines.append(
            "Call a tool when you need its result. When you can answer, reply with only "
            '{"content": "<your answer>"}. Use tool results given to you to answer.'
        )
    elif choice == "required":
        lines.append("You must call one of these tools now.")
    else:
        lines.append(f"You must call the tool {choice!r} now.")
    return "\n".join(lines)


def _looked_up(messages: Sequence[ChatMessage]) -> tuple[list[ChatMessage], list[str]]:
    """The conversation without its tool calls and results, and the results as facts."""
    calls: dict[str, ToolCall] = {}
    turns: list[ChatMessage] = []
    facts: list[str] = []
    for message in messages:
        if message.role is MessageRole.TOOL:
            call = calls.get(message.tool_call_id or "")
            facts.append(f"- {_called(call, message.name)}: {message.content or ''}")
        elif message.tool_calls:
            calls.update((call.id, call) for call in message.tool_calls)
            if message.content:
                turns.append(replace(message, tool_calls=[]))
        else:
            turns.append(message)
    return turns, facts


def _called(call: ToolCall | None, name: str | None) -> str:
    if call is None:
        return f"the tool {name}" if name else "a tool"
    arguments = ", ".join(f"{key}={json.dumps(value)}" for key, value in call.arguments.items())
    return f"{call.name}({arguments})"


def _with_note(turns: list[ChatMessage], note: str) -> list[ChatMessage]:
    if turns and turns[0].role is MessageRole.SYSTEM:
        return [
            replace(turns[0], content=f"{turns[0].content or ''}\n\n{note}".strip()),
            *turns[1:],
        ]
    return [ChatMessage(MessageRole.SYSTEM, note), *turns]


def prepare(
    messages: Sequence[ChatMessage], options: GenerationOptions
) -> tuple[list[ChatMessage], GenerationOptions]:
    """The conversation and options to send in place of native tools."""
    plain = replace(options, tools=None, tool_choice=None)
    turns, facts = _looked_up(messages)
    if options.tool_choice == "none" or not options.tools:
        if not facts:
            return turns, plain
        note = "Facts you looked up for the user:\n" + "\n".join(facts)
        return _with_note(turns, note + "\nAnswer the user's question using these facts."), plain
    if options.json_schema is not None:
        raise NotSupportedError(
            "this backend has no native tool calling, and homefire's own needs the output "
            "constraint that json_schema also uses: pass tools or json_schema, not both"
        )
    note = tools_prompt(options)
    if facts:
        note += "\nFacts you already looked up with these tools:\n" + "\n".join(facts)
        if options.tool_choice in (None, "auto"):
            note += (
                '\nIf they answer the request, reply now with {"content": "<your answer>"} '
                "instead of calling a tool again."
            )
    return _with_note(turns, note), replace(plain, json_schema=tool_call_schema(options))


def _parse(text: str, finish_reason: str | None) -> tuple[str, list[ToolCall]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        hint = " (it was cut off: raise max_tokens)" if finish_reason == "length" else ""
        raise GenerationError(
            f"the model's tool-call reply is not valid JSON{hint}: {text[:200]!r}"
        ) from None
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        name = value["name"]
        arguments = parse_tool_arguments(value.get("arguments"), name)
        return "", [ToolCall(f"call_{uuid.uuid4().hex[:24]}", name, arguments)]
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"], []
    raise GenerationError(f"the model's tool-call reply has an unexpected shape: {text[:200]!r}")


def _answer(response: ChatResponse, content: str, calls: list[ToolCall]) -> ChatResponse:
    message = replace(response.message, content=content, tool_calls=calls)
    reason = "tool_calls" if calls else response.finish_reason
    return replace(response, message=message, finish_reason=reason)


def finish(response: ChatResponse, options: GenerationOptions) -> ChatResponse:
    """A finished response with its JSON turned into the answer or the tool calls."""
    if options.tool_choice == "none" or not options.tools:
        return response
    content, calls = _parse(response.message.content or "", response.finish_reason)
    return _answer(response, content, calls)


class _StreamState:
    """Streams the answer text of `{"content": ...}` as it grows; tool calls come at the end."""

    def __init__(self) -> None:
        self.text = ""
        self.sent = ""
        self.last: ChatResponse | None = None

    def apply(self, chunk: ChatResponse) -> ChatResponse | None:
        self.text += chunk.delta or ""
        self.last = chunk
        if chunk.finish_reason is not None:
            return self.close()
        grown = self._answer_so_far()
        if len(grown) <= len(self.sent) and not chunk.reasoning_delta:
            return None
        delta, self.sent = grown[len(self.sent) :], grown
        message = replace(chunk.message, content=self.sent)
        return replace(chunk, message=message, delta=delta)

    def close(self) -> ChatResponse | None:
        """The final response, from the last chunk (once; None if nothing came)."""
        last, self.last = self.last, None
        if last is None:
            return None
        content, calls = _parse(self.text, last.finish_reason)
        delta = content[len(self.sent) :] if content.startswith(self.sent) else ""
        return replace(_answer(last, content, calls), delta=delta)

    def _answer_so_far(self) -> str:
        try:
            value = parse_partial_json(self.text)
        except ValueError:
            return self.sent
        if isinstance(value, dict) and "name" not in value:
            content = value.get("content")
            if isinstance(content, str) and content.startswith(self.sent):
                return content
        return self.sent


def stream(chunks: Iterator[ChatResponse], options: GenerationOptions) -> Iterator[ChatResponse]:
    if options.tool_choice == "none" or not options.tools:
        yield from chunks
        return
    state = _StreamState()
    for chunk in chunks:
        if (out := state.apply(chunk)) is not None:
            yield out
    if (out := state.close()) is not None:
        yield out


async def astream(
    chunks: AsyncIterator[ChatResponse], options: GenerationOptions
) -> AsyncIterator[ChatResponse]:
    if options.tool_choice == "none" or not options.tools:
        async for chunk in chunks:
            yield chunk
        return
    state = _StreamState()
    async for chunk in chunks:
        if (out := state.apply(chunk)) is not None:
            yield out
    if (out := state.close()) is not None:
        yield out
