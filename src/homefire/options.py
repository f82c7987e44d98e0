"""Per-call generation options: validated once, merged over the LLM's defaults, sent everywhere.

Every provider receives a `GenerationOptions` and must put each field on the wire; this is
the one place where names, types and ranges are checked, before any model or server is touched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypedDict

from homefire._validate import integer, number
from homefire.errors import InvalidParameterError


class GenerationKwargs(TypedDict, total=False):
    """The keyword arguments every chat/complete call accepts."""

    temperature: float
    max_tokens: int
    top_p: float
    top_k: int
    min_p: float
    repeat_penalty: float
    seed: int
    stop: str | list[str]
    tools: Sequence[Any]
    tool_choice: str
    json_schema: Mapping[str, Any]
    extra: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """Sampling settings; `None` means "the backend's default". `extra` goes to the wire as is.

    `tools` holds OpenAI-style function tool specs, `tool_choice` is "auto", "none", "required"
    or a tool's name, and `json_schema` constrains the output to JSON matching that schema.
    """

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    tools: tuple[dict[str, Any], ...] | None = None
    tool_choice: str | None = None
    json_schema: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def merged(self, override: GenerationOptions) -> GenerationOptions:
        """These options with every field `override` sets taking precedence."""
        changes: dict[str, Any] = {
            f.name: getattr(override, f.name)
            for f in fields(self)
            if f.name != "extra" and getattr(override, f.name) is not None
        }
        if override.extra:
            changes["extra"] = {**self.extra, **override.extra}
        return replace(self, **changes) if changes else self

    def sampling_items(self) -> dict[str, Any]:
        """The set fields other than `extra`, under homefire's names."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "extra" and getattr(self, f.name) is not None
        }


_KNOWN = frozenset(GenerationKwargs.__annotations__)
# llama.cpp seeds are unsigned 32-bit; -1 asks for a random one.
_SEED_MAX = 2**32 - 1
# Engines keep sampling settings in 32-bit floats: a larger value would arrive as infinity.
_FLOAT32_MAX = 3.4028234663852886e38


def _json(name: str, value: Any) -> None:
    """Refuse what cannot go on any wire: values JSON cannot hold, and text that is not
    encodable (a lone surrogate)."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        raise InvalidParameterError(name, f"must be plain JSON data and text ({exc})") from None


def _stop(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(s, str) and s for s in items):
        raise InvalidParameterError("stop", "must be a non-empty string or a list of them")
    _json("stop", items)
    return tuple(items)


def _tools(value: Any) -> tuple[dict[str, Any], ...]:
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        raise InvalidParameterError("tools", "must be a list of functions or tool specs")
    for item in value:
        if not isinstance(item, Mapping):
            raise InvalidParameterError(
                "tools",
                f"each tool must be a function or a tool spec dict, got {type(item).__name__}",
            )
    specs = tuple(function_spec(item) for item in value)
    _json("tools", specs)
    return specs


_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def wrap_function(name: str, description: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI function-tool spec of a name, a description and a parameters schema."""
    if not _NAME.match(name):
        raise InvalidParameterError(
            "tools", f"tool name {name!r} must be 1-64 letters, digits, '_' or '-'"
        )
    function: dict[str, Any] = {"name": name}
    if description:
        function["description"] = description
    function["parameters"] = dict(parameters)
    return {"type": "function", "function": function}


def function_spec(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A checked OpenAI function-tool spec from a spec dict (`{"type": "function", ...}` or the
    bare function); `homefire.llm.tools.tool_spec` turns functions and models into these."""
    function = tool.get("function") if "function" in tool else tool
    if tool.get("type", "function") != "function" or not isinstance(function, Mapping):
        raise InvalidParameterError(
            "tools",
            'a tool dict must be {"type": "function", "function": {"name": ..., '
            '"parameters": {...}}} or {"name": ..., "parameters": {...}}',
        )
    name = function.get("name")
    if not isinstance(name, str):
        raise InvalidParameterError("tools", f"the tool spec has no string 'name': {tool!r}")
    parameters = function.get("parameters", _EMPTY_PARAMETERS)
    if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
        raise InvalidParameterError(
            "tools", f"the parameters of tool {name!r} must be a JSON schema of type 'object'"
        )
    description = function.get("description", "")
    if not isinstance(description, str):
        raise InvalidParameterError("tools", f"the description of tool {name!r} must be a string")
    return wrap_function(name, description, {"type": "object", **parameters})


def parse_options(kwargs: Mapping[str, Any]) -> GenerationOptions:
    """Validate user keyword arguments into `GenerationOptions`; unknown names are errors."""
    unknown = sorted(set(kwargs) - _KNOWN)
    if unknown:
        known = ", ".join(sorted(_KNOWN))
        raise InvalidParameterError(
            unknown[0],
            f"not a generation option (known: {known}); "
            "send backend-specific fields with extra={...}",
        )
    values: dict[str, Any] = {}
    for name, value in kwargs.items():
        if value is None:
            continue
        if name in ("temperature", "repeat_penalty"):
            values[name] = number(name, value, low=0.0, high=_FLOAT32_MAX)
        elif name in ("top_p", "min_p"):
            values[name] = number(name, value, low=0.0, high=1.0)
        elif name == "max_tokens":
            values[name] = integer(name, value, low=1)
        elif name == "top_k":
            values[name] = integer(name, value, low=0)
        elif name == "seed":
            values[name] = integer(name, value, low=-1, high=_SEED_MAX)
        elif name == "stop":
            values[name] = _stop(value)
        elif name == "tools":
            values[name] = _tools(value)
        elif name == "tool_choice":
            if not isinstance(value, str) or not value:
                raise InvalidParameterError(
                    name, 'must be "auto", "none", "required" or the name of one of the tools'
                )
            values[name] = value
        elif name == "json_schema":
            if not isinstance(value, Mapping):
                raise InvalidParameterError(name, "must be a JSON schema (a mapping)")
            _json(name, value)
            values[name] = dict(value)
        elif name == "extra":
            if not isinstance(value, Mapping):
                raise InvalidParameterError("extra", "must be a mapping of wire field to value")
            values[name] = dict(value)
    choice = values.get("tool_choice")
    if choice is not None and not values.get("tools"):
        raise InvalidParameterError("tool_choice", "only makes sense with tools=[...]")
    if choice not in (None, "auto", "none", "required"):
        names = {t["function"]["name"] for t in values.get("tools", ())}
        if choice not in names:
            raise InvalidParameterError(
                "tool_choice", f"{choice!r} is not one of the tools passed ({sorted(names)})"
            )
    return GenerationOptions(**values)
