"""Ollama's native dialect (`/api/chat`, `/api/generate`, `/api/tags|ps|show|pull`).

Pure functions, no I/O. Differences from OpenAI that matter: sampling settings live in an
`options` object (`num_predict` is max tokens, `num_ctx` the context), tool-call arguments
are JSON objects, streams are NDJSON ending in a line with `done: true` and nanosecond stats.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from homefire.errors import (
    InvalidParameterError,
    NotSupportedError,
    ProtocolError,
    StreamInterruptedError,
)
from homefire.options import GenerationOptions
from homefire.progress import Progress
from homefire.protocols.errors import error_from_event
from homefire.protocols.openai import _AssistantText, parse_tool_calls
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    MessageRole,
    ModelInfo,
    Timings,
    ToolCall,
    Usage,
)

KeepAlive = str | int | float

# homefire's option names as keys of Ollama's `options` object.
_OPTION_NAMES = {
    "temperature": "temperature",
    "max_tokens": "num_predict",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repeat_penalty": "repeat_penalty",
    "seed": "seed",
}


# What Ollama reads inside `options` (its api.Options and api.Runner); an `extra` key of one of
# these names goes there, as do llama.cpp's spellings of two of them (what `homefire serve`
# passes along from a llama.cpp-style request).
_WIRE_OPTIONS = frozenset(
    {
        "num_keep", "seed", "num_predict", "top_k", "top_p", "min_p", "typical_p",
        "repeat_last_n", "temperature", "repeat_penalty", "presence_penalty",
        "frequency_penalty", "stop", "num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap",
        "num_thread",
    }
)  # fmt: skip
_LLAMACPP_SPELLINGS = {"n_keep": "num_keep", "n_predict": "num_predict"}
# The top-level fields of `/api/chat` and `/api/generate` an `extra` key may set.
_TOP_LEVEL = frozenset(
    {
        "format", "keep_alive", "think", "tools", "truncate", "shift", "logprobs",
        "top_logprobs", "suffix", "system", "template", "context", "raw", "images",
    }
)  # fmt: skip


def _place_extra(extra: Mapping[str, Any], body: dict[str, Any], options: dict[str, Any]) -> None:
    """Put each `extra` field where Ollama reads it. Ollama ignores any other field without a
    word, so one it has no place for is refused before anything is sent."""
    for key, value in extra.items():
        if key == "options":
            if not isinstance(value, Mapping):
                raise InvalidParameterError(
                    "extra", "'options' must be a mapping of Ollama options"
                )
            options.update(value)
        elif key in _WIRE_OPTIONS or key in _LLAMACPP_SPELLINGS:
            options[_LLAMACPP_SPELLINGS.get(key, key)] = value
        elif key in _TOP_LEVEL:
            body[key] = value
        else:
            known = sorted(_WIRE_OPTIONS | _TOP_LEVEL | {"options"})
            close = difflib.get_close_matches(str(key), known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise NotSupportedError(
                f"Ollama has no request field or option {key!r}{hint}; it would ignore it "
                "without a word, so nothing was sent"
            )


def message_to_wire(message: ChatMessage) -> dict[str, Any]:
    """One message as Ollama expects it: tool arguments as objects, tool results by name."""
    out: dict[str, Any] = {"role": message.role.value, "content": message.content or ""}
    if message.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    if message.role is MessageRole.TOOL and message.name is not None:
        out["tool_name"] = message.name
    return out


def _request(
    options: GenerationOptions,
    *,
    model: str,
    stream: bool,
    runtime: Mapping[str, Any] | None,
    keep_alive: KeepAlive | None,
    think: bool | str | None,
) -> dict[str, Any]:
    """The fields `/api/chat` and `/api/generate` share; `extra` may carry its own `options`."""
    wire_options: dict[str, Any] = dict(runtime or {})
    for name, wire in _OPTION_NAMES.items():
        value = getattr(options, name)
        if value is not None:
            wire_options[wire] = value
    if options.stop:
        wire_options["stop"] = list(options.stop)
    body: dict[str, Any] = {"model": model, "stream": stream}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    if think is not None:
        body["think"] = think
    if options.json_schema is not None:
        body["format"] = dict(options.json_schema)
    _place_extra(options.extra, body, wire_options)
    if wire_options:
        body["options"] = wire_options
    return body


def build_chat_body(
    messages: Sequence[ChatMessage],
    options: GenerationOptions,
    *,
    model: str,
    stream: bool = False,
    runtime: Mapping[str, Any] | None = None,
    keep_alive: KeepAlive | None = None,
    think: bool | str | None = None,
) -> dict[str, Any]:
    """`/api/chat` body; `runtime` holds provider-level options (num_ctx, num_gpu, num_thread)."""
    body = _request(
        options, model=model, stream=stream, runtime=runtime, keep_alive=keep_alive, think=think
    )
    body["messages"] = [message_to_wire(m) for m in messages]
    if options.tools:
        body["tools"] = list(options.tools)
    return body


def build_generate_body(
    prompt: str,
    options: GenerationOptions,
    *,
    model: str,
    stream: bool = False,
    raw: bool = False,
    runtime: Mapping[str, Any] | None = None,
    keep_alive: KeepAlive | None = None,
    think: bool | str | None = None,
) -> dict[str, Any]:
    """`/api/generate` body; `raw=True` sends the prompt without the model's template."""
    body = _request(
        options, model=model, stream=stream, runtime=runtime, keep_alive=keep_alive, think=think
    )
    body["prompt"] = prompt
    if raw:
        body["raw"] = True
    return body


