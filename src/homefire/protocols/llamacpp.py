"""llama.cpp's native server dialect (also llamafile's): `/completion` and the utility routes.

Pure functions, no I/O. `/completion` takes the full sampler set: homefire's options map to
their native names here and every other native field (`mirostat`, `dry_*`, `xtc_*`,
`grammar`, `logit_bias`, `n_probs`, `id_slot`, `samplers`, `lora`, ...) goes through
`extra` untouched. Its stream has no `[DONE]`: the event with `stop: true` ends it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from homefire.errors import ProtocolError, StreamInterruptedError
from homefire.options import GenerationOptions
from homefire.protocols import openai
from homefire.protocols.errors import error_from_event
from homefire.protocols.openai import message_to_wire, parse_timings
from homefire.types import ChatMessage, CompletionResponse, Timings, Usage

# homefire's option names as `/completion` spells them.
_NATIVE_NAMES = {
    "temperature": "temperature",
    "max_tokens": "n_predict",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repeat_penalty": "repeat_penalty",
    "seed": "seed",
}

# `stop_type` to the OpenAI-style finish reason the rest of homefire uses.
_FINISH = {"eos": "stop", "word": "stop", "limit": "length"}


def build_completion_body(
    prompt: str | Sequence[int],
    options: GenerationOptions,
    *,
    stream: bool = False,
    model: str | None = None,
) -> dict[str, Any]:
    """A `/completion` body; `prompt` is text or token ids; `model` routes it in router mode."""
    body: dict[str, Any] = _routed(
        {"prompt": prompt if isinstance(prompt, str) else list(prompt)}, model
    )
    for name, wire in _NATIVE_NAMES.items():
        value = getattr(options, name)
        if value is not None:
            body[wire] = value
    if options.stop:
        body["stop"] = list(options.stop)
    if options.json_schema is not None:
        body["json_schema"] = dict(options.json_schema)
    if stream:
        body["stream"] = True
    body.update(options.extra)
    return body


def build_engine_body(prompt: str, options: GenerationOptions, *, stream: bool) -> dict[str, Any]:
    """A completion body for llama.cpp's server core run in process: the OpenAI completion
    shape, with a JSON schema in llama.cpp's own `json_schema` field."""
    plain = replace(options, json_schema=None, extra={})
    body = openai.build_completion_body(prompt, plain, stream=stream)
    if options.json_schema is not None:
        body["json_schema"] = dict(options.json_schema)
    body.update(options.extra)
    return body


def _routed(body: dict[str, Any], model: str | None) -> dict[str, Any]:
    """A router-mode server (several models) sends a POST to the model named in its body."""
    if model is not None:
        body["model"] = model
    return body


def _object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ProtocolError(f"expected a JSON object for {what}, got {type(body).__name__}")
    if body.get("error"):
        raise error_from_event(body)
    return body


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage(body: Mapping[str, Any]) -> Usage | None:
    evaluated = _int(body.get("tokens_evaluated"))
    predicted = _int(body.get("tokens_predicted"))
    if evaluated is None and predicted is None:
        return None
    timings = body.get("timings")
    cached = _int(timings.get("cache_n")) if isinstance(timings, Mapping) else None
    return Usage(
        prompt_tokens=evaluated or 0, completion_tokens=predicted or 0, cached_tokens=cached
    )


def finish_reason(body: Mapping[str, Any]) -> str | None:
    """The finish reason of a finished `/completion` answer, None while it runs."""
    if body.get("stop") is not True:
        return None
    stop_type = body.get("stop_type")
    if isinstance(stop_type, str):
        return _FINISH.get(stop_type, stop_type)
    return "stop"


def parse_completion(body: Any) -> CompletionResponse:
    answer = _object(body, "a completion")
    content = answer.get("content")
    if not isinstance(content, str):
        raise ProtocolError("the completion has no `content` text")
    return CompletionResponse(
        text=content,
        usage=_usage(answer),
        timings=parse_timings(answer),
        finish_reason=finish_reason(answer) or "stop",
        raw=body,
    )


class CompletionStreamAssembler:
    """Feed `/completion` stream events; a response per piece, then a final one with stats."""

    def __init__(self) -> None:
        self._text = ""
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._timings: Timings | None = None
        self._last: Any = None

    def feed(self, event: Any) -> CompletionResponse | None:
        answer = _object(event, "a stream event")
        self._last = event
        if (reason := finish_reason(answer)) is not None:
            self._finish = reason
            self._usage = _usage(answer)
            self._timings = parse_timings(answer)
        piece = answer.get("content")
        if not isinstance(piece, str) or not piece:
            return None
        self._text += piece
        return CompletionResponse(text=self._text, delta=piece, raw=event)

    def finish(self) -> CompletionResponse:
        """The closing response; StreamInterruptedError if no event said `stop: true`."""
        if self._finish is None:
            raise StreamInterruptedError(
                "the llama.cpp stream ended before the server said it was complete "
                f"(got {len(self._text)} characters); the answer is incomplete, retry",
                partial_text=self._text,
            )
        return CompletionResponse(
            text=self._text,
            delta="",
            usage=self._usage,
            timings=self._timings,
            finish_reason=self._finish,
            raw=self._last,
        )


