"""`structured()` on a scripted backend: schema sent, validation, one retry, the error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pydantic
import pytest

import homefire as hf

pytestmark = pytest.mark.unit


class City(pydantic.BaseModel):
    name: str
    population: int
    capital: bool


@dataclass
class Point:
    x: float
    y: float


GOOD = json.dumps({"name": "Paris", "population": 2100000, "capital": True})
BAD = json.dumps({"name": "Paris", "population": "many", "capital": True})


def test_valid_answer_returns_an_instance(scripted: Any) -> None:
    llm = scripted([GOOD])
    city = llm.structured("Tell me about Paris.", City, temperature=0)
    assert city == City(name="Paris", population=2100000, capital=True)
    sent = llm.options[0]
    assert sent["json_schema"]["required"] == ["name", "population", "capital"]
    assert sent["temperature"] == 0
    assert "matches this JSON schema" in llm.prompts[0]


def test_invalid_answer_is_retried_once_with_the_error(scripted: Any) -> None:
    llm = scripted([BAD, GOOD])
    assert llm.structured("Paris?", City).population == 2100000
    assert "population: Input should be a valid integer" in llm.prompts[1]
    assert BAD in llm.prompts[1]


def test_second_failure_raises_with_the_raw_text(scripted: Any) -> None:
    llm = scripted([BAD, "not json at all"])
    with pytest.raises(hf.StructuredOutputError) as caught:
        llm.structured("Paris?", City)
    assert caught.value.raw_text == "not json at all"
    assert "raw text" in str(caught.value)


def test_dataclass_and_dict_schemas(scripted: Any) -> None:
    llm = scripted(['{"x": 1, "y": 2.5}', '{"ok": true}', '{"ok": "yes"}', '{"ok": 1}'])
    assert llm.structured("p", Point) == Point(1.0, 2.5)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    assert llm.structured("q", schema) == {"ok": True}
    with pytest.raises(hf.StructuredOutputError, match=r"\$\.ok: expected boolean"):
        llm.structured("q", schema)


def test_conflicting_arguments_are_refused(scripted: Any) -> None:
    llm = scripted([])
    with pytest.raises(hf.InvalidParameterError, match="json_schema"):
        llm.structured("x", City, json_schema={"type": "object"})
    with pytest.raises(hf.InvalidParameterError, match="pydantic model"):
        llm.structured("x", 42)


def test_stream_structured_yields_growing_partials_then_the_instance(scripted: Any) -> None:
    llm = scripted([GOOD])
    items = list(llm.stream_structured("Paris?", City))
    *partials, final = items
    assert final == City(name="Paris", population=2100000, capital=True)
    assert partials[0] == {} or partials[0] == {"name": ""} or "name" in partials[0]
    assert {"name": "Pa"} in partials or {"name": "Par"} in partials
    assert all(isinstance(p, dict) for p in partials)


def test_stream_structured_raises_on_invalid_final(scripted: Any) -> None:
    llm = scripted([BAD])
    with pytest.raises(hf.StructuredOutputError):
        list(llm.stream_structured("Paris?", City))


async def test_async_structured(scripted: Any) -> None:
    llm = scripted([BAD, GOOD, GOOD])
    assert (await llm.astructured("Paris?", City)).capital is True
    items = [item async for item in llm.astream_structured("Paris?", City)]
    assert isinstance(items[-1], City)