def build_load_body(
    model: str, *, keep_alive: KeepAlive | None, num_ctx: int | None
) -> dict[str, Any]:
    """Load a model without generating: `/api/generate` with no prompt."""
    body: dict[str, Any] = {"model": model, "stream": False}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    if num_ctx is not None:
        body["options"] = {"num_ctx": num_ctx}
    return body


def build_unload_body(model: str) -> dict[str, Any]:
    return {"model": model, "stream": False, "keep_alive": 0}


def build_pull_body(model: str, *, insecure: bool = False) -> dict[str, Any]:
    return {"model": model, "insecure": insecure, "stream": True}


# --- parsing ------------------------------------------------------------------------------


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ms(nanoseconds: Any) -> float | None:
    count = _count(nanoseconds)
    return count / 1e6 if count is not None else None


def parse_timings(body: Mapping[str, Any]) -> Timings | None:
    """The final line's stats; durations arrive in nanoseconds and leave in milliseconds."""
    if not any(key in body for key in ("eval_count", "prompt_eval_count", "total_duration")):
        return None
    generated = _count(body.get("eval_count"))
    generation_ms = _ms(body.get("eval_duration"))
    speed = generated / generation_ms * 1000 if generated and generation_ms else None
    return Timings(
        prompt_tokens=_count(body.get("prompt_eval_count")),
        generated_tokens=generated,
        prompt_ms=_ms(body.get("prompt_eval_duration")),
        generation_ms=generation_ms,
        tokens_per_second=speed,
        load_ms=_ms(body.get("load_duration")),
    )


def parse_usage(body: Mapping[str, Any]) -> Usage | None:
    if "eval_count" not in body and "prompt_eval_count" not in body:
        return None
    return Usage(
        prompt_tokens=_count(body.get("prompt_eval_count")) or 0,
        completion_tokens=_count(body.get("eval_count")) or 0,
    )


def _object(line: Any, *, in_stream: bool = False) -> Mapping[str, Any]:
    if not isinstance(line, Mapping):
        raise ProtocolError(f"expected a JSON object from Ollama, got {type(line).__name__}")
    if "error" in line:
        raise error_from_event(line, in_stream=in_stream)
    return line


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_chat(body: Any) -> ChatResponse:
    """A non-streamed `/api/chat` answer."""
    line = _object(body)
    message = line.get("message")
    if not isinstance(message, Mapping):
        raise ProtocolError("Ollama's chat answer has no message")
    return ChatResponse(
        message=ChatMessage(
            MessageRole.ASSISTANT,
            _text(message.get("content")),
            tool_calls=parse_tool_calls(message.get("tool_calls")),
            reasoning=message.get("thinking") or None,
        ),
        usage=parse_usage(line),
        timings=parse_timings(line),
        finish_reason=_finish(line),
        raw=line,
    )


