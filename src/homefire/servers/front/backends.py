"""What `homefire serve` puts behind its front end: a GGUF model in process, or any LLM an
endpoint spec or configured name gives (a remote server, an `hf.Router` over several)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from homefire.errors import HomefireError, InvalidParameterError
from homefire.servers.front.app import Served

Auto = Literal["auto"]
# Spare HTTP threads of the engine's private listener beyond one per slot: `/tokenize`,
# `/props` and `/metrics` must not wait behind streaming native completions.
_SPARE_NATIVE_THREADS = 4


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """How to load an in-process model (None: LlamaCPP's own default)."""

    model_path: Path | None = None
    context_window: int | Auto | None = None
    n_gpu_layers: int | Auto = 0
    kv_type: str | None = None
    n_threads: int | None = None
    parallel: int | None = None
    verbose: bool = False
    embeddings: bool = False


def open_in_process(settings: ModelSettings) -> tuple[Served, int]:
    """The model loaded with `LlamaCPP` (the embedded one when no path is given), and its
    number of parallel slots."""
    from homefire.providers.llamacpp.model import DEFAULT_SLOTS, LlamaCPP
    from homefire.servers.front.native import NativeRoutes

    slots = settings.parallel or DEFAULT_SLOTS
    llm = LlamaCPP(
        settings.model_path,
        context_window=settings.context_window,
        n_gpu_layers=settings.n_gpu_layers,
        kv_cache_type=settings.kv_type,
        n_threads=settings.n_threads,
        n_parallel=slots,
        verbose=settings.verbose,
        engine_kwargs={"n_threads_http": slots + _SPARE_NATIVE_THREADS},
    )
    try:
        model_file = llm.model_file
        model_id = model_file.path.name.removesuffix(".gguf")
        template = model_file.chat_template or ""
        native = None
        if (listener := llm.private_listener) is not None:
            props = {
                "model_alias": model_id,
                "chat_template": template,
                "chat_template_caps": {"supports_tools": "tools" in template},
                "webui": False,
            }
            native = NativeRoutes(*listener, connections=slots + _SPARE_NATIVE_THREADS, props=props)
        meta: dict[str, Any] = {
            "n_ctx": llm.context_window,
            "n_ctx_train": model_file.context_length,
            "n_embd": model_file.embedding_length,
            "n_params": model_file.parameter_count,
            "size": model_file.file_size,
        }
        served = Served(
            llm,
            model_id,
            owned_by="llamacpp",
            meta={k: v for k, v in meta.items() if v is not None},
            native=native,
            defaults=llm.default_options,
            render=llm.messages_to_prompt,
            embeddings=settings.embeddings,
        )
    except BaseException:
        llm.close()
        raise
    return served, slots


def open_endpoint(spec: str, *, embeddings: bool) -> Served:
    """Any LLM `hf.connect` builds from `spec` (a configured router included)."""
    from homefire.servers.router import connect_spec

    llm = connect_spec(spec)
    meta: dict[str, Any] = {}
    with contextlib.suppress(HomefireError):  # backends may come up later; the list says less
        meta["n_ctx"] = llm.metadata.context_window
    return Served(
        llm,
        spec,
        meta=meta,
        render=getattr(llm, "messages_to_prompt", None),
        embeddings=embeddings,
    )


def check_router(name: str) -> None:
    """Refuse a name the config file does not define as a router."""
    from homefire.servers.config import config_path, load_config

    path = config_path()
    entry = load_config(path).get(name)
    if entry is None or entry.get("provider") != "router":
        raise InvalidParameterError(
            "router",
            f"{name!r} is not a router in {path}: add a table [endpoints.{name}] with "
            'provider = "router" and its backends (or pass any endpoint with -m)',
        )
