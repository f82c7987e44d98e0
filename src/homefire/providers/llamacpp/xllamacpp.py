"""The `xllamacpp` engine: llama.cpp's own server core running inside this process.

Requests go straight to the server's handlers (dict in, dict out), so there is no HTTP on the
generation path and several requests run at once in parallel slots. The library always opens
an HTTP listener on 127.0.0.1 as well; it gets a random key only this object knows and no
CORS origin, so nothing else on the machine (a web page in a browser included) can use it.
"""

from __future__ import annotations

import difflib
import inspect
import queue
import secrets
import threading
import time
from collections.abc import Generator, Mapping
from typing import Any

from homefire.errors import (
    EngineLoadError,
    GenerationError,
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

# Settings homefire itself owns: the keyword argument of LlamaCPP to use instead, or None
# where the setting protects the listener and cannot be changed.
_OWNED: dict[str, str | None] = {
    "model": "model_path",
    "n_ctx": "context_window",
    "n_parallel": "n_parallel",
    "n_gpu_layers": "n_gpu_layers",
    "n_batch": "n_batch",
    "flash_attn_type": "flash_attn",
    "cache_type_k": "cache_type_k",
    "cache_type_v": "cache_type_v",
    "load_mode": "use_mmap / use_mlock",
    "verbosity": "verbose",
    "api_keys": None,
    "cors_origins": None,
    "cors_credentials": None,
    "hostnames": None,
    "ui": None,
    "endpoint_metrics": None,
    "chat_template": "chat_template",
    "use_jinja": "chat_template",
}

# The fields llama.cpp's server reads from a completion request (its params_from_json_cmpl and
# the OpenAI-style completion parser in front of it, over recent versions). It ignores any
# other field without a word, so a misspelled `extra` key is refused here instead.
REQUEST_FIELDS = frozenset(
    {
        # the prompt and the OpenAI completion fields
        "prompt", "model", "stream", "stream_options", "max_tokens", "max_completion_tokens",
        "n", "logprobs", "top_logprobs", "echo", "suffix", "best_of", "user", "response_format",
        "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty",
        "logit_bias",
        # llama.cpp's own
        "n_predict", "n_indent", "n_keep", "n_discard", "n_cmpl", "n_cache_reuse",
        "cache_prompt", "return_tokens", "return_progress", "t_max_prompt_ms",
        "t_max_predict_ms", "response_fields", "timings_per_token", "post_sampling_probs",
        "top_k", "min_p", "top_n_sigma", "xtc_probability", "xtc_threshold", "typical_p",
        "dynatemp_range", "dynatemp_exponent", "repeat_last_n", "repeat_penalty",
        "penalize_nl", "tfs_z", "dry_multiplier", "dry_base", "dry_allowed_length",
        "dry_penalty_last_n", "dry_sequence_breakers", "mirostat", "mirostat_tau",
        "mirostat_eta", "adaptive_target", "adaptive_decay", "n_probs", "min_keep",
        "backend_sampling", "ignore_eos", "samplers", "json_schema", "grammar", "grammar_lazy",
        "grammar_triggers", "preserved_tokens", "chat_format", "reasoning_format",
        "thinking_forced_open", "parse_tool_calls", "chat_parser", "reasoning_budget_tokens",
        "reasoning_budget_start_tag", "reasoning_budget_end_tag", "reasoning_budget_message",
        "reasoning_budget_arm_immediately", "lora", "id_slot", "input_prefix", "input_suffix",
        "input_extra", "multimodal_data", "speculative.n_min", "speculative.n_max",
        "speculative.p_min", "speculative.type", "speculative.ngram_size_n",
        "speculative.ngram_size_m", "speculative.ngram_m_hits",
    }
)  # fmt: skip
_QUIET = -1  # llama.cpp's log threshold below its errors: nothing reaches stderr
_TOKENIZE_TIMEOUT = 30.0
# How long closing a stream waits for the engine to notice the cancel (one token, usually).
_CANCEL_WAIT_SECONDS = 30.0


def _xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError:
        raise MissingDependencyError(
            "xllamacpp", "LlamaCPP(engine='xllamacpp')", extra="xllamacpp"
        ) from None
    return xllamacpp


GPU_BUILD = (
    "pip install xllamacpp --force-reinstall --index-url "
    "https://xorbitsai.github.io/xllamacpp/whl/cu128 --extra-index-url https://pypi.org/simple "
    "(cu124 for CUDA 12.4; rocm-6.4.1 or vulkan for AMD and Intel GPUs)"
)
"""How to install an xllamacpp build that offloads to a GPU (its own wheel index)."""


def gpu_offload() -> bool:
    """Whether this xllamacpp build sees a GPU it can put layers on."""
    kinds = _xllamacpp().ggml_backend_dev_type
    gpus = {kinds.GGML_BACKEND_DEVICE_TYPE_GPU, kinds.GGML_BACKEND_DEVICE_TYPE_IGPU}
    return any(device.get("type") in gpus for device in _xllamacpp().get_device_info())


def _settable(owner: Any, name: str) -> bool:
    return not name.startswith("_") and inspect.isdatadescriptor(getattr(type(owner), name, None))


def _set_option(params: Any, key: str, value: Any) -> None:
    """Set a (dotted) CommonParams field, e.g. `cache_ram_mib` or `sampling.dry_multiplier`."""
    if not isinstance(key, str) or not key:
        raise InvalidParameterError("engine_kwargs", f"keys must be field names, got {key!r}")
    head, _, rest = key.partition(".")
    if head in _OWNED and not rest:
        named = _OWNED[head]
        problem = (
            f"{head!r} is set by homefire to keep the engine's listener private"
            if named is None
            else f"{head!r} is set with LlamaCPP({named}=...), not engine_kwargs"
        )
        raise InvalidParameterError("engine_kwargs", problem)
    owner = params
    *parents, leaf = key.split(".")
    for part in parents:
        if not _settable(owner, part):
            raise _unknown(key, owner)
        owner = getattr(owner, part)
    if not _settable(owner, leaf):
        raise _unknown(key, owner)
    try:
        setattr(owner, leaf, value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidParameterError(
            "engine_kwargs", f"xllamacpp rejected {key}={value!r} ({exc})"
        ) from None


def _unknown(key: str, owner: Any) -> InvalidParameterError:
    leaf = key.rsplit(".", 1)[-1]
    names = [n for n in dir(owner) if _settable(owner, n)]
    close = difflib.get_close_matches(leaf, names, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return InvalidParameterError(
        "engine_kwargs", f"{key!r} is not a setting of xllamacpp.CommonParams{hint}"
    )


def check_engine_kwargs(engine_kwargs: Mapping[str, Any]) -> None:
    """Fail on unknown or owned keys, and on values of the wrong type, before any load."""
    params = _xllamacpp().CommonParams()
    for key, value in engine_kwargs.items():
        _set_option(params, key, value)


def _params(settings: EngineSettings) -> tuple[Any, str]:
    xlc = _xllamacpp()
    params = xlc.CommonParams()
    params.model.path = str(settings.model_path)
    params.n_ctx = settings.context_window
    params.n_parallel = settings.n_parallel
    # One KV pool shared by the slots: every request may use the whole context window,
    # and memory does not grow with the number of slots.
    params.kv_unified = True
    params.fit_params = False  # keep the context and layers the caller asked for
    params.n_gpu_layers = settings.n_gpu_layers
    params.cpuparams.n_threads = settings.n_threads
    params.cpuparams_batch.n_threads = settings.n_threads
    if settings.n_batch is not None:
        params.n_batch = settings.n_batch
    if settings.n_ubatch is not None:
        params.n_ubatch = settings.n_ubatch
    if settings.swa_full is not None:
        params.swa_full = settings.swa_full
    if settings.flash_attn is not None:
        kind = xlc.llama_flash_attn_type
        params.flash_attn_type = (
            kind.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if settings.flash_attn
            else kind.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
    if settings.cache_type_k is not None:
        params.cache_type_k = getattr(xlc.ggml_type, f"GGML_TYPE_{settings.cache_type_k.upper()}")
    if settings.cache_type_v is not None:
        params.cache_type_v = getattr(xlc.ggml_type, f"GGML_TYPE_{settings.cache_type_v.upper()}")
    mode = xlc.llama_load_mode
    params.load_mode = {
        (True, False): mode.LLAMA_LOAD_MODE_MMAP,
        (True, True): mode.LLAMA_LOAD_MODE_MMAP_MLOCK,
        (False, True): mode.LLAMA_LOAD_MODE_MLOCK,
        (False, False): mode.LLAMA_LOAD_MODE_NONE,
    }[(settings.use_mmap, settings.use_mlock)]
    if not settings.verbose:
        params.verbosity = _QUIET
    # homefire renders chat templates itself, sandboxed; llama.cpp's own Jinja engine would
    # refuse to load a model whose template it cannot run, and is never used here anyway.
    params.use_jinja = False
    params.chat_template = "chatml"
    # The listener cannot be switched off: make it useless to anyone but us.
    key = secrets.token_urlsafe(32)
    params.api_keys = [key]
    params.cors_origins = ""
    params.cors_credentials = False
    params.hostnames = ["127.0.0.1"]
    params.ui = False
    params.n_threads_http = 1
    params.endpoint_metrics = True  # see XLlamaCppEngine.__init__
    for name, value in settings.engine_kwargs.items():
        _set_option(params, name, value)
    return params, key


def open_server(params: Any) -> Any:
    """An `xllamacpp.Server` that is safe to drop: its task loop is known to be running.

    The loop starts just after the constructor returns, and a shutdown requested before it
    starts is lost (dropping the server would then hang for ever). A metrics request is
    answered only by the running loop, so after it, closing is safe.
    """
    server = _xllamacpp().Server(params)
    server.handle_metrics()
    return server


class XLlamaCppEngine:
    """A loaded `xllamacpp.Server`; thread-safe, requests share `n_parallel` slots."""

    def __init__(self, settings: EngineSettings) -> None:
        params, self._key = _params(settings)
        try:
            self._server: Any = open_server(params)
        except Exception as exc:
            hint = "" if settings.verbose else "; pass verbose=True to see llama.cpp's log"
            # xllamacpp says the same for every load failure, a failed allocation included.
            raise EngineLoadError(
                str(settings.model_path),
                f"llama.cpp could not load it with these settings ({exc})",
                f"Check the file and the settings{hint}",
                out_of_memory=True,
                memory_certain=False,
            ) from None
        self._http: Any = None
        self._http_lock = threading.Lock()
        # Requests in flight: set the first event to cancel one; the second is set once the
        # engine has let go of it. close() cancels them all and waits, so that nothing runs
        # inside llama.cpp when the server is freed or the process exits.
        self._running: set[tuple[threading.Event, threading.Event]] = set()
        self._state_lock = threading.Lock()

    @property
    def listening_address(self) -> str:
        """The private HTTP listener xllamacpp opens; it refuses requests without our key."""
        return str(self._server.listening_address)

    @property
    def private_listener(self) -> tuple[str, str]:
        """(address, key) of that listener, for a caller that forwards llama.cpp's own
        native routes to it (`homefire serve`)."""
        return self.listening_address, self._key

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        request = {**body, "stream": True, "stream_options": {"include_usage": True}}
        return assemble(self.stream(request))

    def _send(self, server: Any, request: dict[str, Any], callback: Any) -> None:
        try:
            server.handle_completions(request, callback)
        except TypeError as exc:  # raised while encoding the request, before any work
            raise InvalidParameterError(
                "extra", f"every value must be JSON-serializable ({exc})"
            ) from None

    def stream(self, body: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        stop, released = threading.Event(), threading.Event()
        done = object()
        request = _wire(body)
        with self._state_lock:
            server = self._server
            if server is None:
                raise GenerationError(MODEL_CLOSED)
            self._running.add((stop, released))

        cancelled: list[bool] = []

        def on_chunk(chunk: dict[str, Any]) -> bool:
            chunks.put(chunk)
            if stop.is_set():  # True makes llama.cpp cancel the task and free the slot
                cancelled.append(True)
            return bool(cancelled)

        def run() -> None:
            try:
                self._send(server, request, on_chunk)
            except BaseException as exc:  # handed to the consumer, raised there
                chunks.put(exc)
            finally:
                with self._state_lock:
                    self._running.discard((stop, released))
                released.set()
                chunks.put(done)

        threading.Thread(target=run, name="homefire-xllamacpp", daemon=True).start()
        finished = False
        try:
            while True:  # no `continue` here: see wait_for_done
                try:
                    # Waking up now and then lets a Ctrl-C reach a thread that waits here.
                    item = chunks.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    pass
                else:
                    if item is done:
                        finished = True
                        if cancelled:  # only close() cancels while the consumer still reads
                            raise GenerationError(MODEL_CLOSED_MIDWAY)
                        return
                    if isinstance(item, BaseException):
                        finished = True  # the worker put `done` right after the error
                        raise item
                    yield item
        finally:
            stop.set()
            if not finished:
                # The engine notices the cancel at its next token; going on before it has
                # would leave a request running under the next one, and a process that exits
                # meanwhile can crash in llama.cpp's teardown.
                wait_for_done(chunks, done, _CANCEL_WAIT_SECONDS)

    def tokenize(self, text: str, *, special: bool = True, add_special: bool = False) -> list[int]:
        import httpx

        with self._http_lock:
            if self._server is None:
                raise GenerationError(MODEL_CLOSED)
            if self._http is None:
                self._http = httpx.Client(
                    base_url=self.listening_address,
                    headers={"Authorization": f"Bearer {self._key}"},
                    timeout=_TOKENIZE_TIMEOUT,
                )
            client = self._http
        try:
            response = client.post(
                "/tokenize",
                json={"content": text, "add_special": add_special, "parse_special": special},
            )
            response.raise_for_status()
            return [int(t) for t in response.json()["tokens"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise GenerationError(f"xllamacpp could not tokenize the text ({exc})") from None

    def close(self) -> None:
        """Cancel the requests still running, wait (bounded) until the engine lets go of
        them, then free the model."""
        with self._state_lock:
            server, self._server = self._server, None
            running = list(self._running)
        for stop, _ in running:
            stop.set()
        deadline = time.monotonic() + _CANCEL_WAIT_SECONDS
        for _, released in running:
            released.wait(max(0.0, deadline - time.monotonic()))
        with self._http_lock:
            if self._http is not None:
                self._http.close()
                self._http = None
        del server


def _wire(body: dict[str, Any]) -> dict[str, Any]:
    """Refuse what llama.cpp would silently ignore: a field it does not read (a misspelled
    `extra` key), a JSON schema its converter cannot follow."""
    for key in body:
        if key not in REQUEST_FIELDS:
            close = difflib.get_close_matches(key, sorted(REQUEST_FIELDS), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise InvalidParameterError(
                "extra", f"{key!r} is not a field llama.cpp's server reads in a completion{hint}"
            )
    if "json_schema" in body:
        check_json_schema(body["json_schema"])
    return body