# --- tokens and templates ---------------------------------------------------------------------


def build_tokenize_body(
    text: str, *, add_special: bool = False, parse_special: bool = True, model: str | None = None
) -> dict[str, Any]:
    body = {"content": text, "add_special": add_special, "parse_special": parse_special}
    return _routed(body, model)


def parse_tokenize(body: Any) -> list[int]:
    """Token ids from `/tokenize`, with or without `with_pieces`."""
    tokens = _object(body, "/tokenize").get("tokens")
    if not isinstance(tokens, list):
        raise ProtocolError("the /tokenize answer has no `tokens` list")
    ids = []
    for token in tokens:
        value = _int(token.get("id") if isinstance(token, Mapping) else token)
        if value is None:
            raise ProtocolError(f"the /tokenize answer holds a bad token: {token!r:.100}")
        ids.append(value)
    return ids


def build_detokenize_body(tokens: Sequence[int], *, model: str | None = None) -> dict[str, Any]:
    return _routed({"tokens": list(tokens)}, model)


def parse_detokenize(body: Any) -> str:
    content = _object(body, "/detokenize").get("content")
    if not isinstance(content, str):
        raise ProtocolError("the /detokenize answer has no `content` text")
    return content


def build_apply_template_body(
    messages: Sequence[ChatMessage], *, model: str | None = None
) -> dict[str, Any]:
    return _routed({"messages": [message_to_wire(m) for m in messages]}, model)


def parse_apply_template(body: Any) -> str:
    prompt = _object(body, "/apply-template").get("prompt")
    if not isinstance(prompt, str):
        raise ProtocolError("the /apply-template answer has no `prompt` text")
    return prompt


# --- server state -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerProps:
    """What `/props` says: the context in effect per slot, slots, model, template, build.

    `classic_llamafile` marks llamafile's pre-0.10 server (it sends `user_name`), which has
    no `/v1/completions`, no tool calling and no `[DONE]` at the end of its streams.
    """

    n_ctx: int | None
    total_slots: int | None
    model_path: str | None
    model_alias: str | None
    chat_template: str | None
    build_info: str | None
    classic_llamafile: bool
    raw: Mapping[str, Any] = field(repr=False)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_props(body: Any) -> ServerProps:
    props = _object(body, "/props")
    settings = props.get("default_generation_settings")
    settings = settings if isinstance(settings, Mapping) else {}
    n_ctx = _int(settings.get("n_ctx"))
    if n_ctx is None:
        n_ctx = _int(props.get("n_ctx"))
    return ServerProps(
        n_ctx=n_ctx,
        total_slots=_int(props.get("total_slots")),
        model_path=_str(props.get("model_path")),
        model_alias=_str(props.get("model_alias")),
        chat_template=_str(props.get("chat_template")),
        build_info=_str(props.get("build_info")),
        classic_llamafile="user_name" in props,
        raw=dict(props),
    )


@dataclass(frozen=True, slots=True)
class Health:
    """`/health`: ready or not, the server's word for it, and old builds' slot counts."""

    ready: bool
    status: str
    slots_idle: int | None = None
    slots_processing: int | None = None


def parse_health(status: int, body: Any) -> Health:
    """Health from the status and body; both the current and the 2024/llamafile shapes.

    2xx means ready (the model is loaded, even when every slot is busy); 503 means loading
    (or, with `?fail_on_no_slot`, no free slot); `status` is the server's own word.
    """
    if isinstance(body, Mapping):
        error = body.get("error")
        word = body.get("status")
        if isinstance(error, Mapping):
            word = error.get("message")
        elif isinstance(error, str) and not isinstance(word, str):
            word = error
        text = str(word) if word is not None else ("ok" if status < 400 else f"HTTP {status}")
        return Health(
            ready=200 <= status < 300,
            status=text,
            slots_idle=_int(body.get("slots_idle")),
            slots_processing=_int(body.get("slots_processing")),
        )
    text = body.strip() if isinstance(body, str) and body.strip() else f"HTTP {status}"
    return Health(ready=200 <= status < 300, status=text[:200])


@dataclass(frozen=True, slots=True)
class Slot:
    id: int
    n_ctx: int | None
    is_processing: bool


def parse_slots(body: Any) -> list[Slot]:
    if not isinstance(body, list):
        if isinstance(body, Mapping):
            _object(body, "/slots")
        raise ProtocolError("the /slots answer is not a list")
    slots = []
    for entry in body:
        if not isinstance(entry, Mapping) or _int(entry.get("id")) is None:
            raise ProtocolError(f"malformed slot in /slots: {entry!r:.100}")
        slots.append(
            Slot(entry["id"], _int(entry.get("n_ctx")), entry.get("is_processing") is True)
        )
    return slots


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text (`/metrics`) as {name: value}; labels stay part of the name."""
    metrics: dict[str, float] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if "}" in line:
            name, _, rest = line.partition("}")
            name += "}"
        else:
            name, _, rest = line.partition(" ")
        try:
            metrics[name] = float(rest.split()[0])
        except (ValueError, IndexError):
            raise ProtocolError(f"bad line in the metrics: {line[:100]!r}") from None
    return metrics
