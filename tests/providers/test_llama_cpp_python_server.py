"""`OpenAILike` against llama-cpp-python's own server (`python -m llama_cpp.server`), SmolLM2.

That server takes `tools` and answers plain text to "required" (its default chat format has
no tool calling), enforces a named tool with a grammar, refuses `json_schema` but takes
`json_object` with a schema, ignores a schema on `/v1/completions`, refuses `content: null`,
answers one embedding vector per token, and words its context overflow its own way: each is
a promise homefire keeps here without being told which server it talks to.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import BaseModel

import homefire as hf
from components import require_module

pytestmark = pytest.mark.integration

START_TIMEOUT = 120.0
CONSTRAINED = {"max_tokens": 60, "temperature": 0.0}


@dataclass(frozen=True)
class Server:
    url: str
    api_key: str

    def llm(self, suffix: str = "/v1") -> hf.OpenAILike:
        return hf.OpenAILike(base_url=self.url + suffix, api_key=self.api_key)


def _held_port() -> socket.socket:
    """A loopback port bound (not listening) with SO_REUSEADDR: no one else can take it, and
    the server, which binds with SO_REUSEADDR too, can."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    return holder


def _wait_ready(server: Server, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until its model list answers; between tries, wait on the process (it may exit)."""
    llm = server.llm()
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end:
        try:
            if llm.health():
                return
        except hf.ServerNotRunningError:
            pass
        try:
            process.wait(0.2)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"llama_cpp.server exited ({process.returncode}):\n{log.read_text()}")
    pytest.fail(f"llama_cpp.server did not answer within {START_TIMEOUT:g}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_module("llama_cpp.server", "pip install 'llama-cpp-python[server]'")
    holder = _held_port()
    port = holder.getsockname()[1]
    key = secrets.token_hex(8)
    log = tmp_path_factory.mktemp("llama-cpp-python") / "server.log"
    argv = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_path),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2", "--n_threads_batch", "2",
        "--embedding", "true", "--api_key", key,
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=os.environ)
    running = Server(f"http://127.0.0.1:{port}", key)
    try:
        _wait_ready(running, process, log)
        holder.close()
        yield running
    finally:
        holder.close()
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def llm(server: Server) -> Iterator[hf.OpenAILike]:
    llm = server.llm()
    yield llm
    llm.close()


def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: The city's name.
    """
    return f"sunny in {city}"


class City(BaseModel):
    name: str
    country: str


def test_chat_and_stream(llm: hf.OpenAILike) -> None:
    whole = llm.chat("Say hello.", max_tokens=8)
    assert isinstance(whole.text, str) and whole.text.strip()
    assert whole.finish_reason in ("stop", "length")
    assert whole.usage is not None and whole.usage.completion_tokens > 0
    chunks = list(llm.stream_chat("Say hello.", max_tokens=8))
    assert "".join(c.delta or "" for c in chunks) == chunks[-1].text
    assert chunks[-1].finish_reason in ("stop", "length")


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_base_url_with_or_without_v1(server: Server, suffix: str) -> None:
    with server.llm(suffix) as llm:
        assert llm.models()
        assert llm.chat("Hi", max_tokens=2).finish_reason in ("stop", "length")


@pytest.mark.parametrize("choice", ["required", "get_weather"])
def test_forced_tool_choice_is_enforced(llm: hf.OpenAILike, choice: str) -> None:
    answer = llm.chat("Weather in Paris?", tools=[get_weather], tool_choice=choice, **CONSTRAINED)
    (call,) = answer.message.tool_calls
    assert call.name == "get_weather" and isinstance(call.arguments.get("city"), str)
    assert answer.finish_reason == "tool_calls"
    chunks = list(
        llm.stream_chat("Weather in Paris?", tools=[get_weather], tool_choice=choice, **CONSTRAINED)
    )
    assert [c.name for c in chunks[-1].message.tool_calls] == ["get_weather"]


def test_the_server_is_asked_once_what_it_honours(llm: hf.OpenAILike) -> None:
    llm.chat("Weather?", tools=[get_weather], tool_choice="required", **CONSTRAINED)
    llm.chat("Weather?", tools=[get_weather], tool_choice="get_weather", **CONSTRAINED)
    learnt = llm._honoured
    # "required" is ignored there (homefire's fallback, with json_object + schema, does it);
    # a named tool is enforced by the server's own grammar.
    assert learnt.tools == {"required": False, "named": True}
    assert learnt.schema == {"chat": "json_object"}


async def test_async_tools_and_structured(llm: hf.OpenAILike) -> None:
    answer = await llm.achat(
        "Weather in Paris?", tools=[get_weather], tool_choice="required", **CONSTRAINED
    )
    assert [c.name for c in answer.message.tool_calls] == ["get_weather"]
    city = await llm.astructured("Name a city in France.", City, **CONSTRAINED)
    assert isinstance(city, City) and city.name


def test_structured_falls_back_to_json_object(llm: hf.OpenAILike) -> None:
    city = llm.structured("Name a city in France.", City, **CONSTRAINED)
    assert isinstance(city, City) and city.name and city.country
    parts = list(llm.stream_structured("Name a city in France.", City, **CONSTRAINED))
    assert isinstance(parts[-1], City)
    raw = llm.chat("Pick one.", json_schema={"type": "string", "enum": ["yes"]}, max_tokens=8)
    assert json.loads(raw.text) == "yes"


def test_tool_round_trip_without_null_content(llm: hf.OpenAILike) -> None:
    ran: list[str] = []

    def weather(city: str) -> str:
        """Current weather in a city.

        Args:
            city: The city's name.
        """
        ran.append(city)
        return "sunny"

    answer = llm.chat_with_tools(
        "Weather in Paris?", [weather], tool_choice="weather", **CONSTRAINED
    )
    assert ran and isinstance(answer.text, str) and answer.text.strip()
    assert not answer.message.tool_calls
    history = [
        hf.user("Weather in Paris?"),
        hf.ChatMessage(
            hf.MessageRole.ASSISTANT, None, tool_calls=[hf.ToolCall("c1", "weather", {"city": "P"})]
        ),
        hf.tool("sunny", tool_call_id="c1", name="weather"),
    ]
    assert llm.chat(history, max_tokens=8).text.strip()


def test_a_schema_on_completions_it_ignores_is_refused(llm: hf.OpenAILike) -> None:
    with pytest.raises(hf.NotSupportedError, match="does not constrain"):
        llm.complete("JSON:", json_schema={"type": "object"}, max_tokens=8)
    assert llm.complete("Once upon a time", max_tokens=4).finish_reason in ("stop", "length")


def test_embed(llm: hf.OpenAILike) -> None:
    first, second = llm.embed(["first text", "second text"])
    assert len(first) == len(second) > 0
    assert all(isinstance(x, float) for x in first)
    assert first != second


def test_context_overflow_has_both_numbers(llm: hf.OpenAILike) -> None:
    long = "word " * 3000
    with pytest.raises(hf.ContextOverflowError) as caught:
        llm.chat(long, max_tokens=8)
    assert caught.value.context_window == 2048
    assert caught.value.prompt_tokens is not None and caught.value.prompt_tokens > 2048
