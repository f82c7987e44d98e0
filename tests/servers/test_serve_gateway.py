"""`homefire serve --router NAME`: one OpenAI-compatible endpoint, with its own key, in front
of a router configured over a real server (itself `homefire serve` with SmolLM2)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import serve_argv, serving

from homefire.servers.launch import LaunchedServer

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.integration

GATEWAY_KEY = "team-key"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _config(path: Path, backend: LaunchedServer) -> dict[str, str]:
    path.write_text(
        f"""
[endpoints.desk]
provider = "llamafile"
base_url = "{backend.base_url}"
api_key_env = "DESK_KEY"

[endpoints.team]
provider = "router"
strategy = "fallback"
backends = ["desk"]
"""
    )
    env = {k: v for k, v in os.environ.items() if k != "HOMEFIRE_API_KEY"}
    return {**env, "HOMEFIRE_CONFIG": str(path), "DESK_KEY": backend.api_key}


@pytest.fixture(scope="module")
def gateway(
    front_server: LaunchedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    env = _config(tmp_path_factory.mktemp("config") / "config.toml", front_server)
    with serving("--router", "team", "--api-key", GATEWAY_KEY, env=env) as server:
        yield server.url, env
        assert server.stop() == 0


@pytest.fixture
def client(gateway: tuple[str, dict[str, str]]) -> Any:
    return openai.OpenAI(
        base_url=f"{gateway[0]}/v1", api_key=GATEWAY_KEY, max_retries=0, timeout=120
    )


def test_the_gateway_answers_with_its_own_key(client: Any, gateway: tuple[str, Any]) -> None:
    answer = client.chat.completions.create(
        model="team", messages=[{"role": "user", "content": "Hi"}], max_tokens=4
    )
    assert answer.model == "team" and answer.choices[0].message.content
    stream = client.chat.completions.create(
        model="team", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert client.models.retrieve("team").id == "team"
    called = client.chat.completions.create(
        model="team",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=48,
    )
    assert called.choices[0].message.tool_calls[0].function.name == "get_weather"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"{gateway[0]}/v1", api_key="desk's key is not ours", max_retries=0
        ).models.list()


def test_llama_cpp_routes_are_not_pretended(gateway: tuple[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    answer = httpx.post(
        f"{gateway[0]}/completion", json={"prompt": "Hi"}, headers=headers, timeout=30
    )
    assert answer.status_code == 501 and "/v1" in answer.json()["error"]["message"]


def test_a_name_that_is_no_router_is_refused(gateway: tuple[str, dict[str, str]]) -> None:
    argv = serve_argv("--router", "desk", "--api-key", GATEWAY_KEY)
    finished = subprocess.run(argv, env=gateway[1], capture_output=True, text=True, timeout=60)
    err = finished.stderr
    assert finished.returncode != 0
    assert "not a router" in err and "Traceback" not in err
