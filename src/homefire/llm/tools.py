"""Tools the model may call: OpenAI function specs from Python functions or dicts, and running
the calls the model makes.

A function's parameters come from its signature and type hints, their descriptions from its
docstring (Google, NumPy or reST style), so a plain typed function is a complete tool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import inspect
import json
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from homefire.errors import InvalidParameterError
from homefire.llm.schema import is_pydantic_model, schema_for_type
from homefire.options import function_spec, wrap_function
from homefire.types import ChatMessage, MessageRole, ToolCall


def tool_spec(tool: Any) -> dict[str, Any]:
    """The OpenAI function-tool spec of a function, a pydantic model class or a spec dict."""
    if isinstance(tool, Mapping):
        return function_spec(tool)
    if is_pydantic_model(tool):
        summary, _ = parse_docstring(inspect.cleandoc(tool.__dict__.get("__doc__") or ""))
        schema = schema_for_type(tool, where="tools")
        schema.pop("title", None)
        return wrap_function(tool.__name__, summary, schema)
    if callable(tool):
        return _spec_from_function(tool)
    raise InvalidParameterError(
        "tools", f"each tool must be a function or a tool spec dict, got {type(tool).__name__}"
    )


def with_tool_specs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Call options with each of `tools` (functions, pydantic models or dicts) as its spec, so
    that option parsing below this layer only sees spec dicts."""
    tools = kwargs.get("tools")
    if not isinstance(tools, list | tuple):
        return dict(kwargs)
    return {
        **kwargs,
        "tools": [tool if isinstance(tool, Mapping) else tool_spec(tool) for tool in tools],
    }


def tool_name(tool: Any) -> str:
    """The name the model calls a tool by."""
    return str(tool_spec(tool)["function"]["name"])


def _spec_from_function(function: Callable[..., Any]) -> dict[str, Any]:
    name = getattr(function, "__name__", "")
    summary, notes = parse_docstring(inspect.getdoc(function) or "")
    try:
        hints = typing.get_type_hints(function, include_extras=True)
        signature = inspect.signature(function)
    except (NameError, TypeError, ValueError) as exc:
        raise InvalidParameterError(
            "tools", f"cannot read the signature of tool {name!r}: {exc}"
        ) from None
    properties: dict[str, Any] = {}
    required: list[str] = []
    open_ended = False
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            open_ended = open_ended or parameter.kind is parameter.VAR_KEYWORD
            continue
        where = f"tools ({name}.{parameter.name})"
        schema = schema_for_type(hints.get(parameter.name, Any), where=where)
        if parameter.name in notes:
            schema.setdefault("description", notes[parameter.name])
        if parameter.default is parameter.empty:
            required.append(parameter.name)
        elif _is_json(parameter.default):
            schema["default"] = _plain(parameter.default)
        properties[parameter.name] = schema
    parameters = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": open_ended,
    }
    return wrap_function(name, summary, parameters)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _is_json(value: Any) -> bool:
    try:
        json.dumps(_plain(value))
    except (TypeError, ValueError):
        return False
    return True


# --- docstrings ---------------------------------------------------------------------------

