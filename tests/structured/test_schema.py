from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import pydantic
import pytest

import homefire as hf
from homefire.llm.schema import check_value, inline_refs
from homefire.llm.structured import schema_of

pytestmark = pytest.mark.unit


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(pydantic.BaseModel):
    x: float
    y: float


class Shape(pydantic.BaseModel):
    name: str
    color: Color
    corners: list[Point]
    closed: bool


@dataclass
class Pet:
    name: str
    kind: Literal["cat", "dog"]
    age: int = 0
    tags: list[str] = field(default_factory=list)


class Row(TypedDict):
    id: int
    label: str | None


def test_pydantic_schema_is_inlined_without_refs() -> None:
    schema = schema_of(Shape)
    assert "$defs" not in schema and "$ref" not in str(schema)
    assert schema["properties"]["color"]["enum"] == ["red", "blue"]
    assert schema["properties"]["corners"]["items"]["properties"]["x"]["type"] == "number"
    assert "title" not in schema


def test_dataclass_and_typeddict_schemas() -> None:
    assert schema_of(Pet) == {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "kind": {"enum": ["cat", "dog"], "type": "string"},
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "kind"],
        "additionalProperties": False,
    }
    assert schema_of(Row)["properties"]["label"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }


def test_bad_targets_are_refused() -> None:
    with pytest.raises(hf.InvalidParameterError, match="pydantic model, a dataclass"):
        schema_of(int)
    with pytest.raises(hf.InvalidParameterError, match="unknown reference"):
        inline_refs({"$ref": "#/$defs/Nope"})
    with pytest.raises(hf.InvalidParameterError, match="recursive"):
        inline_refs(
            {"$defs": {"A": {"properties": {"a": {"$ref": "#/$defs/A"}}}}, "$ref": "#/$defs/A"}
        )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"name": "Rex", "kind": "dog"}, None),
        ({"name": "Rex", "kind": "dog", "age": 3, "tags": ["a"]}, None),
        ({"name": "Rex"}, "missing required field 'kind'"),
        ({"name": "Rex", "kind": "cow"}, "$.kind: 'cow' is not one of"),
        ({"name": 3, "kind": "dog"}, "$.name: expected string, got integer"),
        ({"name": "Rex", "kind": "dog", "age": True}, "$.age: expected integer, got boolean"),
        ({"name": "Rex", "kind": "dog", "tags": [1]}, "$.tags[0]: expected string"),
        ({"name": "Rex", "kind": "dog", "owner": "me"}, "unexpected field 'owner'"),
        ([], "$: expected object, got array"),
    ],
)
def test_check_value(value: Any, problem: str | None) -> None:
    result = check_value(value, schema_of(Pet))
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result


def test_check_bounds_and_anyof() -> None:
    schema = {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": 3},
            {"type": "string", "maxLength": 2},
        ]
    }
    assert check_value(2, schema) is None
    assert check_value("ab", schema) is None
    assert check_value(5, schema) is not None
    assert check_value("abc", schema) is not None
    assert check_value([1], {"type": "array", "minItems": 2}) is not None
