"""Embedding helpers every LLM shares: input checks and batching, and the check that a
backend sent one vector per text."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from homefire._validate import integer
from homefire.errors import InvalidParameterError, ProtocolError


def as_texts(texts: str | Sequence[str]) -> list[str]:
    """A single string or a list of strings, as a non-empty list."""
    items = [texts] if isinstance(texts, str) else texts
    if not isinstance(items, Sequence) or not all(isinstance(t, str) for t in items):
        raise InvalidParameterError("texts", "must be a string or a list of strings")
    if not items:
        raise InvalidParameterError("texts", "at least one text is needed")
    return list(items)


def batched(items: list[str], size: int) -> Iterator[list[str]]:
    integer("embed_batch_size", size, low=1)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def checked_vectors(vectors: list[list[float]], expected: int) -> list[list[float]]:
    """The vectors of one batch, after checking the backend sent one per text."""
    if len(vectors) != expected:
        raise ProtocolError(f"asked for {expected} embeddings, got {len(vectors)}")
    return vectors