_GOOGLE_HEADER = re.compile(r"^(Args|Arguments|Parameters|Params)\s*:\s*$")
_GOOGLE_ITEM = re.compile(r"^\*{0,2}(\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\w+)\s*(:.*)?$")
_REST_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_SECTION = re.compile(r"^(\w[\w ]*):\s*$|^:\w+")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The summary paragraph and per-parameter descriptions of a docstring."""
    lines = doc.expandtabs().splitlines()
    summary: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or _SECTION.match(stripped) or _GOOGLE_HEADER.match(stripped):
            break
        summary.append(stripped)
    notes = _rest_params(lines) or _google_params(lines) or _numpy_params(lines)
    return " ".join(summary), notes


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _collect(lines: list[str], start: int, base: int) -> tuple[list[str], int]:
    """Continuation lines indented deeper than `base`, from `start`."""
    out: list[str] = []
    index = start
    while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > base):
        if lines[index].strip():
            out.append(lines[index].strip())
        index += 1
    return out, index


def _rest_params(lines: list[str]) -> dict[str, str]:
    notes: dict[str, str] = {}
    for index, line in enumerate(lines):
        match = _REST_PARAM.match(line.strip())
        if match:
            more, _ = _collect(lines, index + 1, _indent(line))
            notes[match.group(1)] = " ".join([match.group(2).strip(), *more]).strip()
    return notes


def _google_params(lines: list[str]) -> dict[str, str]:
    notes: dict[str, str] = {}
    for index, line in enumerate(lines):
        if not _GOOGLE_HEADER.match(line.strip()):
            continue
        base = _indent(line)
        position = index + 1
        while position < len(lines):
            item = lines[position]
            if item.strip() and _indent(item) <= base:
                break
            match = _GOOGLE_ITEM.match(item.strip())
            if not item.strip() or match is None:
                position += 1
                continue
            more, position = _collect(lines, position + 1, _indent(item))
            notes[match.group(1)] = " ".join([match.group(3).strip(), *more]).strip()
        break
    return notes


def _numpy_params(lines: list[str]) -> dict[str, str]:
    notes: dict[str, str] = {}
    for index in range(len(lines) - 1):
        header, rule = lines[index].strip(), lines[index + 1].strip()
        if header not in ("Parameters", "Arguments") or not rule or set(rule) != {"-"}:
            continue
        position = index + 2
        while position < len(lines):
            item = lines[position]
            if not item.strip():
                position += 1
                continue
            if position + 1 < len(lines) and set(lines[position + 1].strip()) == {"-"}:
                break
            match = _NUMPY_ITEM.match(item.strip())
            more, position = _collect(lines, position + 1, _indent(item))
            if match:
                notes[match.group(1)] = " ".join(more)
        break
    return notes


# --- running calls --------------------------------------------------------------------------


def run_tool_calls(
    calls: Sequence[ToolCall], tools: Sequence[Callable[..., Any]]
) -> list[ChatMessage]:
    """Run each call with the matching function; one tool message per call, in order.

    A tool that raises does not stop the loop: its message tells the model what failed, so
    it can correct the arguments or answer without it.
    """
    return [_tool_message(call, _execute(call, _functions(tools))) for call in calls]


async def arun_tool_calls(
    calls: Sequence[ToolCall], tools: Sequence[Callable[..., Any]]
) -> list[ChatMessage]:
    """`run_tool_calls` for async code: coroutine functions are awaited, plain ones run in a
    worker thread so they cannot block the event loop."""
    functions = _functions(tools)
    return [_tool_message(call, await _aexecute(call, functions)) for call in calls]


def _functions(tools: Sequence[Any]) -> dict[str, Callable[..., Any]]:
    functions: dict[str, Callable[..., Any]] = {}
    for tool in tools:
        if isinstance(tool, Mapping) or is_pydantic_model(tool) or not callable(tool):
            continue
        functions[tool_name(tool)] = tool
    return functions


def _execute(call: ToolCall, functions: Mapping[str, Callable[..., Any]]) -> Any:
    function = functions.get(call.name)
    if function is None:
        known = ", ".join(sorted(functions)) or "none"
        return _Failure(f"there is no tool named {call.name!r} (tools: {known})")
    if inspect.iscoroutinefunction(function):
        return _Failure(f"{call.name} is async: run it with achat_with_tools or arun_tool_calls")
    try:
        return function(**_convert_arguments(function, call.arguments))
    except Exception as exc:
        return _Failure(f"{type(exc).__name__}: {exc}")


async def _aexecute(call: ToolCall, functions: Mapping[str, Callable[..., Any]]) -> Any:
    function = functions.get(call.name)
    if function is None or not inspect.iscoroutinefunction(function):
        return await asyncio.to_thread(_execute, call, functions)
    try:
        return await function(**_convert_arguments(function, call.arguments))
    except Exception as exc:
        return _Failure(f"{type(exc).__name__}: {exc}")


def _tool_message(call: ToolCall, result: Any) -> ChatMessage:
    return ChatMessage(
        MessageRole.TOOL, tool_result_text(result), tool_call_id=call.id, name=call.name
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Failure:
    problem: str


def tool_result_text(result: Any) -> str:
    """What a tool returned, as the text the model reads."""
    if isinstance(result, _Failure):
        return f"error: {result.problem}"
    if isinstance(result, str):
        return result
    if is_pydantic_model(type(result)):
        return str(result.model_dump_json())
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    return json.dumps(_plain(result), default=str, ensure_ascii=False)


def _convert_arguments(function: Callable[..., Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """Turn JSON values into the enums, dataclasses and models the function's hints ask for."""
    hints = typing.get_type_hints(function)
    return {name: _convert(hints.get(name), value) for name, value in arguments.items()}


def _convert(hint: Any, value: Any) -> Any:
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum) and not isinstance(value, hint):
            return hint(value)
        if is_pydantic_model(hint) and isinstance(value, Mapping):
            return hint.model_validate(value)  # type: ignore[attr-defined]
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            return hint(**value)
    return value
