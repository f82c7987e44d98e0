"""homefire: one fast, typed interface to every local LLM runtime.

`import homefire` loads nothing but this table: each public name is imported from its
module on first use, so no provider, engine, CLI or framework is loaded until needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # types
    "ChatMessage": "homefire.types",
    "MessageRole": "homefire.types",
    "ChatResponse": "homefire.types",
    "CompletionResponse": "homefire.types",
    "Usage": "homefire.types",
    "Timings": "homefire.types",
    "LLMMetadata": "homefire.types",
    "ModelInfo": "homefire.types",
    "ToolCall": "homefire.types",
    "system": "homefire.types",
    "user": "homefire.types",
    "assistant": "homefire.types",
    "tool": "homefire.types",
    "GenerationOptions": "homefire.options",
    # the base classes
    "LLM": "homefire.llm",
    "CustomLLM": "homefire.custom",
    # errors
    "HomefireError": "homefire.errors",
    "InvalidParameterError": "homefire.errors",
    "MissingDependencyError": "homefire.errors",
    "NotSupportedError": "homefire.errors",
    "ModelFileError": "homefire.errors",
    "ChatTemplateError": "homefire.errors",
    "DownloadError": "homefire.errors",
    "ChecksumMismatchError": "homefire.errors",
    "ContextOverflowError": "homefire.errors",
    "GenerationError": "homefire.errors",
    "StreamInterruptedError": "homefire.errors",
    "ServerError": "homefire.errors",
    "ServerNotRunningError": "homefire.errors",
    "APIStatusError": "homefire.errors",
    "AuthenticationError": "homefire.errors",
    "ModelNotFoundError": "homefire.errors",
    "ServerBusyError": "homefire.errors",
    "ProtocolError": "homefire.errors",
    "HomefireTimeoutError": "homefire.errors",
    # providers
    "LlamaCPP": "homefire.providers.llamacpp",
    "download_model": "homefire.download",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'homefire' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from homefire.custom import CustomLLM
    from homefire.download import download_model
    from homefire.errors import (
        APIStatusError,
        AuthenticationError,
        ChatTemplateError,
        ChecksumMismatchError,
        ContextOverflowError,
        DownloadError,
        GenerationError,
        HomefireError,
        HomefireTimeoutError,
        InvalidParameterError,
        MissingDependencyError,
        ModelFileError,
        ModelNotFoundError,
        NotSupportedError,
        ProtocolError,
        ServerBusyError,
        ServerError,
        ServerNotRunningError,
        StreamInterruptedError,
    )
    from homefire.llm import LLM
    from homefire.options import GenerationOptions
    from homefire.providers.llamacpp import LlamaCPP
    from homefire.types import (
        ChatMessage,
        ChatResponse,
        CompletionResponse,
        LLMMetadata,
        MessageRole,
        ModelInfo,
        Timings,
        ToolCall,
        Usage,
        assistant,
        system,
        tool,
        user,
    )