def parse_generate(body: Any) -> CompletionResponse:
    """A non-streamed `/api/generate` answer."""
    line = _object(body)
    return CompletionResponse(
        text=_text(line.get("response")),
        usage=parse_usage(line),
        timings=parse_timings(line),
        finish_reason=_finish(line),
        raw=line,
    )


def _finish(line: Mapping[str, Any]) -> str | None:
    if not line.get("done"):
        return None
    reason = line.get("done_reason")
    return reason if isinstance(reason, str) else "stop"


class _Stream:
    """What every NDJSON stream tracks: the final `done` line and its stats."""

    def __init__(self) -> None:
        self.final: Mapping[str, Any] | None = None

    def observe(self, line: Any) -> Mapping[str, Any]:
        parsed = _object(line, in_stream=True)
        if parsed.get("done"):
            self.final = parsed
        return parsed

    def check_finished(self, text: str) -> Mapping[str, Any]:
        if self.final is None:
            raise StreamInterruptedError(
                "Ollama's stream ended without its final `done` line "
                f"(got {len(text)} characters); the answer is incomplete, retry the request",
                partial_text=text,
            )
        return self.final


class ChatStreamAssembler(_AssistantText):
    """Feed `/api/chat` NDJSON lines; get a ChatResponse per new piece, then `finish()`."""

    def __init__(self) -> None:
        super().__init__()
        self._stream = _Stream()
        self._calls: list[ToolCall] = []

    def feed(self, line: Any) -> ChatResponse | None:
        parsed = self._stream.observe(line)
        message = parsed.get("message")
        if not isinstance(message, Mapping):
            return None
        piece = _text(message.get("content"))
        thought = _text(message.get("thinking"))
        self._calls.extend(parse_tool_calls(message.get("tool_calls"), start=len(self._calls)))
        if not self._add(piece, thought):
            return None
        return ChatResponse(
            message=self._message([]), delta=piece, reasoning_delta=thought or None, raw=parsed
        )

    def finish(self) -> ChatResponse:
        final = self._stream.check_finished(self._content)
        return ChatResponse(
            message=self._message(list(self._calls)),
            delta="",
            usage=parse_usage(final),
            timings=parse_timings(final),
            finish_reason=_finish(final),
            raw=final,
        )


class GenerateStreamAssembler:
    """Feed `/api/generate` NDJSON lines; get a CompletionResponse per piece, then `finish()`."""

    def __init__(self) -> None:
        self._stream = _Stream()
        self._text = ""

    def feed(self, line: Any) -> CompletionResponse | None:
        parsed = self._stream.observe(line)
        piece = _text(parsed.get("response"))
        if not piece:
            return None
        self._text += piece
        return CompletionResponse(text=self._text, delta=piece, raw=parsed)

    def finish(self) -> CompletionResponse:
        final = self._stream.check_finished(self._text)
        return CompletionResponse(
            text=self._text,
            delta="",
            usage=parse_usage(final),
            timings=parse_timings(final),
            finish_reason=_finish(final),
            raw=final,
        )


def prompt_words(messages: Sequence[ChatMessage]) -> int:
    """A lower bound on a prompt's tokens: tokenizers never merge across whitespace."""
    return sum(len((m.content or "").split()) for m in messages)


def truncated(final: Mapping[str, Any], num_ctx: int | None, words: int) -> bool:
    """Whether Ollama (which never says so) dropped part of the prompt to fit `num_ctx`.

    Two signs, from the final line's counts: the prompt has more words (so more tokens)
    than both `num_ctx` and the tokens Ollama evaluated; or prompt plus answer filled the
    whole window. `words` is `prompt_words(...)` of what was sent.
    """
    if not num_ctx:
        return False
    prompt = _count(final.get("prompt_eval_count")) or 0
    generated = _count(final.get("eval_count")) or 0
    if words > num_ctx and words > prompt:
        return True
    return prompt > 0 and prompt + generated >= num_ctx


