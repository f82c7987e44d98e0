"""structured_predict: homefire's schema-constrained output, validated into pydantic."""

from __future__ import annotations

import json
from typing import Any

import homefire as hf
import pytest
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import PydanticProgramMode
from pydantic import BaseModel

from llama_index.llms.homefire import HomefireLLM

PROMPT = PromptTemplate("Name a city in {country}.")


class City(BaseModel):
    name: str
    country: str


@pytest.mark.unit
async def test_schema_is_sent_and_the_answer_validated(scripted: Any, events: list[Any]) -> None:
    backend = scripted(json.dumps({"name": "Lyon", "country": "France"}))
    city = await HomefireLLM(backend).astructured_predict(City, PROMPT, country="France")
    assert city == City(name="Lyon", country="France")
    assert set(backend.options[0]["json_schema"]["properties"]) == {"name", "country"}
    assert "Name a city in France." in backend.prompts[0]
    names = [type(e).__name__ for e in events]
    assert names == ["LLMStructuredPredictStartEvent", "LLMStructuredPredictEndEvent"]
    assert events[-1].output == city


@pytest.mark.unit
def test_an_invalid_answer_is_retried_then_refused(scripted: Any) -> None:
    backend = scripted('{"name": "Lyon"}', '{"name": "Lyon"}')
    with pytest.raises(hf.StructuredOutputError):
        HomefireLLM(backend).structured_predict(City, PROMPT, country="France")
    assert len(backend.prompts) == 2


@pytest.mark.unit
def test_other_program_modes_are_llamaindex_own(scripted: Any) -> None:
    backend = scripted(json.dumps({"name": "Lyon", "country": "France"}))
    llm = HomefireLLM(backend, pydantic_program_mode=PydanticProgramMode.LLM)
    assert llm.structured_predict(City, PROMPT, country="France").name == "Lyon"
    assert "json_schema" not in backend.options[0]  # LlamaIndex's text program, not homefire's


@pytest.mark.integration
def test_embedded_structured_predict(embedded: hf.LLM) -> None:
    city = HomefireLLM(embedded).structured_predict(City, PROMPT, country="France")
    assert isinstance(city, City)
    assert city.name.strip() and city.country.strip()
