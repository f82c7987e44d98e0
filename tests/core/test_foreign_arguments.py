"""Arguments from LlamaIndex and LangChain get homefire's word for them, never a TypeError."""

from __future__ import annotations

from typing import Any

import pytest

import homefire as hf

pytestmark = pytest.mark.unit

CASES = [
    (hf.LlamaCPP, "generate_kwargs", {"top_k": 5}, "per call"),
    (hf.LlamaCPP, "model_kwargs", {"n_gpu_layers": 1}, "n_gpu_layers="),
    (hf.LlamaCPP, "system_prompt", "Be brief.", "hf.system"),
    (hf.Llamafile, "request_timeout", 30.0, "timeouts=hf.Timeouts"),
    (hf.Llamafile, "seed", 42, "seed= per call"),
    (hf.LMStudio, "model_name", "qwen", "model="),
    (hf.LMStudio, "timeout", 30.0, "timeouts="),
    (hf.LMStudio, "num_output", 64, "max_new_tokens="),
    (hf.LocalAI, "api_base", "http://127.0.0.1:8080/v1", "base_url="),
    (hf.LocalAI, "max_tokens", 64, "max_new_tokens="),
    (hf.LocalAI, "globally_use_chat_completions", True, "chat() or complete()"),
    (hf.LocalAI, "max_retries", 2, "retry=hf.RetryPolicy"),
    (hf.LocalAI, "default_headers", {"X": "1"}, "headers="),
    (hf.Xinference, "endpoint", "http://127.0.0.1:9997", "base_url="),
    (hf.Xinference, "max_tokens", 64, "max_new_tokens="),
    (hf.OpenAILike, "api_base", "http://127.0.0.1:8000/v1", "base_url="),
]


@pytest.mark.parametrize(("cls", "name", "value", "instead"), CASES)
def test_a_foreign_argument_names_the_homefire_one(
    cls: type[hf.LLM], name: str, value: Any, instead: str
) -> None:
    with pytest.raises(hf.InvalidParameterError) as caught:
        cls(**{name: value})
    assert caught.value.name == name
    assert instead in str(caught.value)
    assert cls.__name__ in str(caught.value)


def test_a_misspelled_argument_gets_a_suggestion() -> None:
    with pytest.raises(hf.InvalidParameterError, match="did you mean temperature"):
        hf.Ollama("m", tempreature=0.5)


def test_a_subclass_that_takes_its_own_keywords_is_left_alone(scripted: Any) -> None:
    class Tagged(hf.CustomLLM):
        def __init__(self, **tags: Any) -> None:
            super().__init__()
            self.tags = tags

        def complete(self, prompt: str, **options: Any) -> str:
            return prompt

    assert Tagged(colour="blue").tags == {"colour": "blue"}
