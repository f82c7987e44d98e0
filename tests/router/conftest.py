"""Fixtures for the router's tests: fake servers started and stopped per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from routing_fakes import OpenAIFake


@pytest.fixture
def fake_server() -> Iterator[Callable[..., OpenAIFake]]:
    """Start fake servers (stopped after the test): `fake_server("busy")`."""
    started: list[OpenAIFake] = []

    def start(behaviour: str = "answer", **kwargs: Any) -> OpenAIFake:
        fake = OpenAIFake(behaviour, **kwargs).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.release.set()
        fake.stop()
