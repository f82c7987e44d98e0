"""`homefire serve` answered by the official `openai` client; the key it prints is required."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from realserver import smollm2_path

from homefire.servers.launch import free_port

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.integration


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "HOMEFIRE_API_KEY"}
    argv = [sys.executable, "-m", "homefire.cli", "serve", str(smollm2_path())]
    process = subprocess.Popen(
        [*argv, "--port", str(port), "--ctx", "512", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines = _lines(process)
    key = None
    deadline = time.monotonic() + 60
    while key is None and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert process.poll() is None, "homefire serve exited early"
            continue
        if match := re.search(r"API key: (\S+)", line):
            key = match.group(1)
    assert key, "homefire serve printed no API key"
    yield f"http://127.0.0.1:{port}", key, process
    if process.poll() is None:
        process.terminate()
        process.wait(15)


def test_openai_client_chats_and_streams(served: tuple[str, str, subprocess.Popen[str]]) -> None:
    url, key, _ = served
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)
    answer = client.chat.completions.create(
        model="SmolLM2-135M-Instruct.Q4_1",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=8,
        temperature=0,
    )
    assert answer.choices[0].message.content
    stream = client.chat.completions.create(
        model="anything",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        stream=True,
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert client.completions.create(model="x", prompt="Once upon", max_tokens=4).choices[0].text


def test_requests_without_the_key_are_refused(
    served: tuple[str, str, subprocess.Popen[str]],
) -> None:
    url, _, _ = served
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "Hi"}], max_tokens=2
        )


def test_sigterm_stops_it_cleanly(served: tuple[str, str, subprocess.Popen[str]]) -> None:
    _, _, process = served
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
