"""Embeddings from a GGUF model in-process: a second llama.cpp context in embedding mode.

A generation context does not pool token states into one vector, so the model file is
opened once more with mean pooling (what llama.cpp's server does with `--embeddings
--pooling mean`), on first use only. Vectors come back L2-normalised, as the server
returns them, so both engines and the server agree for the same model and text.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from typing import Any, Protocol

from homefire.errors import GenerationError, ModelFileError, ProtocolError
from homefire.providers.llamacpp.engine import MODEL_CLOSED, EngineSettings


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> list[list[float]]: ...

    def close(self) -> None:
        """Free the context; an embedding still running finishes first."""
        ...


def open_embedder(engine: str, settings: EngineSettings) -> Embedder:
    """An embedding context for `settings.model_path` on the named engine."""
    if engine == "llama-cpp-python":
        return _LlamaCppPythonEmbedder(settings)
    return _XLlamaCppEmbedder(settings)


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


def _load_failed(settings: EngineSettings, exc: Exception) -> ModelFileError:
    return ModelFileError(
        str(settings.model_path),
        f"llama.cpp could not open it for embeddings ({exc})",
        "Check that the model can make embeddings; pass verbose=True to see llama.cpp's log",
    )


class _XLlamaCppEmbedder:
    """xllamacpp's server core with `embedding=True`; its listener is locked like the chat one."""

    def __init__(self, settings: EngineSettings) -> None:
        from homefire.providers.llamacpp.xllamacpp import _params, _xllamacpp, open_server

        xlc = _xllamacpp()
        params, _ = _params(replace(settings, n_parallel=1))
        params.embedding = True
        params.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
        try:
            self._server: Any = open_server(params)
        except Exception as exc:
            raise _load_failed(settings, exc) from None
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> list[list[float]]:
        from homefire.protocols import openai
        from homefire.protocols.errors import error_from_event

        with self._lock:
            if self._server is None:
                raise GenerationError(MODEL_CLOSED)
            answer = self._server.handle_embeddings({"input": texts})
        if isinstance(answer, dict) and "error" in answer:
            raise error_from_event(answer)
        return [_normalised(v) for v in openai.parse_embeddings(answer)]

    def close(self) -> None:
        with self._lock:
            self._server = None


class _LlamaCppPythonEmbedder:
    """`llama_cpp.Llama(embedding=True)`, one call at a time like its generation twin."""

    def __init__(self, settings: EngineSettings) -> None:
        from homefire.providers.llamacpp.llama_cpp_python import _llama_cpp

        llama_cpp = _llama_cpp()
        try:
            self._llm: Any = llama_cpp.Llama(
                model_path=str(settings.model_path),
                n_ctx=settings.context_window,
                n_threads=settings.n_threads,
                n_threads_batch=settings.n_threads,
                n_gpu_layers=settings.n_gpu_layers,
                embedding=True,
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                verbose=settings.verbose,
            )
        except Exception as exc:
            raise _load_failed(settings, exc) from None
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            if self._llm is None:
                raise GenerationError(MODEL_CLOSED)
            vectors = self._llm.embed(texts)
        if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
            raise ProtocolError("llama-cpp-python returned embeddings in an unexpected shape")
        return [_normalised([float(x) for x in v]) for v in vectors]

    def close(self) -> None:
        with self._lock:
            llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()
