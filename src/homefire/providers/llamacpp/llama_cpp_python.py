"""The `llama-cpp-python` engine: `llama_cpp.Llama`, what LlamaIndex users already have.

A `Llama` object runs one sequence at a time and is not safe for concurrent calls, so every
generation holds a lock (a stream holds it until it ends or is closed). Its completion output
is already OpenAI-shaped; this module adds the usage and llama.cpp-style timings that its
streams lack, so both engines report the same things.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import json
import queue
import random
import threading
import time
from collections.abc import Generator, Mapping
from typing import Any

from homefire.errors import (
    EngineLoadError,
    GenerationError,
    HomefireTimeoutError,
    InvalidParameterError,
    MissingDependencyError,
)
from homefire.providers.llamacpp.engine import (
    MODEL_CLOSED,
    MODEL_CLOSED_MIDWAY,
    POLL_SECONDS,
    EngineSettings,
    assemble,
    check_json_schema,
    wait_for_done,
)

# Llama() arguments homefire sets from LlamaCPP's own keyword arguments.
_OWNED = {
    "model_path": "model_path",
    "n_ctx": "context_window",
    "n_gpu_layers": "n_gpu_layers",
    "n_threads": "n_threads",
    "n_threads_batch": "n_threads",
    "n_batch": "n_batch",
    "flash_attn": "flash_attn",
    "type_k": "cache_type_k",
    "type_v": "cache_type_v",
    "use_mmap": "use_mmap",
    "use_mlock": "use_mlock",
    "verbose": "verbose",
}
# Request fields with no create_completion() parameter: handled here, never passed on.
_DROPPED = frozenset({"stream_options", "response_format", "json_schema", "model"})
# How long close() waits for a running generation to reach its next token and stop.
_CLOSE_WAIT_SECONDS = 30.0
# How long a request waits for the one before it (this engine runs one at a time). Long
# answers take minutes on a CPU; a stream that another thread stopped reading without closing
# it holds the model for ever, and this bound turns that into an error instead of a hang.
_QUEUE_WAIT_SECONDS = 600.0


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise MissingDependencyError(
            "llama-cpp-python", "LlamaCPP(engine='llama-cpp-python')", extra="llama-cpp-python"
        ) from None
    return llama_cpp


GPU_BUILD = (
    'CMAKE_ARGS="-DGGML_CUDA=on" pip install llama-cpp-python --force-reinstall --no-cache-dir '
    "(-DGGML_METAL=on on a Mac, -DGGML_HIP=on for AMD, -DGGML_VULKAN=on for others)"
)
"""How to install a llama-cpp-python build that offloads to a GPU (it compiles on install)."""


def gpu_offload() -> bool:
    """Whether this llama-cpp-python build was compiled with a GPU backend."""
    return bool(_llama_cpp().llama_supports_gpu_offload())


def _parameters(function: Any) -> list[str]:
    return [
        name
        for name, p in inspect.signature(function).parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def _unknown(key: str, known: list[str], where: str) -> str:
    close = difflib.get_close_matches(key, known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"{key!r} is not a parameter of {where}{hint}"


def check_engine_kwargs(engine_kwargs: Mapping[str, Any]) -> None:
    """Fail on unknown keys and on keys homefire sets itself, before any load."""
    known = _parameters(_llama_cpp().Llama.__init__)
    for key in engine_kwargs:
        if key in _OWNED:
            raise InvalidParameterError(
                "engine_kwargs",
                f"{key!r} is set with LlamaCPP({_OWNED[key]}=...), not engine_kwargs",
            )
        if key not in known:
            raise InvalidParameterError("engine_kwargs", _unknown(key, known, "llama_cpp.Llama"))


def _out_of_memory(exc: Exception, settings: EngineSettings) -> bool:
    """Whether a failed allocation may explain a load failure. The context (KV cache and
    compute buffers) is allocated after the weights, so failing to create it is memory;
    failing to load the weights is, only when some of them go to a GPU's own memory."""
    if isinstance(exc, MemoryError) or "llama_context" in str(exc):
        return True
    return settings.n_gpu_layers != 0


def _ggml_type(llama_cpp: Any, name: str | None) -> int | None:
    return None if name is None else int(getattr(llama_cpp, f"GGML_TYPE_{name.upper()}"))


