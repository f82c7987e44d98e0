"""The small interface both in-process llama.cpp engines implement.

An engine takes an OpenAI-style completion body (built by `homefire.protocols.openai`) and
answers with OpenAI-style dicts, so parsing, chat templates and validation live once, in
`LlamaCPP`, and the engines only translate to their library's calls.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from homefire.errors import InvalidParameterError, StreamInterruptedError

# KV cache element types llama.cpp accepts, by the name users write (as in `--cache-type-k`).
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


def kv_cache_type_param(name: str, value: Any) -> str | None:
    """A KV cache type given as argument `name` (any case), lowercased; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in KV_CACHE_TYPES:
        raise InvalidParameterError(
            name, f"unknown KV cache type {value!r} (use one of {', '.join(KV_CACHE_TYPES)})"
        )
    return value.lower()


MODEL_CLOSED = (
    "the model was closed or replaced (load_model) before this request ran; start it again"
)
MODEL_CLOSED_MIDWAY = (
    "the model was closed or replaced (load_model) while this answer was generated; "
    "start the request again"
)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Validated load settings; `None` leaves the choice to llama.cpp."""

    model_path: Path
    context_window: int
    n_threads: int
    n_gpu_layers: int = 0
    n_batch: int | None = None
    n_ubatch: int | None = None
    flash_attn: bool | None = None
    cache_type_k: str | None = None
    cache_type_v: str | None = None
    use_mmap: bool = True
    use_mlock: bool = False
    verbose: bool = False
    n_parallel: int = 1
    swa_full: bool | None = None
    engine_kwargs: Mapping[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    """One loaded model. Every method may be called from many threads at once."""

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """A non-streaming completion: the OpenAI `text_completion` dict, or an error dict.
        The body's `prompt` is a text, or the token ids to read as they are."""
        ...

    def stream(self, body: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        """Completion chunks; closing the iterator early stops the generation in the engine."""
        ...

    def tokenize(self, text: str, *, special: bool = True, add_special: bool = False) -> list[int]:
        """Token ids of `text`: with `special`, control tokens spelled in it are read as those
        tokens (as in template markup), else as plain text; `add_special` adds what the model
        puts around a whole prompt (BOS)."""
        ...

    def close(self) -> None:
        """Free the model; never raises. Requests still running are cancelled (their
        consumers get GenerationError) and the engine waits, bounded, until they stop."""
        ...


POLL_SECONDS = 0.1
"""How long a thread waiting for an engine's next chunk sleeps at a time: waking up now and then
lets a Ctrl-C reach it.

The waiting loops avoid `continue`: CPython 3.11 skips the enclosing `finally` (which stops the
generation) when an interrupt lands on a `continue`.
"""


def wait_for_done(chunks: queue.SimpleQueue[Any], done: object, seconds: float) -> None:
    """Wait, bounded, until a stopped generation's worker has let go of the engine."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            if chunks.get(timeout=min(left, POLL_SECONDS)) is done:
                return
        except queue.Empty:
            pass


def assemble(chunks: Generator[dict[str, Any], None, None]) -> dict[str, Any]:
    """The `text_completion` dict of a whole streamed answer (or the error chunk that ended it).

    Both engines answer a plain call by streaming underneath: an interrupt (Ctrl-C) then
    reaches the thread that waits for the next chunk and cancels the generation, where a
    call into the engine would block, uninterruptible, until the answer is complete.
    """
    pieces: list[str] = []
    finish: str | None = None
    result: dict[str, Any] = {"object": "text_completion"}
    with contextlib.closing(chunks):  # an interrupt between two chunks must stop the stream too
        for chunk in chunks:
            if "error" in chunk:
                return chunk
            for choice in chunk.get("choices") or ():
                pieces.append(choice.get("text") or "")
                finish = choice.get("finish_reason") or finish
            result.update((k, chunk[k]) for k in ("id", "model", "usage", "timings") if k in chunk)
    if finish is None:
        raise StreamInterruptedError(
            "the engine stopped before finishing the answer", partial_text="".join(pieces)
        )
    result["choices"] = [{"index": 0, "text": "".join(pieces), "finish_reason": finish}]
    return result


_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


def check_json_schema(schema: Any) -> None:
    """Refuse a schema the engine would silently ignore: unknown types, `$ref`s that point
    nowhere inside it (llguidance drops the constraint instead of failing)."""
    if not isinstance(schema, Mapping | bool):
        raise InvalidParameterError(
            "json_schema", f"must be a JSON schema object, got {type(schema).__name__}"
        )
    _check_node(schema, schema, "#")


def _check_node(node: Any, root: Any, where: str) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _check_node(item, root, f"{where}/{index}")
        return
    if not isinstance(node, Mapping):
        return
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    for name in kinds:  # a property called "type" holds a schema, not a type name
        if isinstance(name, str) and name not in _JSON_TYPES:
            raise InvalidParameterError(
                "json_schema",
                f"unknown type {name!r} at {where} (use one of {', '.join(sorted(_JSON_TYPES))})",
            )
    ref = node.get("$ref")
    if isinstance(ref, str) and not _resolves(root, ref):
        raise InvalidParameterError(
            "json_schema", f"$ref {ref!r} at {where} does not point into the schema itself"
        )
    for key, value in node.items():
        if key not in ("enum", "const", "default", "examples"):
            _check_node(value, root, f"{where}/{key}")


def _resolves(root: Any, ref: str) -> bool:
    """Whether a local JSON pointer (`#/$defs/x`) names a part of `root`."""
    if not ref.startswith("#"):
        return False
    node = root
    for part in ref[1:].split("/")[1:] if ref != "#" else ():
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True
