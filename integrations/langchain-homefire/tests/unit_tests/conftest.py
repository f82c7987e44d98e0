"""A scripted homefire LLM: replies with prepared texts and records what each call received."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import homefire as hf
import pytest


class Scripted(hf.CustomLLM):
    """Replies with the next prepared text (streamed three characters at a time); embeds each
    text as its length and word count."""

    model_name = "scripted"

    def __init__(self, *replies: str) -> None:
        super().__init__()
        self.replies = list(replies)
        self.prompts: list[str] = []
        self.options: list[dict[str, Any]] = []

    def complete(self, prompt: str, **options: Any) -> hf.CompletionResponse:  # type: ignore[override]
        self.prompts.append(prompt)
        self.options.append(options)
        return hf.CompletionResponse(
            text=self.replies.pop(0), finish_reason="stop", usage=hf.Usage(7, 3, cached_tokens=2)
        )

    def stream_complete(self, prompt: str, **options: Any) -> Iterator[str]:  # type: ignore[override]
        text = self.complete(prompt, **options).text
        for start in range(0, len(text), 3):
            yield text[start : start + 3]

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return [[float(len(t)), float(len(t.split()))] for t in texts]


@pytest.fixture
def scripted() -> type[Scripted]:
    return Scripted
