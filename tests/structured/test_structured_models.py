"""`structured()` with the real SmolLM2 model, in-process and on the real llama.cpp server."""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any

import pydantic
import pytest

import homefire as hf

pytestmark = pytest.mark.integration

SAMPLING: dict[str, Any] = {"temperature": 0, "seed": 1, "max_tokens": 160}


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Country(pydantic.BaseModel):
    name: str
    capital: str
    population_millions: float
    landlocked: bool


class Palette(pydantic.BaseModel):
    name: str
    colors: Annotated[list[Color], pydantic.Field(min_length=1, max_length=3)]


class Stop(pydantic.BaseModel):
    city: str
    nights: int


class Trip(pydantic.BaseModel):
    title: str
    stops: Annotated[list[Stop], pydantic.Field(min_length=1, max_length=2)]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _obeys(result: pydantic.BaseModel) -> None:
    """The answer against its model's constraints, checked by hand rather than by pydantic:
    an instance built without validation, or from coerced values, fails here."""
    data = json.loads(result.model_dump_json())
    assert set(data) == set(type(result).model_fields) == result.model_fields_set
    if isinstance(result, Country):
        assert isinstance(data["name"], str) and isinstance(data["capital"], str)
        assert _number(data["population_millions"]) and isinstance(data["landlocked"], bool)
    elif isinstance(result, Palette):
        assert isinstance(data["name"], str)
        assert 1 <= len(data["colors"]) <= 3
        assert set(data["colors"]) <= {c.value for c in Color}
    elif isinstance(result, Trip):
        assert isinstance(data["title"], str) and 1 <= len(data["stops"]) <= 2
        for stop in data["stops"]:
            assert isinstance(stop["city"], str)
            assert isinstance(stop["nights"], int) and not isinstance(stop["nights"], bool)
    else:
        raise AssertionError(f"no checks for {type(result).__name__}")


@pytest.mark.parametrize(
    ("model", "question"),
    [
        (Country, "Describe France."),
        (Palette, "Make a colour palette called sea."),
        (Trip, "Plan a short trip to Paris and Lyon."),
    ],
)
def test_structured_returns_valid_instances(
    smollm2: hf.LLM, model: type[pydantic.BaseModel], question: str
) -> None:
    result = smollm2.structured(question, model, **SAMPLING)
    assert isinstance(result, model)
    _obeys(result)


def test_stream_structured_ends_with_the_instance(smollm2: hf.LLM) -> None:
    items = list(smollm2.stream_structured("Describe France.", Country, **SAMPLING))
    *partials, final = items
    assert isinstance(final, Country)
    assert partials and all(isinstance(p, dict) for p in partials)
    assert partials[-1] == final.model_dump(mode="json")


async def test_astructured(smollm2: hf.LLM) -> None:
    result = await smollm2.astructured("Describe France.", Country, **SAMPLING)
    assert isinstance(result, Country)
    _obeys(result)
