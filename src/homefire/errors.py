"""Every failure a user can meet, as one hierarchy rooted at `HomefireError`.

Each message says what happened and what to do about it; the attributes carry the facts
(paths, URLs, token counts, which timeout) so callers can branch without parsing text.
No other exception type leaves a public call.

    HomefireError
    ├── InvalidParameterError (also ValueError)   a bad argument, refused before any work
    ├── MissingDependencyError (also ImportError) an optional package is not installed
    ├── NotSupportedError                         the backend cannot do this at all
    ├── ModelFileError                            a missing, damaged or unusable model file
    │   └── EngineLoadError                       the engine refused a file that reads fine
    ├── InsufficientMemoryError                   the model does not fit with these settings
    ├── ChatTemplateError                         a chat template failed or broke the rules
    ├── DownloadError                             a model download failed
    │   └── ChecksumMismatchError
    ├── ContextOverflowError                      the prompt does not fit the context window
    ├── GenerationError                           the engine or server failed mid-answer
    │   ├── StreamInterruptedError                a stream ended before it was complete
    │   └── StructuredOutputError                 the answer does not fit the schema
    ├── ServerError                               a server failed or could not be reached
    │   ├── ServerNotRunningError                 nothing listens at the URL
    │   │   ├── NoBackendAvailableError           no backend of a Router can answer
    │   │   └── WorkerLostError                   the cluster node holding the model is gone
    │   ├── ServerDisconnectedError               the connection closed before any answer
    │   ├── APIStatusError                        an HTTP error status
    │   │   ├── AuthenticationError
    │   │   ├── ModelNotFoundError
    │   │   └── ServerBusyError                   loading, rate-limited or out of slots
    │   └── ProtocolError                         an answer that cannot be understood
    └── HomefireTimeoutError (also TimeoutError)  a wait ran past its limit

    ContextTruncatedWarning (a UserWarning)       a server silently dropped part of a prompt
    GPUUnavailableWarning (a UserWarning)         GPU layers asked of a build that has no GPU
"""

from __future__ import annotations

from typing import Any


class HomefireError(Exception):
    """Root of every error homefire raises on purpose."""


class InvalidParameterError(HomefireError, ValueError):
    """A parameter is out of range, of the wrong type, or unknown; raised before any work."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"invalid parameter {name!r}: {problem}")


class MissingDependencyError(HomefireError, ImportError):
    """An optional package a feature needs is not installed."""

    def __init__(
        self, package: str, feature: str, extra: str | None = None, *, hint: str | None = None
    ) -> None:
        self.package = package
        self.feature = feature
        if hint is None:
            hint = f"pip install 'homefire[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{feature} needs the package {package!r}, which is not installed: {hint}")


class NotSupportedError(HomefireError):
    """The backend cannot do what was asked (not a transient failure)."""


# --- model files --------------------------------------------------------------------------


class ModelFileError(HomefireError):
    """A model file is missing, unreadable or not a usable GGUF file."""

    def __init__(self, path: str, problem: str, hint: str = "") -> None:
        self.path = path
        self.problem = problem
        message = f"bad model file {path!r}: {problem}"
        super().__init__(f"{message}. {hint}" if hint else message)


class EngineLoadError(ModelFileError):
    """The engine refused a file whose header reads fine.

    `out_of_memory` is True when a failed allocation explains it, or when the engine's
    message cannot tell one apart from other load failures (`memory_certain` False then):
    a smaller load may work.
    """

    def __init__(
        self,
        path: str,
        problem: str,
        hint: str,
        *,
        out_of_memory: bool,
        memory_certain: bool = True,
    ) -> None:
        super().__init__(path, problem, hint)
        self.out_of_memory = out_of_memory
        self.memory_certain = memory_certain


class InsufficientMemoryError(HomefireError):
    """A model does not fit in the memory this machine has free, with the settings asked for."""

    def __init__(
        self,
        problem: str,
        advice: str,
        *,
        needed_bytes: int | None = None,
        available_bytes: int | None = None,
    ) -> None:
        self.problem = problem
        self.advice = advice
        self.needed_bytes = needed_bytes
        self.available_bytes = available_bytes
        super().__init__(f"not enough memory: {problem}. {advice}")


class ChatTemplateError(HomefireError):
    """A chat template failed to render, or tried something the sandbox forbids."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(
            f"chat template of {source} cannot be used: {problem}. "
            "Pass messages_to_prompt= or chat_template= to use another template."
        )


