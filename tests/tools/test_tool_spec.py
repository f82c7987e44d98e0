from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, TypedDict

import pydantic
import pytest

import homefire as hf
from homefire.llm.tools import parse_docstring, run_tool_calls, tool_spec

pytestmark = pytest.mark.unit


class Unit(enum.Enum):
    CELSIUS = "c"
    FAHRENHEIT = "f"


@dataclass
class Place:
    city: str
    country: str = "FR"


class Window(pydantic.BaseModel):
    start: int
    end: int


class Options(TypedDict):
    verbose: bool


@dataclass
class Tree:
    children: list[Tree]


def get_weather(
    city: str,
    unit: Unit = Unit.CELSIUS,
    days: list[int] | None = None,
    mode: Literal["brief", "full"] = "brief",
    extra: dict[str, float] | None = None,
) -> str:
    """Get the weather for a city.

    Args:
        city (str): The city's name,
            in English.
        unit: Temperature unit.
        days: Which days ahead.
    """
    return f"sunny in {city} ({unit.value})"


def parameters(function: Any) -> dict[str, Any]:
    spec = tool_spec(function)
    assert spec["type"] == "function"
    return spec["function"]["parameters"]  # type: ignore[no-any-return]


def test_function_schema_from_hints_defaults_and_google_docstring() -> None:
    spec = tool_spec(get_weather)["function"]
    assert spec["name"] == "get_weather"
    assert spec["description"] == "Get the weather for a city."
    props = spec["parameters"]["properties"]
    assert spec["parameters"]["required"] == ["city"]
    assert props["city"] == {"type": "string", "description": "The city's name, in English."}
    assert props["unit"] == {
        "enum": ["c", "f"],
        "type": "string",
        "description": "Temperature unit.",
        "default": "c",
    }
    assert props["days"]["anyOf"] == [
        {"type": "array", "items": {"type": "integer"}},
        {"type": "null"},
    ]
    assert props["mode"]["enum"] == ["brief", "full"]
    assert props["extra"]["anyOf"][0] == {
        "type": "object",
        "additionalProperties": {"type": "number"},
    }


def test_numpy_docstring_and_tuple() -> None:
    def shift(x: int, pair: tuple[int, str]) -> int:
        """Shift a value.

        Parameters
        ----------
        x : int
            The value
            to shift.
        pair : tuple
            A pair.

        Returns
        -------
        int
        """
        return x

    props = parameters(shift)["properties"]
    assert props["x"]["description"] == "The value to shift."
    assert props["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert props["pair"]["minItems"] == props["pair"]["maxItems"] == 2


def test_rest_docstring_annotated_optional_and_models() -> None:
    def book(
        place: Place,
        window: Window,
        note: Annotated[str, "free text"],
        hint: Optional[int],  # noqa: UP045 - the old spelling must work too
    ) -> None:
        """Book something.

        :param place: where
            exactly.
        :param Window window: when
        :returns: nothing
        """

    spec = tool_spec(book)["function"]
    assert spec["description"] == "Book something."
    props = spec["parameters"]["properties"]
    assert props["place"]["description"] == "where exactly."
    assert props["place"]["required"] == ["city"]
    assert props["place"]["properties"]["country"] == {"type": "string"}
    assert props["window"]["properties"]["start"]["type"] == "integer"
    assert props["note"] == {"type": "string", "description": "free text"}
    assert props["hint"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}


def test_typeddict_and_pydantic_model_as_tool() -> None:
    def run(options: Options) -> None:
        """Run."""

    assert parameters(run)["properties"]["options"] == {
        "type": "object",
        "properties": {"verbose": {"type": "boolean"}},
        "required": ["verbose"],
        "additionalProperties": False,
    }
    spec = tool_spec(Window)["function"]
    assert spec["name"] == "Window"
    assert "description" not in spec
    assert spec["parameters"]["required"] == ["start", "end"]


def test_dict_specs_are_validated_and_normalised() -> None:
    full = {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": {"properties": {}}},
    }
    assert tool_spec(full)["function"]["parameters"] == {"type": "object", "properties": {}}
    bare = tool_spec({"name": "g", "parameters": {"type": "object", "properties": {}}})
    assert bare == {
        "type": "function",
        "function": {"name": "g", "parameters": {"type": "object", "properties": {}}},
    }
    for bad in (
        {"type": "retrieval"},
        {"function": {"parameters": {}}},
        {"name": "has space"},
        {"name": "f", "parameters": {"type": "array"}},
        {"name": "f", "description": 3},
    ):
        with pytest.raises(hf.InvalidParameterError):
            tool_spec(bad)


def test_bad_tools_raise_clear_errors() -> None:
    class Node:
        pass

    def uses_unknown(node: Node) -> None:
        """Nope."""

    with pytest.raises(hf.InvalidParameterError, match="Node"):
        tool_spec(uses_unknown)
    with pytest.raises(hf.InvalidParameterError, match="tool name"):
        tool_spec(lambda x: x)
    with pytest.raises(hf.InvalidParameterError, match="function or a tool spec"):
        tool_spec(42)


def test_recursive_dataclass_is_refused() -> None:
    def walk(tree: Tree) -> None:
        """Walk."""

    with pytest.raises(hf.InvalidParameterError, match="recursive"):
        tool_spec(walk)


def test_options_accept_functions_and_check_tool_choice() -> None:
    llm_options = hf.GenerationOptions()
    from homefire.options import parse_options

    options = parse_options({"tools": [tool_spec(get_weather)], "tool_choice": "get_weather"})
    assert options.tools is not None
    assert options.tools[0]["function"]["name"] == "get_weather"
    assert llm_options.tools is None
    with pytest.raises(hf.InvalidParameterError, match="not one of the tools"):
        parse_options({"tools": [tool_spec(get_weather)], "tool_choice": "other"})


def test_docstring_summary_stops_at_sections() -> None:
    summary, notes = parse_docstring("Line one\nline two.\n\nArgs:\n    a: first\n")
    assert summary == "Line one line two."
    assert notes == {"a": "first"}


def test_run_tool_calls_converts_arguments_and_reports_failures() -> None:
    def book(place: Place, unit: Unit, window: Window) -> dict[str, Any]:
        """Book."""
        return {"city": place.city, "unit": unit.name, "length": window.end - window.start}

    def broken() -> None:
        """Fails."""
        raise RuntimeError("disk full")

    calls = [
        hf.ToolCall(
            "c1",
            "book",
            {"place": {"city": "Paris"}, "unit": "f", "window": {"start": 2, "end": 5}},
        ),
        hf.ToolCall("c2", "broken", {}),
        hf.ToolCall("c3", "missing", {}),
        hf.ToolCall("c4", "get_weather", {"city": "Rome"}),
    ]
    messages = run_tool_calls(calls, [book, broken, get_weather])
    assert [m.role for m in messages] == [hf.MessageRole.TOOL] * 4
    assert [m.tool_call_id for m in messages] == ["c1", "c2", "c3", "c4"]
    assert messages[0].content == '{"city": "Paris", "unit": "FAHRENHEIT", "length": 3}'
    assert messages[1].content == "error: RuntimeError: disk full"
    assert messages[2].content is not None
    assert "no tool named 'missing'" in messages[2].content
    assert messages[3].content == "sunny in Rome (c)"
    assert messages[3].name == "get_weather"