def parse_done_reason(body: Any) -> str | None:
    """`load` / `unload` answers of the lifecycle calls."""
    reason = _object(body).get("done_reason")
    return reason if isinstance(reason, str) else None


def _details(item: Mapping[str, Any]) -> Mapping[str, Any]:
    details = item.get("details")
    return details if isinstance(details, Mapping) else {}


def _model_info(item: Any, *, loaded: bool) -> ModelInfo:
    if not isinstance(item, Mapping):
        raise ProtocolError(f"malformed model entry from Ollama: {item!r}")
    name = item.get("name") or item.get("model")
    if not isinstance(name, str):
        raise ProtocolError(f"model entry without a name from Ollama: {item!r}")
    details = _details(item)
    quant = details.get("quantization_level")
    return ModelInfo(
        id=name,
        loaded=loaded,
        context_length=_count(item.get("context_length")) if loaded else None,
        quantization=quant if isinstance(quant, str) and quant else None,
        size_bytes=_count(item.get("size")),
        raw=item,
    )


def _models(body: Any, what: str) -> list[Any]:
    if not isinstance(body, Mapping) or not isinstance(body.get("models"), list):
        raise ProtocolError(f"Ollama's {what} answer has no `models` list")
    return list(body["models"])


def parse_tags(body: Any) -> list[ModelInfo]:
    """`/api/tags`: the downloaded models."""
    return [_model_info(item, loaded=False) for item in _models(body, "/api/tags")]


def parse_ps(body: Any) -> list[ModelInfo]:
    """`/api/ps`: the loaded models, with the context each was allocated."""
    return [_model_info(item, loaded=True) for item in _models(body, "/api/ps")]


def merge_models(tags: list[ModelInfo], ps: list[ModelInfo]) -> list[ModelInfo]:
    """Downloaded models marked loaded (with their runtime context) where `/api/ps` has them."""
    loaded = {info.id: info for info in ps}
    merged = []
    for info in tags:
        running = loaded.pop(info.id, None)
        if running is not None:
            info.loaded = True
            info.context_length = running.context_length
        merged.append(info)
    merged.extend(loaded.values())
    return merged


def parse_show(body: Any, model: str) -> ModelInfo:
    """`/api/show`: training context from `model_info`, capabilities, quantization."""
    show = _object(body)
    info = show.get("model_info")
    info = info if isinstance(info, Mapping) else {}
    arch = info.get("general.architecture")
    max_ctx = _count(info.get(f"{arch}.context_length")) if isinstance(arch, str) else None
    capabilities = show.get("capabilities")
    quant = _details(show).get("quantization_level")
    return ModelInfo(
        id=model,
        max_context_length=max_ctx,
        context_length=max_ctx,
        quantization=quant if isinstance(quant, str) and quant else None,
        capabilities=[c for c in capabilities if isinstance(c, str)]
        if isinstance(capabilities, list)
        else [],
        raw=show,
    )


def parse_pull_event(line: Any) -> Progress:
    """One `/api/pull` NDJSON line; an `{"error": ...}` line raises."""
    parsed = _object(line, in_stream=True)
    status = parsed.get("status")
    if not isinstance(status, str):
        raise ProtocolError(f"pull progress line without a status: {parsed!r}")
    return Progress(
        status=status,
        completed=_count(parsed.get("completed")),
        total=_count(parsed.get("total")),
        done=status == "success",
    )


# --- embeddings ---------------------------------------------------------------------------


def build_embed_body(
    texts: Sequence[str], model: str, *, dimensions: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": list(texts)}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def parse_embed(body: Any) -> list[list[float]]:
    """Ollama's `{"embeddings": [[...], ...]}`, in input order."""
    if not isinstance(body, Mapping):
        raise ProtocolError(f"expected an embed object, got {type(body).__name__}")
    vectors = body.get("embeddings")
    if not isinstance(vectors, list) or not all(_is_vector(v) for v in vectors):
        raise ProtocolError("the embed answer has no `embeddings` list of number lists")
    return [[float(x) for x in vector] for vector in vectors]


def _is_vector(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    )