class LlamaCppPythonEngine:
    """A loaded `llama_cpp.Llama`, serialized behind a lock."""

    def __init__(self, settings: EngineSettings) -> None:
        llama_cpp = _llama_cpp()
        kwargs: dict[str, Any] = {
            "model_path": str(settings.model_path),
            "n_ctx": settings.context_window,
            "n_gpu_layers": settings.n_gpu_layers,
            "n_threads": settings.n_threads,
            "n_threads_batch": settings.n_threads,
            "use_mmap": settings.use_mmap,
            "use_mlock": settings.use_mlock,
            "verbose": settings.verbose,
        }
        if settings.n_batch is not None:
            kwargs["n_batch"] = settings.n_batch
        if settings.n_ubatch is not None:
            kwargs["n_ubatch"] = settings.n_ubatch
        if settings.swa_full is not None:
            kwargs["swa_full"] = settings.swa_full
        if settings.flash_attn is not None:
            kwargs["flash_attn"] = settings.flash_attn
        if settings.cache_type_k is not None:
            kwargs["type_k"] = _ggml_type(llama_cpp, settings.cache_type_k)
        if settings.cache_type_v is not None:
            kwargs["type_v"] = _ggml_type(llama_cpp, settings.cache_type_v)
        kwargs.update(settings.engine_kwargs)
        try:
            self._llm: Any = llama_cpp.Llama(**kwargs)
        except Exception as exc:
            hint = "" if settings.verbose else "; pass verbose=True to see llama.cpp's log"
            raise EngineLoadError(
                str(settings.model_path),
                f"llama-cpp-python could not load it with these settings ({exc})",
                f"Check the file and the settings{hint}",
                out_of_memory=_out_of_memory(exc, settings),
            ) from None
        self._accepted = frozenset(_parameters(self._llm.create_completion))
        self._lock = threading.Lock()
        self._owner: int | None = None
        # Set by close(): running streams stop at their next token, and whoever holds the
        # lock last frees the model.
        self._closing = threading.Event()

    # --- requests -----------------------------------------------------------------------

    def _call_kwargs(self, body: dict[str, Any], stream: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_tokens": -1}  # like llama.cpp: until EOS or a full context
        for key, value in body.items():
            if key in _DROPPED or key == "stream":
                continue
            if key not in self._accepted:
                raise InvalidParameterError(
                    "extra",
                    _unknown(key, sorted(self._accepted), "llama-cpp-python's create_completion"),
                )
            kwargs[key] = value
        schema = _schema(body)
        if schema is not None:
            kwargs["grammar"] = _grammar(schema)
        if kwargs.get("seed") in (None, -1):
            # llama-cpp-python would reuse one fixed seed; llama.cpp's server draws a new one.
            kwargs["seed"] = random.randrange(2**31)
        kwargs["stream"] = stream
        return kwargs

    def _acquire(self) -> Any:
        """Take the model for one request; the `Llama` to use."""
        if self._owner == threading.get_ident():
            raise GenerationError(
                "this thread still has an open stream on this model; finish or close it "
                "before starting another request (llama-cpp-python runs one at a time)"
            )
        if not self._lock.acquire(timeout=_QUEUE_WAIT_SECONDS):
            raise HomefireTimeoutError(
                "queue",
                _QUEUE_WAIT_SECONDS,
                "waiting for another request on this model to finish (llama-cpp-python runs "
                "one at a time; close streams you stop reading, or use engine='xllamacpp' "
                "for parallel slots)",
            )
        if self._llm is None or self._closing.is_set():
            self._lock.release()
            raise GenerationError(MODEL_CLOSED)
        self._owner = threading.get_ident()
        return self._llm

    def _release(self) -> None:
        self._owner = None
        if self._closing.is_set():
            self._free()
        self._lock.release()

    def _free(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        return assemble(self.stream(body))

    def stream(self, body: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        """Chunks generated in a worker thread while this one waits for them.

        Waiting here, this thread can take a Ctrl-C at any moment and stop the generation at
        its next token. Running the generation itself here could lose it: llama-cpp-python
        calls Python from C for every token (logits processors, `logit_bias`), and an
        interrupt raised inside such a callback is printed and dropped by ctypes.
        """
        kwargs = self._call_kwargs(body, stream=True)
        llm = self._acquire()
        chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        stop = threading.Event()
        done = object()
        # The model is let go by whichever of the two ends last: the consumer, normally (so
        # its thread keeps the model until it has read the answer), or the worker, when the
        # consumer gave up waiting for a generation that would not stop.
        handoff = threading.Lock()
        ended: list[str] = []

        def end(side: str) -> None:
            with handoff:
                ended.append(side)
                last = len(ended) == 2
            if last:
                self._release()

        def run() -> None:
            try:
                with contextlib.closing(self._generate(llm, kwargs)) as generated:
                    for chunk in generated:
                        if stop.is_set():
                            break
                        chunks.put(chunk)
            except BaseException as exc:  # handed to the consumer, raised there
                chunks.put(exc)
            finally:
                end("worker")
                chunks.put(done)

        threading.Thread(target=run, name="homefire-llama-cpp-python", daemon=True).start()
        finished = False
        try:
            while True:  # no `continue` here: see wait_for_done
                try:
                    item = chunks.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    pass
                else:
                    if item is done:
                        finished = True
                        return
                    if isinstance(item, BaseException):
                        finished = True  # the worker put `done` right after the error
                        raise item
                    yield item
        finally:
            stop.set()
            if not finished:
                wait_for_done(chunks, done, _CLOSE_WAIT_SECONDS)
            end("consumer")

    def _generate(self, llm: Any, kwargs: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        """The chunks of one answer and a last one with usage and timings, which
        llama-cpp-python's streams lack."""
        prompt = kwargs["prompt"]
        prompt_tokens = (
            len(prompt)
            if isinstance(prompt, list)
            else len(llm.tokenize(prompt.encode(), special=True))
        )
        context = int(llm.n_ctx())
        if prompt_tokens >= context:
            yield _overflow(prompt_tokens, context)
            return
        started = time.perf_counter()
        first: float | None = None
        generated = 0
        last: dict[str, Any] = {}
        chunks = llm.create_completion(**kwargs)
        try:
            for chunk in chunks:
                if self._closing.is_set():
                    raise GenerationError(MODEL_CLOSED_MIDWAY)
                if first is None:
                    first = time.perf_counter()
                if chunk["choices"] and chunk["choices"][0].get("text"):
                    generated += 1
                last = chunk
                yield chunk
        finally:
            chunks.close()  # stops the generation before the lock is released
        ended = time.perf_counter()
        first = first or ended
        yield {
            "id": last.get("id"),
            "object": "text_completion",
            "choices": [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": generated,
                "total_tokens": prompt_tokens + generated,
            },
            "timings": _timings(
                prompt_tokens,
                (first - started) * 1000,
                generated,
                (ended - first) * 1000,
                timed_n=generated - 1,  # the first token came with the prompt
            ),
        }

    def tokenize(self, text: str, *, special: bool = True, add_special: bool = False) -> list[int]:
        llm = self._llm
        if llm is None or self._closing.is_set():
            raise GenerationError(MODEL_CLOSED)
        return [int(t) for t in llm.tokenize(text.encode(), add_bos=add_special, special=special)]

    def close(self) -> None:
        """Never raises: a running stream stops at its next token and frees the model as it
        lets go; inside this thread's own open stream, freeing waits for that stream."""
        self._closing.set()
        if self._owner == threading.get_ident():
            return
        if self._lock.acquire(timeout=_CLOSE_WAIT_SECONDS):
            self._free()
            self._lock.release()


def _grammar(schema: Any) -> Any:
    """The grammar for a JSON schema; a schema llama-cpp-python cannot convert is the
    caller's error, not the engine's."""
    check_json_schema(schema)
    try:
        return _llama_cpp().LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception as exc:
        raise InvalidParameterError(
            "json_schema", f"cannot be turned into a grammar ({type(exc).__name__}: {exc})"
        ) from None


def _schema(body: Mapping[str, Any]) -> Any:
    if "json_schema" in body:
        return body["json_schema"]
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping) and "json_schema" in response_format:
        return response_format["json_schema"].get("schema", {})
    return None


def _overflow(prompt_tokens: int, context: int) -> dict[str, Any]:
    message = f"request ({prompt_tokens} tokens) exceeds the context size ({context} tokens)"
    return {
        "error": {
            "code": 400,
            "message": message,
            "type": "exceed_context_size_error",
            "n_prompt_tokens": prompt_tokens,
            "n_ctx": context,
        }
    }


def _timings(
    prompt_n: int | None,
    prompt_ms: float | None,
    predicted_n: int,
    predicted_ms: float,
    timed_n: int | None = None,
) -> dict[str, Any]:
    """llama.cpp's `timings` shape, measured around the engine call. The speed counts the
    `timed_n` tokens made within `predicted_ms` (default: all): in a stream, as in llama.cpp,
    the clock starts at the first token, so only the ones after it are timed."""
    timed = predicted_n if timed_n is None else timed_n
    return {
        "prompt_n": prompt_n,
        "prompt_ms": prompt_ms,
        "predicted_n": predicted_n,
        "predicted_ms": predicted_ms,
        "predicted_per_second": timed / predicted_ms * 1000
        if predicted_ms > 0 and timed > 0
        else None,
    }
