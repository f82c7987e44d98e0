"""The small interface both in-process llama.cpp engines implement.

An engine takes an OpenAI-style completion body (built by `homefire.protocols.openai`) and
answers with OpenAI-style dicts, so parsing, chat templates and validation live once, in
`LlamaCPP`, and the engines only translate to their library's calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from homefire.errors import ModelFileError

# KV cache element types llama.cpp accepts, by the name users write (as in `--cache-type-k`).
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Validated load settings; `None` leaves the choice to llama.cpp."""

    model_path: Path
    context_window: int
    n_threads: int
    n_gpu_layers: int = 0
    n_batch: int | None = None
    n_ubatch: int | None = None
    flash_attn: bool | None = None
    cache_type_k: str | None = None
    cache_type_v: str | None = None
    use_mmap: bool = True
    use_mlock: bool = False
    verbose: bool = False
    n_parallel: int = 1
    swa_full: bool | None = None
    engine_kwargs: Mapping[str, Any] = field(default_factory=dict)


class EngineLoadError(ModelFileError):
    """The engine refused a file whose header reads fine.

    `out_of_memory` is True when a failed allocation explains it, or when the engine's
    message cannot tell one apart from other load failures: a smaller load may then work.
    """

    def __init__(self, path: str, problem: str, hint: str, *, out_of_memory: bool) -> None:
        super().__init__(path, problem, hint)
        self.out_of_memory = out_of_memory


class Engine(Protocol):
    """One loaded model. Every method may be called from many threads at once."""

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """A non-streaming completion: the OpenAI `text_completion` dict, or an error dict."""
        ...

    def stream(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Completion chunks; closing the iterator early stops the generation in the engine."""
        ...

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` as the model reads it inside a prompt (special tokens parsed)."""
        ...

    def close(self) -> None:
        """Free the model; streams still running finish first."""
        ...