class DownloadError(HomefireError):
    """A model download failed; the partial file is kept for resuming unless it was bad."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"download of {url} failed: {problem}")


class ChecksumMismatchError(DownloadError):
    """A downloaded file's sha256 differs from the expected one; the file was deleted."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            url,
            f"sha256 mismatch (expected {expected}, got {actual}); the file was deleted, "
            "check the URL and the checksum and try again",
        )


# --- generation ---------------------------------------------------------------------------


class ContextOverflowError(HomefireError):
    """The prompt (plus the requested output) does not fit in the model's context window."""

    def __init__(self, prompt_tokens: int | None, context_window: int | None, detail: str = ""):
        self.prompt_tokens = prompt_tokens
        self.context_window = context_window
        counts = (
            f"the prompt has {prompt_tokens} tokens but the context window is {context_window}"
            if prompt_tokens is not None and context_window is not None
            else "the prompt does not fit in the context window"
        )
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"{counts}{extra}: shorten the prompt or load the model with a larger context_window"
        )


class GenerationError(HomefireError):
    """The engine or server failed while generating."""


class StreamInterruptedError(GenerationError):
    """A stream ended before the backend said it was complete; the partial text is attached."""

    def __init__(self, message: str, partial_text: str = "") -> None:
        self.partial_text = partial_text
        super().__init__(message)


class StructuredOutputError(GenerationError):
    """The model's answer did not fit the requested schema, even after one retry."""

    def __init__(self, problem: str, raw_text: str) -> None:
        self.problem = problem
        self.raw_text = raw_text
        super().__init__(
            f"the model's answer does not match the requested schema ({problem}); the raw "
            "text is in .raw_text. Try a larger model, a simpler schema or a clearer prompt"
        )


# --- servers and transport ----------------------------------------------------------------


class ServerError(HomefireError):
    """A server answered with an error, or could not be reached."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(message)


class ServerNotRunningError(ServerError):
    """Nothing accepts connections at the URL."""


class NoBackendAvailableError(ServerNotRunningError):
    """No backend of an `hf.Router` could take the request; `reasons` maps each one to why."""

    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = reasons
        listing = "\n".join(f"  {name}: {why}" for name, why in reasons.items())
        super().__init__(
            f"no backend of the router could take the request:\n{listing}\n"
            "start one of them, or check the addresses and keys the router was given"
        )


class WorkerLostError(ServerNotRunningError):
    """The cluster node (an Xinference worker) that holds the model no longer answers its
    supervisor; `worker` is its `host:port`, `status` and `body` the supervisor's answer.

    The request never reached the model, so sending it to another server cannot answer twice.
    """

    def __init__(
        self, message: str, *, worker: str, url: str | None = None, status: int, body: Any = None
    ) -> None:
        self.worker = worker
        self.status = status
        self.body = body
        super().__init__(message, url=url)


class ServerDisconnectedError(ServerError):
    """The server closed the connection before any of its answer arrived.

    Nothing of the answer was received, so sending the request again (to this server once it
    is back, or to another) cannot return it twice.
    """


class APIStatusError(ServerError):
    """The server answered with an HTTP error status."""

    def __init__(
        self, message: str, *, url: str | None = None, status: int, body: Any = None
    ) -> None:
        self.status = status
        self.body = body
        super().__init__(message, url=url)


class AuthenticationError(APIStatusError):
    """The server refused the API key (or wants one)."""


class ModelNotFoundError(APIStatusError):
    """The server does not know the model that was named."""


class ServerBusyError(APIStatusError):
    """The server is loading, rate-limited or out of slots; retrying later may succeed."""


class ProtocolError(ServerError):
    """The server's answer could not be understood (garbage, truncated or wrong shape)."""


class HomefireTimeoutError(HomefireError, TimeoutError):
    """A wait ran past its limit; `which` names the timeout that fired."""

    def __init__(self, which: str, seconds: float, what: str) -> None:
        self.which = which
        self.seconds = seconds
        super().__init__(
            f"{which} timeout of {seconds:g}s fired while {what}; raise the {which} timeout "
            "if the backend is just slow"
        )


# --- warnings -----------------------------------------------------------------------------


class ContextTruncatedWarning(UserWarning):
    """Ollama filled its context window; part of the prompt was probably dropped."""


class GPUUnavailableWarning(UserWarning):
    """GPU layers were asked for, but the engine build has no GPU support: the model runs on
    the CPU. The message says how to install a build that has."""
