"""`LlamaCPP`: a GGUF model running inside this process, on either of two llama.cpp engines.

`engine="xllamacpp"` (the default) is a prebuilt wheel that runs llama.cpp's server core in
process, with parallel slots; `engine="llama-cpp-python"` is `llama_cpp.Llama`, compiled on
install. Both get the same prompts: homefire renders the model's chat template itself (in
Jinja's immutable sandbox) and sends a raw completion, and both answers are parsed by the same
OpenAI-compatible dialect. Every setting is checked, and the file's header read, before an
engine sees the model, since engines crash or hang on bad input.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from homefire._bridge import iterate_in_thread
from homefire._validate import flag, integer
from homefire.errors import (
    ChatTemplateError,
    ContextOverflowError,
    GenerationError,
    InvalidParameterError,
    ModelFileError,
    NotSupportedError,
)
from homefire.llm.base import LLM
from homefire.llm.templates import DEFAULT_LIMITS, PromptPart, TemplateLimits, render_chat_parts
from homefire.options import parse_options
from homefire.protocols.llamacpp import build_engine_body
from homefire.protocols.openai import CompletionStreamAssembler, parse_completion
from homefire.providers.llamacpp.auto import AUTO, AutoSettings, load_planned, plan_summary
from homefire.providers.llamacpp.engine import EngineSettings, kv_cache_type_param
from homefire.providers.llamacpp.gpu import unusable_gpu_layers, warn_unusable
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    LoadRequest,
    Messages,
    ModelInfo,
    as_messages,
    chat_from_completion,
    check_text,
)

if TYPE_CHECKING:
    from homefire.modelfiles.gguf import ModelFile
    from homefire.options import GenerationOptions
    from homefire.planner import Hardware, Plan
    from homefire.providers.llamacpp.embeddings import Embedder
    from homefire.providers.llamacpp.engine import Engine

__all__ = ["ENGINES", "LlamaCPP"]

MessagesToPrompt = Callable[[Sequence[ChatMessage]], str]
CompletionToPrompt = Callable[[str], str]

ENGINES = ("xllamacpp", "llama-cpp-python")
_ENGINE_MODULES = {
    "xllamacpp": ("homefire.providers.llamacpp.xllamacpp", "XLlamaCppEngine"),
    "llama-cpp-python": ("homefire.providers.llamacpp.llama_cpp_python", "LlamaCppPythonEngine"),
}

CONTEXT_CAP = 8192
"""The default context window is the model's trained context, capped here.

The KV cache grows linearly with the context: 8192 tokens cover long chats and documents
while keeping the cache of a 7-8B model near 1 GiB (f16), where the full trained context of
recent models (32k-128k) would need several GiB more than the weights themselves.
"""
_UNKNOWN_CONTEXT = 4096  # for files that do not say how long a context they were trained on
_MIN_CONTEXT = 32
DEFAULT_SLOTS = 4
"""Parallel slots when none are asked for: llama.cpp's server makes the same choice (4 slots
over one unified KV pool when `--parallel` is not given). Measured here: ~25% more aggregate
tokens/s for 4 concurrent requests on 2 cores; the pool does not grow with the slots."""
_DEFAULT_NUM_OUTPUT = 256  # what metadata reports when max_new_tokens is unset
_UNQUANTIZED_KV = ("f32", "f16", "bf16")
_MAX_THREADS = 512  # ggml's GGML_MAX_N_THREADS; far more threads make llama.cpp crash


def _default_threads() -> int:
    """Physical cores, roughly: llama.cpp gains nothing from SMT siblings."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    return cpus if cpus <= 4 else cpus // 2


