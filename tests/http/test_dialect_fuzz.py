"""Fuzz the dialect parsers and stream decoders: whatever arrives, only homefire errors come out.

Inputs are recorded server bodies, truncated, corrupted and salted with non-UTF-8 bytes, plus
arbitrary JSON values; every parser either returns or raises a `HomefireError`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import SAMPLES, require
from homefire.errors import HomefireError
from homefire.http import Response
from homefire.http.streams import NDJSONDecoder, SSEDecoder
from homefire.protocols import llamacpp, openai
from homefire.protocols.errors import error_from_event, error_from_response

pytestmark = pytest.mark.unit

BODIES = sorted(
    path.read_bytes()
    for folder in ("llama_server", "xllamacpp_server", "llama_server_ctx256", "xinference")
    for path in (SAMPLES / folder).glob("*.body")
    if path.stat().st_size < 30_000
)
require(bool(BODIES), f"the recorded samples ({SAMPLES})", "set $HOMEFIRE_SAMPLES")

PARSERS: list[Callable[[Any], object]] = [
    openai.parse_chat,
    openai.parse_completion,
    openai.parse_models,
    openai.parse_embeddings,
    llamacpp.parse_completion,
    llamacpp.parse_props,
    llamacpp.parse_tokenize,
    llamacpp.parse_detokenize,
    llamacpp.parse_apply_template,
    llamacpp.parse_slots,
    lambda body: llamacpp.parse_health(503, body),
    lambda body: error_from_response(400, body),
    lambda body: error_from_response(503, body),
    error_from_event,
]


def only_homefire_errors(call: Callable[[], object]) -> None:
    with contextlib.suppress(HomefireError):
        call()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(BODIES)))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "salt"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        else:
            data[at:at] = draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"]))
    return bytes(data)


def all_parsers(value: Any) -> None:
    for parse in PARSERS:
        only_homefire_errors(lambda parse=parse: parse(value))  # type: ignore[misc]


def assemble(events: list[Any]) -> None:
    assemblers = (
        openai.ChatStreamAssembler(),
        openai.CompletionStreamAssembler(),
        llamacpp.CompletionStreamAssembler(),
    )
    for assembler in assemblers:
        for event in events:
            only_homefire_errors(lambda a=assembler, e=event: a.feed(e))  # type: ignore[misc]
        only_homefire_errors(assembler.finish)


def decode(decoder: SSEDecoder | NDJSONDecoder, data: bytes, cut: int) -> list[Any]:
    """Events decoded from `data` handed over in two pieces; none when decoding fails."""
    try:
        return decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.finish()
    except HomefireError:
        return []


def all_streams(data: bytes, cut: int) -> None:
    for decoder in (SSEDecoder("http://x"), NDJSONDecoder("http://x")):
        assemble(decode(decoder, data, cut))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(), st.integers(0, 4000))
def test_damaged_bodies_raise_only_homefire_errors(data: bytes, cut: int) -> None:
    response = Response(200, {}, data, "http://x")
    try:
        value = response.json()
    except HomefireError:
        value = data.decode("utf-8", "replace")
    all_parsers(value)
    all_streams(data, cut)
    only_homefire_errors(lambda: llamacpp.parse_metrics(data.decode("utf-8", "replace")))


KEYS = [
    *("choices", "message", "delta", "content", "text", "error", "data", "id", "tokens"),
    *("usage", "timings", "stop", "stop_type", "tool_calls", "function", "meta", "n_ctx"),
    *("default_generation_settings", "code", "finish_reason", "embedding", "index", "name"),
    *("arguments", "reasoning_content", "reasoning", "prompt_tokens_details", "piece"),
    *("cached_tokens", "prompt_tokens", "max_model_len", "n_ctx_train", "type", "detail"),
    *("n_prompt_tokens", "status", "slots_idle", "is_processing", "prompt", "object"),
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=1500, deadline=None)
@given(JSON)
def test_arbitrary_json_raises_only_homefire_errors(value: Any) -> None:
    all_parsers(value)
    all_streams(b"data: " + json.dumps(value).encode() + b"\n\n", 3)
