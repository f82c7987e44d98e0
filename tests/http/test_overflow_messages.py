"""ContextOverflowError from each server's own overflow wording, with both numbers in place.

The llama.cpp and llama-cpp-python bodies are recorded answers; the vLLM, LM Studio and
Ollama texts are those servers' message formats, filled in as they fill them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import homefire as hf
from homefire.protocols.errors import error_from_event, error_from_response

pytestmark = pytest.mark.unit


def recorded(samples: Path, server: str, name: str) -> tuple[int, object]:
    status = int((samples / server / f"{name}.status").read_text().split()[0])
    return status, json.loads((samples / server / f"{name}.body").read_bytes())


@pytest.mark.parametrize(
    ("server", "name", "prompt", "window"),
    [
        ("llama_server_ctx256", "chat_too_long", 631, 256),
        ("llama_server_ctx256", "completion_too_long", 601, 256),
        ("llama_server_ctx256", "v1_completion_too_long", 601, 256),
        ("llamacpp_python_server", "err_too_long", 2531, 2048),
    ],
)
def test_recorded_overflows_keep_prompt_and_window_apart(
    samples_dir: Path, server: str, name: str, prompt: int, window: int
) -> None:
    status, body = recorded(samples_dir, server, name)
    error = error_from_response(status, body)
    assert isinstance(error, hf.ContextOverflowError)
    assert (error.prompt_tokens, error.context_window) == (prompt, window)
    assert f"the prompt has {prompt} tokens but the context window is {window}" in str(error)


def _openai_envelope(message: str, **extra: object) -> dict[str, object]:
    return {"error": {"message": message, "type": "BadRequestError", "code": 400, **extra}}


VLLM = [
    (
        "This model's maximum context length is 4096 tokens. However, you requested 5100 "
        "tokens (5000 in the messages, 100 in the completion). Please reduce the length of "
        "the messages or completion.",
        5000,
    ),
    (
        "This model's maximum context length is 4096 tokens. However, your request has 5000 "
        "input tokens. Please reduce the length of the input messages.",
        5000,
    ),
    (
        "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum "
        "context length is 4096 tokens and your request has 2778 input tokens "
        "(8000 > 4096 - 2778).",
        2778,
    ),
    (
        "This model's maximum context length is 4096 tokens. However, you requested 100 "
        "output tokens and your prompt contains at least 4097 input tokens, for a total of at "
        "least 4197 tokens. Please reduce the length of the input prompt or the number of "
        "requested output tokens.",
        4097,
    ),
    (
        "You passed 5000 input tokens and requested 100 output tokens. However, the model's "
        "context length is only 4096 tokens, resulting in a maximum input length of 3996 "
        "tokens. Please reduce the length of the input prompt.",
        5000,
    ),
    (
        "The decoder prompt (length 5000) is longer than the maximum model length of 4096. "
        "Make sure that `max_model_len` is no smaller than the number of text tokens.",
        5000,
    ),
    ("Prompt length of 5000 is longer than the maximum model length of 4096.", 5000),
]


@pytest.mark.parametrize(("message", "prompt"), VLLM)
def test_vllm_wordings_in_both_envelopes(message: str, prompt: int) -> None:
    for body in (
        _openai_envelope(message),
        {"object": "error", "message": message, "type": "BadRequestError", "code": 400},
    ):
        error = error_from_response(400, body)
        assert isinstance(error, hf.ContextOverflowError)
        assert (error.prompt_tokens, error.context_window) == (prompt, 4096)


def test_vllm_character_limit_names_the_window_only() -> None:
    message = (
        "You passed 40000 input characters and requested 100 output tokens. However, the "
        "model's context length is only 4096 tokens, resulting in a maximum input length of "
        "3996 tokens (at most 15984 characters). Please reduce the length of the input prompt."
    )
    error = error_from_response(400, _openai_envelope(message))
    assert isinstance(error, hf.ContextOverflowError)
    assert (error.prompt_tokens, error.context_window) == (None, 4096)


def test_llama_cpp_python_completion_wording() -> None:
    message = (
        "This model's maximum context length is 2048 tokens, however you requested 2600 "
        "tokens (2584 in your prompt; 16 for the completion). Please reduce your prompt; or "
        "completion length."
    )
    body = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "prompt",
            "code": "context_length_exceeded",
        }
    }
    error = error_from_response(400, body)
    assert isinstance(error, hf.ContextOverflowError)
    assert (error.prompt_tokens, error.context_window) == (2584, 2048)


def test_lm_studio_wording() -> None:
    message = (
        "Trying to keep the first 6269 tokens when context the overflows. However, the model "
        "is loaded with context length of only 4096 tokens, which is not enough. Try to load "
        "the model with a larger context length, or provide a shorter input"
    )
    for body in ({"error": message}, _openai_envelope(message)):
        error = error_from_response(400, body)
        assert isinstance(error, hf.ContextOverflowError)
        assert (error.prompt_tokens, error.context_window) == (6269, 4096)


def test_ollama_wordings() -> None:
    inner = {
        "error": {
            "code": 400,
            "message": "request (8889 tokens) exceeds the available context size (4096 tokens), "
            "try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 8889,
            "n_ctx": 4096,
        }
    }
    wrapped = error_from_response(400, {"error": json.dumps(inner)})
    assert isinstance(wrapped, hf.ContextOverflowError)
    assert (wrapped.prompt_tokens, wrapped.context_window) == (8889, 4096)
    for words in (
        "the input length exceeds the context length",
        "the prompt is longer than the context length currently available to the model",
    ):
        error = error_from_response(500, {"error": words})
        assert isinstance(error, hf.ContextOverflowError)
        assert (error.prompt_tokens, error.context_window) == (None, None)
        assert words in str(error)


def test_in_band_overflow_and_unlabelled_numbers() -> None:
    event = _openai_envelope("request (700 tokens) exceeds the available context size (512 tokens)")
    error = error_from_event(event, in_stream=True)
    assert isinstance(error, hf.ContextOverflowError)
    assert (error.prompt_tokens, error.context_window) == (700, 512)
    vague = error_from_response(400, {"error": "context length exceeded: 12 tokens vs 10 tokens"})
    assert isinstance(vague, hf.ContextOverflowError)
    assert (vague.prompt_tokens, vague.context_window) == (None, None)


def test_other_errors_are_not_overflows() -> None:
    error = error_from_response(400, _openai_envelope("'temperature' must be at most 2"))
    assert not isinstance(error, hf.ContextOverflowError)
    assert isinstance(error, hf.APIStatusError)
