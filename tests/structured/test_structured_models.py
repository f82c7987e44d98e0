"""`structured()` with the real SmolLM2 model, in-process and on the real llama.cpp server."""

from __future__ import annotations

import enum
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
    assert model.model_validate_json(result.model_dump_json()) == result


def test_stream_structured_ends_with_the_instance(smollm2: hf.LLM) -> None:
    items = list(smollm2.stream_structured("Describe France.", Country, **SAMPLING))
    *partials, final = items
    assert isinstance(final, Country)
    assert partials and all(isinstance(p, dict) for p in partials)
    assert partials[-1] == final.model_dump(mode="json")


async def test_astructured(smollm2: hf.LLM) -> None:
    result = await smollm2.astructured("Describe France.", Country, **SAMPLING)
    assert isinstance(result, Country)
