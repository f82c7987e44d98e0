"""In-band errors say whether a body or a stream carried them; streamed calls get unique ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import homefire as hf
from homefire.http import Response
from homefire.http.streams import NDJSONDecoder
from homefire.protocols import ollama, openai

pytestmark = pytest.mark.unit

BODY_ERROR = {"error": {"message": "model crashed"}}


@pytest.mark.parametrize(
    "parse", [openai.parse_chat, openai.parse_models, openai.parse_embeddings, ollama.parse_chat]
)
def test_error_in_a_whole_body_is_not_called_mid_stream(parse: Callable[[Any], object]) -> None:
    with pytest.raises(hf.GenerationError, match="success status but an error body") as caught:
        parse(BODY_ERROR)
    assert "mid-stream" not in str(caught.value) and "model crashed" in str(caught.value)


def test_error_inside_a_stream_is_called_mid_stream() -> None:
    with pytest.raises(hf.GenerationError, match="mid-stream"):
        openai.ChatStreamAssembler().feed(BODY_ERROR)
    with pytest.raises(hf.GenerationError, match="mid-stream"):
        ollama.ChatStreamAssembler().feed({"error": "out of memory"})
    with pytest.raises(hf.GenerationError, match="mid-stream"):
        NDJSONDecoder("http://x").feed(b'{"error": "out of memory"}\n')


def _call_line(name: str) -> dict[str, object]:
    call = {"function": {"name": name, "arguments": {}}}
    return {"message": {"role": "assistant", "content": "", "tool_calls": [call]}, "done": False}


def test_streamed_ollama_calls_without_ids_get_distinct_ids() -> None:
    stream = ollama.ChatStreamAssembler()
    for line in (_call_line("a"), _call_line("b"), {"done": True, "done_reason": "stop"}):
        stream.feed(line)
    calls = stream.finish().message.tool_calls
    assert [(c.id, c.name) for c in calls] == [("call_0", "a"), ("call_1", "b")]


def test_json_or_text_keeps_both_kinds_of_body() -> None:
    assert Response(500, {}, b'{"detail": "x"}', "u").json_or_text() == {"detail": "x"}
    assert Response(500, {}, b"Internal \xff error", "u").json_or_text() == "Internal \ufffd error"
