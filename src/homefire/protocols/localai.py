"""LocalAI's management dialect: readiness, `/system`, the model gallery and backend control.

Pure functions, no I/O. Inference is OpenAI-compatible (see `openai`). LocalAI knows model
ids only; context size and quantization live in each model's YAML, so `ModelInfo` stays thin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homefire.errors import DownloadError, GenerationError, ProtocolError
from homefire.progress import Progress
from homefire.protocols import openai
from homefire.types import ChatResponse, CompletionResponse, ModelInfo, Timings

# How LocalAI's completion stream reports a backend failure: as the text of a last chunk that
# also carries the finish reason (a real last chunk has no text), and no `[DONE]` after it.
_STREAM_FAILURE = "Internal error: "

# `/backend/monitor` state enum
BACKEND_STATES = {0: "uninitialized", 1: "busy", 2: "ready", -1: "error"}


def parse_models(body: Any, loaded: set[str]) -> list[ModelInfo]:
    """`GET /v1/models` ids, marked loaded when `/system` lists them."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise ProtocolError("LocalAI's /v1/models answer has no `data` list")
    out = []
    for item in data:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise ProtocolError(f"malformed model entry from LocalAI: {item!r}")
        caps = item.get("capabilities")
        out.append(
            ModelInfo(
                id=item["id"],
                loaded=item["id"] in loaded,
                capabilities=[c for c in caps if isinstance(c, str)]
                if isinstance(caps, list)
                else [],
                raw=item,
            )
        )
    return out


def parse_system(body: Any) -> set[str]:
    """`GET /system`: the ids of the models whose backends are running."""
    if not isinstance(body, Mapping):
        raise ProtocolError("LocalAI's /system answer is not a JSON object")
    loaded = body.get("loaded_models")
    if not isinstance(loaded, list):
        return set()
    return {m["id"] for m in loaded if isinstance(m, Mapping) and isinstance(m.get("id"), str)}


def build_apply_body(
    gallery_id: str | None = None,
    *,
    url: str | None = None,
    name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`POST /models/apply`: a gallery id (`gallery@model`) or a config URL with a name."""
    body: dict[str, Any] = {}
    if gallery_id is not None:
        body["id"] = gallery_id
    if url is not None:
        body["url"] = url
    if name is not None:
        body["name"] = name
    if overrides:
        body["overrides"] = dict(overrides)
    return body


def parse_apply(body: Any) -> str:
    """The job uuid from `/models/apply`."""
    if not isinstance(body, Mapping) or not isinstance(body.get("uuid"), str):
        raise ProtocolError(f"LocalAI's apply answer has no job uuid: {body!r}")
    return str(body["uuid"])


def parse_job(body: Any, what: str) -> Progress:
    """`GET /models/jobs/{uuid}`: percent progress; a failed job raises DownloadError."""
    if not isinstance(body, Mapping):
        raise ProtocolError("LocalAI's job status is not a JSON object")
    error = body.get("error")
    if isinstance(error, str) and error:
        raise DownloadError(what, f"LocalAI's gallery job failed: {error}")
    if body.get("cancelled"):
        raise DownloadError(what, "LocalAI's gallery job was cancelled")
    progress = body.get("progress")
    percent = float(progress) if isinstance(progress, int | float) else None
    done = body.get("processed") is True
    message = body.get("message")
    return Progress(
        status=message if isinstance(message, str) and message else "installing",
        completed=100.0 if done else percent,
        total=100.0,
        done=done,
    )


def parse_monitor(body: Any) -> str:
    """`/backend/monitor`: the backend state as a word (ready, busy, uninitialized, error)."""
    if not isinstance(body, Mapping):
        raise ProtocolError("LocalAI's backend monitor answer is not a JSON object")
    state = body.get("state")
    return BACKEND_STATES.get(state, "unknown") if isinstance(state, int) else "unknown"


def parse_extra_usage(body: Any) -> Timings | None:
    """The timings LocalAI adds to `usage` (milliseconds) when asked with `Extra-Usage: 1`."""
    usage = body.get("usage") if isinstance(body, Mapping) else None
    if not isinstance(usage, Mapping) or "timing_token_generation" not in usage:
        return None

    def number(key: str) -> float | None:
        value = usage.get(key)
        return float(value) if isinstance(value, int | float) else None

    generated = usage.get("completion_tokens")
    generation_ms = number("timing_token_generation")
    speed = (
        generated / generation_ms * 1000
        if isinstance(generated, int) and generated and generation_ms
        else None
    )
    return Timings(
        prompt_tokens=usage.get("prompt_tokens")
        if isinstance(usage.get("prompt_tokens"), int)
        else None,
        generated_tokens=generated if isinstance(generated, int) else None,
        prompt_ms=number("timing_prompt_processing"),
        generation_ms=generation_ms,
        tokens_per_second=speed,
    )


def parse_chat(body: Any) -> ChatResponse:
    """An OpenAI chat answer, timed by the `usage` timings `Extra-Usage: 1` asks for."""
    response = openai.parse_chat(body)
    response.timings = response.timings or parse_extra_usage(body)
    return response


def parse_completion(body: Any) -> CompletionResponse:
    """An OpenAI completion answer, timed by the `usage` timings `Extra-Usage: 1` asks for."""
    response = openai.parse_completion(body)
    response.timings = response.timings or parse_extra_usage(body)
    return response


def _raise_in_band_failure(chunk: Any, text_of: Callable[[Mapping[str, Any]], Any]) -> None:
    """LocalAI reports a backend failure during a stream as the last piece of the answer:
    "Internal error: ..." with a finish reason. Raise it instead of passing it on as text."""
    choices = chunk.get("choices") if isinstance(chunk, Mapping) else None
    if not (isinstance(choices, list) and choices and isinstance(choices[0], Mapping)):
        return
    choice = choices[0]
    text = text_of(choice)
    if choice.get("finish_reason") and isinstance(text, str) and text.startswith(_STREAM_FAILURE):
        raise GenerationError(
            f"LocalAI's backend failed mid-stream: {text.removeprefix(_STREAM_FAILURE)}; "
            "see the LocalAI server's log for the cause"
        )


def _delta_content(choice: Mapping[str, Any]) -> Any:
    delta = choice.get("delta")
    return delta.get("content") if isinstance(delta, Mapping) else None


class CompletionStreamAssembler(openai.CompletionStreamAssembler):
    """OpenAI completion chunks, except that LocalAI's in-band failure raises."""

    def feed(self, chunk: Any) -> CompletionResponse | None:
        _raise_in_band_failure(chunk, lambda choice: choice.get("text"))
        return super().feed(chunk)


class ChatStreamAssembler(openai.ChatStreamAssembler):
    """OpenAI chat chunks, except that LocalAI's in-band failure raises."""

    def feed(self, chunk: Any) -> ChatResponse | None:
        _raise_in_band_failure(chunk, _delta_content)
        return super().feed(chunk)