def _callable_param(name: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise InvalidParameterError(name, f"must be a function, got {type(value).__name__}")
    return value


def _auto_or_int(name: str, value: Any, low: int, *, none_ok: bool) -> int | None:
    """`value` as an int, or None for "auto" (the planner decides)."""
    if value == AUTO:
        return None
    if isinstance(value, str):
        raise InvalidParameterError(name, f"must be an integer or 'auto', got {value!r}")
    return integer(name, value, low=low, optional=none_ok)


def _auto_settings(n_gpu_layers: Any, context_window: Any, hardware: Any) -> AutoSettings | None:
    if hardware is not None:
        from homefire.planner import Hardware

        if not isinstance(hardware, Hardware):
            raise InvalidParameterError(
                "hardware", f"must be a homefire.planner.Hardware, got {type(hardware).__name__}"
            )
    if n_gpu_layers != AUTO and context_window != AUTO:
        if hardware is not None:
            raise InvalidParameterError(
                "hardware", "is only used with n_gpu_layers='auto' or context_window='auto'"
            )
        return None
    return AutoSettings(n_gpu_layers == AUTO, context_window == AUTO, hardware)


def _engine_settings(
    engine: str,
    *,
    n_gpu_layers: int,
    n_threads: Any,
    n_batch: Any,
    flash_attn: Any,
    cache_type_k: Any,
    cache_type_v: Any,
    kv_cache_type: Any,
    use_mmap: Any,
    use_mlock: Any,
    verbose: Any,
    n_parallel: Any,
    engine_kwargs: Any,
) -> EngineSettings:
    """Check the load settings one by one; the model path and context come with the model."""
    if kv_cache_type is not None and (cache_type_k is not None or cache_type_v is not None):
        raise InvalidParameterError(
            "kv_cache_type", "sets both cache types: do not also pass cache_type_k/_v"
        )
    cache_k = kv_cache_type_param("cache_type_k", cache_type_k or kv_cache_type)
    cache_v = kv_cache_type_param("cache_type_v", cache_type_v or kv_cache_type)
    flash = flag("flash_attn", flash_attn, optional=True)
    if flash is False and cache_v is not None and cache_v not in _UNQUANTIZED_KV:
        raise InvalidParameterError(
            "cache_type_v", f"a quantized V cache ({cache_v}) needs flash_attn=True or None"
        )
    slots = integer("n_parallel", n_parallel, low=1, optional=True)
    if engine == "llama-cpp-python" and slots not in (None, 1):
        raise InvalidParameterError(
            "n_parallel",
            "llama-cpp-python runs one request at a time; use engine='xllamacpp' for slots",
        )
    if engine_kwargs is not None and not isinstance(engine_kwargs, Mapping):
        raise InvalidParameterError("engine_kwargs", "must be a mapping of setting to value")
    return EngineSettings(
        model_path=Path(),
        context_window=0,
        n_gpu_layers=n_gpu_layers,
        n_threads=integer("n_threads", n_threads, low=1, high=_MAX_THREADS, optional=True)
        or _default_threads(),
        n_batch=integer("n_batch", n_batch, low=1, optional=True),
        flash_attn=flash,
        cache_type_k=cache_k,
        cache_type_v=cache_v,
        use_mmap=flag("use_mmap", use_mmap),
        use_mlock=flag("use_mlock", use_mlock),
        verbose=flag("verbose", verbose),
        n_parallel=1 if engine == "llama-cpp-python" else slots or DEFAULT_SLOTS,
        engine_kwargs=dict(engine_kwargs or {}),
    )


class LlamaCPP(LLM):
    """A local GGUF model, in process. With no model, the embedded SmolLM2-135M-Instruct,
    which answers greedily by default (see `homefire.modelfiles.embedded.EMBEDDED_DEFAULTS`).

    `context_window` defaults to the model's trained context capped at `CONTEXT_CAP`;
    `"auto"` (for it or `n_gpu_layers`) asks `homefire.planner` what fits this machine (or
    `hardware`), recorded in `plan`, and retries once with a smaller plan if the load runs out
    of memory;
    `n_parallel` slots (xllamacpp; default 4) share one KV cache so each request may use the
    whole window; `engine_kwargs` passes other settings to the engine (xllamacpp
    `CommonParams` fields, dotted for nested ones, or `llama_cpp.Llama` arguments).
    `messages_to_prompt` and `completion_to_prompt` replace the chat template and wrap plain
    prompts, as in LlamaIndex. `template_limits` bounds what the model's chat template may do
    (it is code from the file). `trial_load` first loads a file in a child process, so a file
    that makes llama.cpp stop the process fails with ModelFileError instead (about half a
    second, once per file and process; the embedded model is never tried).
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        model_url: str | None = None,
        *,
        model_sha256: str | None = None,
        engine: str = "xllamacpp",
        context_window: int | Literal["auto"] | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        n_gpu_layers: int | Literal["auto"] = 0,
        n_threads: int | None = None,
        n_batch: int | None = None,
        flash_attn: bool | None = None,
        cache_type_k: str | None = None,
        cache_type_v: str | None = None,
        kv_cache_type: str | None = None,
        use_mmap: bool = True,
        use_mlock: bool = False,
        seed: int | None = None,
        verbose: bool = False,
        n_parallel: int | None = None,
        chat_template: str | None = None,
        messages_to_prompt: MessagesToPrompt | None = None,
        completion_to_prompt: CompletionToPrompt | None = None,
        engine_kwargs: Mapping[str, Any] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        hardware: Hardware | None = None,
        template_limits: TemplateLimits | None = None,
        trial_load: bool = True,
    ) -> None:
        max_tokens = integer("max_new_tokens", max_new_tokens, low=1, optional=True)
        # The caller's defaults; load_model() adds the embedded model's own when it loads it.
        self._user_defaults = parse_options(
            {"temperature": temperature, "seed": seed, "max_tokens": max_tokens}
        )
        super().__init__(self._user_defaults)
        if engine not in ENGINES:
            raise InvalidParameterError("engine", f"unknown engine {engine!r} (use {ENGINES})")
        self._engine_name = engine
        if model_path is not None and model_url is not None:
            raise InvalidParameterError("model_url", "pass model_path or model_url, not both")
        if model_path is not None and not isinstance(model_path, str | os.PathLike):
            raise InvalidParameterError("model_path", f"must be a path, got {model_path!r}")
        if model_url is not None and not isinstance(model_url, str):
            raise InvalidParameterError("model_url", f"must be a string, got {model_url!r}")
        if model_sha256 is not None and model_url is None:
            raise InvalidParameterError("model_sha256", "is only used with model_url")
        self._context_request = _auto_or_int(
            "context_window", context_window, _MIN_CONTEXT, none_ok=True
        )
        layers = _auto_or_int("n_gpu_layers", n_gpu_layers, -1, none_ok=False)
        self._auto = _auto_settings(n_gpu_layers, context_window, hardware)
        if chat_template is not None and (not isinstance(chat_template, str) or not chat_template):
            raise InvalidParameterError(
                "chat_template", "must be a non-empty Jinja template string"
            )
        # Completed per model by load_model().
        self._settings = _engine_settings(
            engine,
            n_gpu_layers=layers or 0,
            n_threads=n_threads,
            n_batch=n_batch,
            flash_attn=flash_attn,
            cache_type_k=cache_type_k,
            cache_type_v=cache_type_v,
            kv_cache_type=kv_cache_type,
            use_mmap=use_mmap,
            use_mlock=use_mlock,
            verbose=verbose,
            n_parallel=n_parallel,
            engine_kwargs=engine_kwargs,
        )
        if template_limits is not None and not isinstance(template_limits, TemplateLimits):
            raise InvalidParameterError(
                "template_limits",
                f"must be a homefire.TemplateLimits, got {type(template_limits).__name__}",
            )
        self._template_limits = template_limits or DEFAULT_LIMITS
        self._trial_load = flag("trial_load", trial_load)
        self._chat_template = chat_template
        self._messages_to_prompt = _callable_param("messages_to_prompt", messages_to_prompt)
        self._completion_to_prompt = _callable_param("completion_to_prompt", completion_to_prompt)
        self._cache_dir = cache_dir
        # Imports the engine (or raises MissingDependencyError) and checks its settings.
        self._module = importlib.import_module(_ENGINE_MODULES[engine][0])
        self._module.check_engine_kwargs(self._settings.engine_kwargs)

        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._model_file: ModelFile | None = None
        self._context = 0
        self._loaded_settings = self._settings
        self._plan: Plan | None = None
        if model_url is not None:
            self.load_model(model_url, sha256=model_sha256)
        else:
            self.load_model(model_path)

    # --- the model ----------------------------------------------------------------------------

    def load_model(
        self, path_or_url: str | os.PathLike[str] | None = None, *, sha256: str | None = None
    ) -> None:
        """Load another GGUF file (a path, an http(s) URL, or None for the embedded model).

        The new file is checked and loaded before the old model is released, so a bad file
        leaves the current model working. Settings on "auto" are planned again for it.
        """
        path = self._resolve(path_or_url, sha256)
        from homefire.modelfiles.gguf import read_model_file

        model_file = read_model_file(path)
        if model_file.tokenizer_model in ("none", "no_vocab"):
            raise ModelFileError(
                str(model_file.path),
                "the file has no vocabulary, so it cannot read or write text",
                "Use a model made for text generation",
            )
        if path_or_url is not None and self._trial_load:
            from homefire.providers.llamacpp.trial import trial_load

            trial_load(self._engine_name, model_file.path)
        trained = model_file.context_length
        context = self._context_request or min(trained or _UNKNOWN_CONTEXT, CONTEXT_CAP)
        settings = replace(self._settings, model_path=model_file.path, context_window=context)
        open_engine: Callable[[EngineSettings], Engine] = getattr(
            self._module, _ENGINE_MODULES[self._engine_name][1]
        )
        defaults = self._user_defaults
        if path_or_url is None:
            from homefire.modelfiles.embedded import EMBEDDED_DEFAULTS

            defaults = EMBEDDED_DEFAULTS.merged(defaults)
        plan = None
        if self._auto is None:
            engine = open_engine(settings)
        else:
            engine, settings, plan = load_planned(
                model_file, settings, self._auto, engine=self._engine_name, open_engine=open_engine
            )
        gpu_problem = unusable_gpu_layers(self._engine_name, self._module, settings.n_gpu_layers)
        with self._lock:
            old, self._engine = self._engine, engine
            old_embedder, self._embedder = self._embedder, None
            self._model_file, self._context = model_file, settings.context_window
            self._loaded_settings, self._plan = settings, plan
            self.default_options = defaults
            self._gpu_problem = gpu_problem
        _release(old, old_embedder)
        if gpu_problem is not None:
            warn_unusable(gpu_problem)

    def _resolve(self, path_or_url: str | os.PathLike[str] | None, sha256: str | None) -> Path:
        if path_or_url is None:
            from homefire.modelfiles.embedded import embedded_model_path

            return embedded_model_path()
        if not isinstance(path_or_url, str | os.PathLike):
            raise InvalidParameterError("model_path", f"must be a path or URL, got {path_or_url!r}")
        if isinstance(path_or_url, str) and path_or_url.startswith(("http://", "https://")):
            from homefire.modelfiles.download import download_model

            return download_model(path_or_url, sha256=sha256, cache_dir=self._cache_dir)
        if sha256 is not None:
            raise InvalidParameterError("sha256", "is only used when loading from a URL")
        try:
            return Path(path_or_url).expanduser()
        except RuntimeError as exc:  # "~someone" with no such user
            raise ModelFileError(str(path_or_url), str(exc), "Check the path") from None

    def _loaded(self) -> tuple[Engine, ModelFile]:
        engine, model_file = self._engine, self._model_file
        if engine is None or model_file is None:
            raise GenerationError("this LlamaCPP was closed; call load_model() to load a model")
        return engine, model_file

    @property
    def engine(self) -> str:
        return self._engine_name

    @property
    def model_path(self) -> Path:
        return self._loaded()[1].path

    @property
    def model_file(self) -> ModelFile:
        """What the GGUF header says (architecture, trained context, template, ...)."""
        return self._loaded()[1]

    @property
    def context_window(self) -> int:
        return self._context

    @property
    def plan(self) -> Plan | None:
        """What the planner chose for the settings on "auto" (None without "auto")."""
        return self._plan

    @property
    def metadata(self) -> LLMMetadata:
        model_file = self.model_file
        extra: dict[str, Any] = {}
        if self._plan is not None:
            extra["plan"] = plan_summary(self._plan, self._loaded_settings)
        if self._gpu_problem is not None:
            extra.update(gpu_offload=False, gpu_warning=self._gpu_problem)
        return LLMMetadata(
            context_window=self._context,
            num_output=self.default_options.max_tokens or _DEFAULT_NUM_OUTPUT,
            model_name=model_file.name or model_file.path.stem,
            is_chat_model=True,
            supports_tools=True,
            is_function_calling_model="tools" in (self._template() or ("", ""))[0],
            extra={
                "engine": self._engine_name,
                "model_path": str(model_file.path),
                "architecture": model_file.architecture,
                "trained_context": model_file.context_length,
                "n_parallel": self._settings.n_parallel,
                "embedding_length": model_file.metadata.get(
                    f"{model_file.architecture}.embedding_length"
                ),
                **extra,
            },
        )

    # --- the lifecycle: one model in memory at a time ---------------------------------------

    def models(self) -> list[ModelInfo]:
        """The model in memory (none after `close()`)."""
        if self._engine is None or self._model_file is None:
            return []
        model_file = self._model_file
        return [
            ModelInfo(
                id=model_file.name or model_file.path.stem,
                loaded=True,
                context_length=self._context,
                max_context_length=model_file.context_length,
                quantization=model_file.quantization,
                size_bytes=model_file.file_size,
                capabilities=["completion", "chat", "embedding"],
            )
        ]

    def _load_model(self, request: LoadRequest) -> ModelInfo:
        """`load_model(model)` (a path, a URL, or None for the embedded model), with this
        context window and number of GPU layers when given."""
        if request.ttl is not None:
            raise NotSupportedError(
                "an in-process model stays loaded until close() or load() of another; "
                "it has no idle time-to-live"
            )
        if request.context_length is not None:
            self._context_request = integer(
                "context_length", request.context_length, low=_MIN_CONTEXT
            )
        if request.gpu is not None:
            layers = integer("gpu", request.gpu, low=-1)
            self._settings = replace(self._settings, n_gpu_layers=layers)
        self.load_model(request.model)
        return self.models()[0]

    def unload(self, model: str | None = None) -> None:
        """Free the model (`close()`); `load()` brings one back."""
        self.close()

    def health(self) -> bool:
        """True while a model is loaded."""
        return self._engine is not None

    @property
    def private_listener(self) -> tuple[str, str] | None:
        """(address, key) of the engine's own llama.cpp HTTP listener where it has one
        (xllamacpp; None otherwise): `homefire serve` forwards llama.cpp's native routes
        that render no template there. It refuses requests without the key."""
        listener: tuple[str, str] | None = getattr(self._loaded()[0], "private_listener", None)
        return listener

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Token ids of `text` as it would appear inside a prompt: with `special`, control
        tokens spelled in it (`<|im_start|>`) are read as those tokens, as in a chat
        template; without, as the plain text a user's message is read as."""
        if not isinstance(text, str):
            raise InvalidParameterError("text", f"must be a string, got {type(text).__name__}")
        parse = flag("special", special)
        return self._loaded()[0].tokenize(check_text("text", text), special=parse)

    def chat_tokens(self, messages: Messages) -> list[int]:
        """The token ids the engine reads for a chat: the template's markup with its control
        tokens, and the messages' text as plain text, whatever it spells."""
        history = as_messages(messages)
        if self._messages_to_prompt is not None:
            return self._loaded()[0].tokenize(self.messages_to_prompt(history), add_special=True)
        return self._token_ids(self._prompt_parts(history))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def close(self) -> None:
        """Free the model; requests still running are cancelled and get GenerationError."""
        with self._lock:
            engine, self._engine, self._model_file = self._engine, None, None
            embedder, self._embedder = self._embedder, None
        _release(engine, embedder)

    def __repr__(self) -> str:
        model = self._model_file.path.name if self._model_file else "closed"
        return (
            f"LlamaCPP(model={model!r}, engine={self._engine_name!r}, "
            f"context_window={self._context})"
        )

    # --- embeddings: a second, pooled context on the same file, opened on first use ----------

    _embedder: tuple[Path, Embedder] | None = None
    _gpu_problem: str | None = None

    def _embed(self, texts: list[str]) -> list[list[float]]:
        from homefire.providers.llamacpp.embeddings import open_embedder

        path = self.model_path
        with self._lock:
            if self._embedder is None or self._embedder[0] != path:
                settings = self._loaded_settings
                self._embedder = (path, open_embedder(self._engine_name, settings))
            embedder = self._embedder[1]
        return embedder.embed(texts)

    # --- prompts ------------------------------------------------------------------------------

    def messages_to_prompt(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt a chat becomes: the override, else the chat template, rendered sandboxed."""
        if self._messages_to_prompt is not None:
            return str(self._messages_to_prompt(messages))
        return "".join(part.text for part in self._prompt_parts(messages))

    def _prompt_parts(self, messages: Sequence[ChatMessage]) -> list[PromptPart]:
        model_file = self.model_file
        chosen = self._template()
        if chosen is None:
            raise ChatTemplateError(
                f"the model file {model_file.path}", "the file has no tokenizer.chat_template"
            )
        template, source = chosen
        bos = model_file.bos_token or ""
        parts = render_chat_parts(
            template,
            messages,
            control_tokens=model_file.control_tokens,
            source=source,
            bos_token=bos,
            eos_token=model_file.eos_token or "",
            limits=self._template_limits,
        )
        first = parts[0]
        if bos and first.special and first.text.startswith(bos) and _adds_bos(model_file):
            parts[0] = PromptPart(first.text[len(bos) :], True)  # the engine adds BOS itself
        return parts

    def _chat_prompt(self, messages: Sequence[ChatMessage]) -> str | list[int]:
        """What the engine reads for a chat: the prompt text, or token ids when a message
        spells a control token, so that it reaches the model as the text it is."""
        if self._messages_to_prompt is not None:
            return str(self._messages_to_prompt(messages))
        parts = self._prompt_parts(messages)
        if all(part.special for part in parts):
            return "".join(part.text for part in parts)
        return self._token_ids(parts)

    def _token_ids(self, parts: list[PromptPart]) -> list[int]:
        """Markup tokenized with control tokens, message text without. The text is also cut in
        two, since llama.cpp reads a few control tokens as ordinary vocabulary (gpt-oss's
        `<|start|>`), which no tokenizer flag turns off."""
        engine = self._loaded()[0]
        ids: list[int] = []
        for index, part in enumerate(parts):
            if part.special:
                ids += engine.tokenize(part.text, special=True, add_special=index == 0)
                continue
            middle = len(part.text) // 2
            for half, text in enumerate((part.text[:middle], part.text[middle:])):
                first = index == 0 and half == 0
                ids += engine.tokenize(text, special=False, add_special=first)
        return ids

    def _template(self) -> tuple[str, str] | None:
        """The chat template in use and where it came from, or None when there is none."""
        if self._chat_template is not None:
            return self._chat_template, "chat_template="
        model_file = self.model_file
        if model_file.chat_template:
            return model_file.chat_template, f"the model file {model_file.path}"
        return None

    def completion_to_prompt(self, prompt: str) -> str:
        return self._completion_to_prompt(prompt) if self._completion_to_prompt else prompt

    def _request(
        self, prompt: str | list[int], options: GenerationOptions, stream: bool
    ) -> tuple[Engine, dict[str, Any]]:
        engine, model_file = self._loaded()
        context = self._context
        if isinstance(prompt, list):
            if len(prompt) >= context:
                raise ContextOverflowError(len(prompt), context)
            body = build_engine_body("", options, stream=stream)
            body["prompt"] = prompt
            return engine, body
        if not prompt and not _adds_bos(model_file):
            raise InvalidParameterError(
                "prompt", "is empty, and this model starts prompts with no BOS token to continue"
            )
        # A token is at least one byte, so only a prompt this long can overflow: count it.
        if len(prompt.encode()) + 2 >= context:
            count = len(engine.tokenize(prompt)) + int(_adds_bos(model_file))
            if count >= context:
                raise ContextOverflowError(count, context)
        return engine, build_engine_body(prompt, options, stream=stream)

    def _run(self, prompt: str | list[int], options: GenerationOptions) -> CompletionResponse:
        engine, body = self._request(prompt, options, stream=False)
        return parse_completion(engine.complete(body))

    def _run_stream(
        self, prompt: str | list[int], options: GenerationOptions
    ) -> Iterator[CompletionResponse]:
        engine, body = self._request(prompt, options, stream=True)
        return _assembled(engine.stream(body))

    # --- the LLM hooks ----------------------------------------------------------------------

    def _complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        return self._run(prompt if formatted else self.completion_to_prompt(prompt), options)

    def _stream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> Iterator[CompletionResponse]:
        return self._run_stream(prompt if formatted else self.completion_to_prompt(prompt), options)

    def _chat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        return chat_from_completion(self._run(self._chat_prompt(messages), options))

    def _stream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[ChatResponse]:
        return _as_chat_stream(self._run_stream(self._chat_prompt(messages), options))

    # Async answers are streamed underneath: cancelling the awaiting task closes the stream,
    # and the engine stops generating (a plain call in a thread would run to the end).

    async def _achat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        return chat_from_completion(
            await _last(iterate_in_thread(lambda: self._stream_complete_chat(messages, options)))
        )

    async def _acomplete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        return await _last(
            iterate_in_thread(lambda: self._stream_complete(prompt, options, formatted))
        )

    def _stream_complete_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[CompletionResponse]:
        return self._run_stream(self._chat_prompt(messages), options)


def _adds_bos(model_file: ModelFile) -> bool:
    """Whether llama.cpp puts BOS in front of a prompt for this model (its own rule)."""
    flag = model_file.metadata.get("tokenizer.ggml.add_bos_token")
    if isinstance(flag, bool):
        return flag
    return model_file.tokenizer_model == "llama"


def _assembled(chunks: Iterator[dict[str, Any]]) -> Generator[CompletionResponse, None, None]:
    assembler = CompletionStreamAssembler()
    try:
        for chunk in chunks:
            piece = assembler.feed(chunk)
            if piece is not None:
                yield piece
        yield assembler.finish()
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def _release(engine: Engine | None, embedder: tuple[Path, Embedder] | None) -> None:
    """Free a model that was swapped out, outside the lock: closing waits for its requests."""
    if embedder is not None:
        embedder[1].close()
    if engine is not None:
        engine.close()


async def _last(responses: AsyncIterator[CompletionResponse]) -> CompletionResponse:
    """The assembled answer that ends a stream, shaped like a non-streamed one."""
    final: CompletionResponse | None = None
    async for response in responses:
        final = response
    if final is None:
        raise GenerationError("the engine ended the answer without a response")
    return replace(final, delta=None)


def _as_chat_stream(
    responses: Iterator[CompletionResponse],
) -> Generator[ChatResponse, None, None]:
    try:
        for response in responses:
            yield chat_from_completion(response)
    finally:
        close = getattr(responses, "close", None)
        if close is not None:
            close()
