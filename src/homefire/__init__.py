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
    "InsufficientMemoryError": "homefire.errors",
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
    "StructuredOutputError": "homefire.errors",
    # tools, structured output and embeddings
    "tool_spec": "homefire.tools",
    "run_tool_calls": "homefire.tools",
    "Embedding": "homefire.embeddings",
    # providers
    "LlamaCPP": "homefire.providers.llamacpp",
    "Llamafile": "homefire.providers.llamafile",
    "LlamaCppServer": "homefire.providers.llamafile",
    "OpenAILike": "homefire.providers.openai_like",
    "LMStudio": "homefire.providers.lmstudio",
    "LocalAI": "homefire.providers.localai",
    "Xinference": "homefire.providers.xinference",
    "Ollama": "homefire.providers.ollama",
    "connect": "homefire.endpoints",
    "discover": "homefire.discovery",
    "launch": "homefire.launch",
    "Timeouts": "homefire.http.config",
    "RetryPolicy": "homefire.http.config",
    "download_model": "homefire.download",
    # model files and the hardware-aware planner
    "ModelFile": "homefire.modelfile",
    "read_model_file": "homefire.modelfile",
    "plan": "homefire.planner",
    "detect_hardware": "homefire.planner",
    # measuring backends
    "bench": "homefire.benchmark",
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
    # `X as X` marks each name as re-exported for type checkers.
    from homefire.benchmark import bench as bench
    from homefire.custom import CustomLLM as CustomLLM
    from homefire.discovery import discover as discover
    from homefire.download import download_model as download_model
    from homefire.embeddings import Embedding as Embedding
    from homefire.endpoints import connect as connect
    from homefire.errors import APIStatusError as APIStatusError
    from homefire.errors import AuthenticationError as AuthenticationError
    from homefire.errors import ChatTemplateError as ChatTemplateError
    from homefire.errors import ChecksumMismatchError as ChecksumMismatchError
    from homefire.errors import ContextOverflowError as ContextOverflowError
    from homefire.errors import DownloadError as DownloadError
    from homefire.errors import GenerationError as GenerationError
    from homefire.errors import HomefireError as HomefireError
    from homefire.errors import HomefireTimeoutError as HomefireTimeoutError
    from homefire.errors import InsufficientMemoryError as InsufficientMemoryError
    from homefire.errors import InvalidParameterError as InvalidParameterError
    from homefire.errors import MissingDependencyError as MissingDependencyError
    from homefire.errors import ModelFileError as ModelFileError
    from homefire.errors import ModelNotFoundError as ModelNotFoundError
    from homefire.errors import NotSupportedError as NotSupportedError
    from homefire.errors import ProtocolError as ProtocolError
    from homefire.errors import ServerBusyError as ServerBusyError
    from homefire.errors import ServerError as ServerError
    from homefire.errors import ServerNotRunningError as ServerNotRunningError
    from homefire.errors import StreamInterruptedError as StreamInterruptedError
    from homefire.errors import StructuredOutputError as StructuredOutputError
    from homefire.http.config import RetryPolicy as RetryPolicy
    from homefire.http.config import Timeouts as Timeouts
    from homefire.launch import launch as launch
    from homefire.llm import LLM as LLM
    from homefire.modelfile import ModelFile as ModelFile
    from homefire.modelfile import read_model_file as read_model_file
    from homefire.options import GenerationOptions as GenerationOptions
    from homefire.planner import detect_hardware as detect_hardware
    from homefire.planner import plan as plan
    from homefire.providers.llamacpp import LlamaCPP as LlamaCPP
    from homefire.providers.llamafile import LlamaCppServer as LlamaCppServer
    from homefire.providers.llamafile import Llamafile as Llamafile
    from homefire.providers.lmstudio import LMStudio as LMStudio
    from homefire.providers.localai import LocalAI as LocalAI
    from homefire.providers.ollama import Ollama as Ollama
    from homefire.providers.openai_like import OpenAILike as OpenAILike
    from homefire.providers.xinference import Xinference as Xinference
    from homefire.tools import run_tool_calls as run_tool_calls
    from homefire.tools import tool_spec as tool_spec
    from homefire.types import ChatMessage as ChatMessage
    from homefire.types import ChatResponse as ChatResponse
    from homefire.types import CompletionResponse as CompletionResponse
    from homefire.types import LLMMetadata as LLMMetadata
    from homefire.types import MessageRole as MessageRole
    from homefire.types import ModelInfo as ModelInfo
    from homefire.types import Timings as Timings
    from homefire.types import ToolCall as ToolCall
    from homefire.types import Usage as Usage
    from homefire.types import assistant as assistant
    from homefire.types import system as system
    from homefire.types import tool as tool
    from homefire.types import user as user
