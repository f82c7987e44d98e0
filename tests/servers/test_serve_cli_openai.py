"""`homefire serve` answered by the official `openai` client; the key it prints is required."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from realserver import smollm2_path
from serving import ServeProcess, serving

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served() -> Iterator[ServeProcess]:
    env = {k: v for k, v in os.environ.items() if k != "HOMEFIRE_API_KEY"}
    args = (str(smollm2_path()), "--ctx", "512", "--threads", "2")
    with serving(*args, env=env, want_key=True) as server:
        yield server


def test_openai_client_chats_and_streams(served: ServeProcess) -> None:
    url, key = served.url, served.key
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
    served: ServeProcess,
) -> None:
    url = served.url
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "Hi"}], max_tokens=2
        )


def test_sigterm_stops_it_cleanly(served: ServeProcess) -> None:
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(15) == 0
