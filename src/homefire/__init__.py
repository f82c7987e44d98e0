"""homefire: one fast, typed interface to every local LLM runtime.

`import homefire` loads nothing but this table (and the provider registry it reads, a table
too): each public name is imported from its module on first use, so no provider, engine, CLI
or framework is loaded until needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from homefire._version import __version__
from homefire.providers._registry import public_classes

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
    "LLM": "homefire.llm.base",
    "CustomLLM": "homefire.llm.custom",
    "Progress": "homefire.progress",
    # errors
    "HomefireError": "homefire.errors",
    "EngineLoadError": "homefire.errors",
    "NoBackendAvailableError": "homefire.errors",
    "ServerDisconnectedError": "homefire.errors",
    "ContextTruncatedWarning": "homefire.errors",
    "GPUUnavailableWarning": "homefire.errors",
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
    "WorkerLostError": "homefire.errors",
    "APIStatusError": "homefire.errors",
    "AuthenticationError": "homefire.errors",
    "ModelNotFoundError": "homefire.errors",
    "ServerBusyError": "homefire.errors",
    "ProtocolError": "homefire.errors",
    "HomefireTimeoutError": "homefire.errors",
    "StructuredOutputError": "homefire.errors",
    # tools, structured output and embeddings
    "tool_spec": "homefire.llm.tools",
    "run_tool_calls": "homefire.llm.tools",
    "TemplateLimits": "homefire.llm.templates",
    "Embedding": "homefire.providers.embedding",
    # providers (their classes come from the registry, below), connecting and serving
    "LlamaCppServer": "homefire.providers.llamafile",
    "Router": "homefire.servers.router",
    "connect": "homefire.servers.connect",
    "discover": "homefire.servers.discover",
    "launch": "homefire.servers.launch",
    "Timeouts": "homefire.http.config",
    "RetryPolicy": "homefire.http.config",
    "download_model": "homefire.modelfiles.download",
    # model files and the hardware-aware planner
    "ModelFile": "homefire.modelfiles.gguf",
    "read_model_file": "homefire.modelfiles.gguf",
    "plan": "homefire.planner",
    "detect_hardware": "homefire.planner",
    # measuring backends
    "bench": "homefire.servers.bench",
    **public_classes(),
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
    from homefire.errors import APIStatusError as APIStatusError
    from homefire.errors import AuthenticationError as AuthenticationError
    from homefire.errors import ChatTemplateError as ChatTemplateError
    from homefire.errors import ChecksumMismatchError as ChecksumMismatchError
    from homefire.errors import ContextOverflowError as ContextOverflowError
    from homefire.errors import ContextTruncatedWarning as ContextTruncatedWarning
    from homefire.errors import DownloadError as DownloadError
    from homefire.errors import EngineLoadError as EngineLoadError
    from homefire.errors import GenerationError as GenerationError
    from homefire.errors import GPUUnavailableWarning as GPUUnavailableWarning
    from homefire.errors import HomefireError as HomefireError
    from homefire.errors import HomefireTimeoutError as HomefireTimeoutError
    from homefire.errors import InsufficientMemoryError as InsufficientMemoryError
    from homefire.errors import InvalidParameterError as InvalidParameterError
    from homefire.errors import MissingDependencyError as MissingDependencyError
    from homefire.errors import ModelFileError as ModelFileError
    from homefire.errors import ModelNotFoundError as ModelNotFoundError
    from homefire.errors import NoBackendAvailableError as NoBackendAvailableError
    from homefire.errors import NotSupportedError as NotSupportedError
    from homefire.errors import ProtocolError as ProtocolError
    from homefire.errors import ServerBusyError as ServerBusyError
    from homefire.errors import ServerDisconnectedError as ServerDisconnectedError
    from homefire.errors import ServerError as ServerError
    from homefire.errors import ServerNotRunningError as ServerNotRunningError
    from homefire.errors import StreamInterruptedError as StreamInterruptedError
    from homefire.errors import StructuredOutputError as StructuredOutputError
    from homefire.errors import WorkerLostError as WorkerLostError
    from homefire.http.config import RetryPolicy as RetryPolicy
    from homefire.http.config import Timeouts as Timeouts
    from homefire.llm.base import LLM as LLM
    from homefire.llm.custom import CustomLLM as CustomLLM
    from homefire.llm.templates import TemplateLimits as TemplateLimits
    from homefire.llm.tools import run_tool_calls as run_tool_calls
    from homefire.llm.tools import tool_spec as tool_spec
    from homefire.modelfiles.download import download_model as download_model
    from homefire.modelfiles.gguf import ModelFile as ModelFile
    from homefire.modelfiles.gguf import read_model_file as read_model_file
    from homefire.options import GenerationOptions as GenerationOptions
    from homefire.planner import detect_hardware as detect_hardware
    from homefire.planner import plan as plan
    from homefire.progress import Progress as Progress
    from homefire.providers.embedding import Embedding as Embedding
    from homefire.providers.llamacpp.model import LlamaCPP as LlamaCPP
    from homefire.providers.llamafile import LlamaCppServer as LlamaCppServer
    from homefire.providers.llamafile import Llamafile as Llamafile
    from homefire.providers.lmstudio import LMStudio as LMStudio
    from homefire.providers.localai import LocalAI as LocalAI
    from homefire.providers.ollama import Ollama as Ollama
    from homefire.providers.openai_like import OpenAILike as OpenAILike
    from homefire.providers.xinference import Xinference as Xinference
    from homefire.servers.bench import bench as bench
    from homefire.servers.connect import connect as connect
    from homefire.servers.discover import discover as discover
    from homefire.servers.launch import launch as launch
    from homefire.servers.router import Router as Router
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
