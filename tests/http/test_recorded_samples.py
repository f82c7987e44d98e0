"""The dialects and the SSE decoder against traffic recorded from real llama.cpp servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import homefire as hf
from homefire.http.streams import SSEDecoder
from homefire.protocols import llamacpp, openai
from homefire.protocols.errors import error_from_response

pytestmark = pytest.mark.unit

SERVERS = ("llama_server", "xllamacpp_server")


def body(samples: Path, server: str, name: str) -> bytes:
    return (samples / server / f"{name}.body").read_bytes()


def events(data: bytes, chunk: int = 7) -> list[object]:
    """Decode a recorded stream fed in small pieces, as the network would hand it over."""
    decoder = SSEDecoder()
    out: list[object] = []
    for start in range(0, len(data), chunk):
        out.extend(decoder.feed(data[start : start + chunk]))
        if decoder.done:
            return out
    return out + decoder.finish()


@pytest.mark.parametrize("server", SERVERS)
def test_chat_stream_assembles_to_the_whole_answer(samples_dir: Path, server: str) -> None:
    assembler = openai.ChatStreamAssembler()
    for event in events(body(samples_dir, server, "v1_chat_stream_usage")):
        assembler.feed(event)
    final = assembler.finish()
    assert final.text and final.finish_reason in ("stop", "length")
    assert final.usage is not None and final.usage.completion_tokens > 0
    assert final.timings is not None and final.timings.generated_tokens


@pytest.mark.parametrize("server", SERVERS)
def test_native_completion_and_its_stream_agree(samples_dir: Path, server: str) -> None:
    whole = llamacpp.parse_completion(json.loads(body(samples_dir, server, "completion")))
    assert whole.finish_reason == "length" and whole.usage is not None
    assembler = llamacpp.CompletionStreamAssembler()
    for event in events(body(samples_dir, server, "completion_stream")):
        assembler.feed(event)
    streamed = assembler.finish()
    assert streamed.text == whole.text
    assert streamed.finish_reason == "length"
    assert streamed.timings is not None and streamed.timings.generated_tokens == 16


def test_native_stream_without_stop_event_is_interrupted(samples_dir: Path) -> None:
    recorded = events(body(samples_dir, "llama_server", "completion_stream"))
    assembler = llamacpp.CompletionStreamAssembler()
    for event in recorded[:-1]:
        assembler.feed(event)
    with pytest.raises(hf.StreamInterruptedError):
        assembler.finish()


@pytest.mark.parametrize("server", SERVERS)
def test_server_state_routes(samples_dir: Path, server: str) -> None:
    props = llamacpp.parse_props(json.loads(body(samples_dir, server, "props")))
    assert props.n_ctx and props.total_slots and props.chat_template
    assert not props.classic_llamafile
    models = openai.parse_models(json.loads(body(samples_dir, server, "v1_models")))
    assert models[0].max_context_length == 8192
    assert models[0].context_length == props.n_ctx
    assert llamacpp.parse_health(200, json.loads(body(samples_dir, server, "health"))).ready
    assert llamacpp.parse_slots(json.loads(body(samples_dir, server, "slots")))
    assert llamacpp.parse_tokenize(json.loads(body(samples_dir, server, "tokenize")))
    assert llamacpp.parse_tokenize(json.loads(body(samples_dir, server, "tokenize_pieces"))) == [
        19556,
        905,
    ]
    assert llamacpp.parse_detokenize(json.loads(body(samples_dir, server, "detokenize")))
    prompt = llamacpp.parse_apply_template(json.loads(body(samples_dir, server, "apply_template")))
    assert prompt.endswith("<|im_start|>assistant\n")
    metrics = llamacpp.parse_metrics(body(samples_dir, server, "metrics").decode())
    assert metrics["llamacpp:prompt_tokens_total"] > 0


def test_loading_and_old_health_shapes(samples_dir: Path) -> None:
    loading = json.loads(body(samples_dir, "llama_server", "loading_chat"))
    state = llamacpp.parse_health(503, loading)
    assert not state.ready and state.status == "Loading model"
    assert isinstance(error_from_response(503, loading), hf.ServerBusyError)
    old = llamacpp.parse_health(200, {"status": "ok", "slots_idle": 1, "slots_processing": 0})
    assert old.ready and old.slots_idle == 1
    assert not llamacpp.parse_health(503, {"status": "loading model"}).ready
    assert llamacpp.parse_props({"user_name": "User", "total_slots": 1}).classic_llamafile


def test_recorded_errors_map_to_homefire_errors(samples_dir: Path) -> None:
    for name in ("chat_too_long", "chat_too_long_stream", "completion_too_long"):
        error = error_from_response(400, json.loads(body(samples_dir, "llama_server_ctx256", name)))
        assert isinstance(error, hf.ContextOverflowError)
        assert error.context_window == 256 and error.prompt_tokens
    missing = error_from_response(
        404, json.loads(body(samples_dir, "llama_server", "err_not_found"))
    )
    assert isinstance(missing, hf.APIStatusError) and missing.status == 404
    embeddings = json.loads(body(samples_dir, "llama_server", "v1_embeddings"))
    assert "--embeddings" in str(error_from_response(501, embeddings))
