"""The package face: every public name resolves, type checkers see the same names, none lost."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import homefire as hf
from homefire.errors import HomefireError

pytestmark = pytest.mark.unit

# The public names of the first release: later versions may add names, never drop one.
FIRST_RELEASE = {
    "APIStatusError", "AuthenticationError", "ChatMessage", "ChatResponse", "ChatTemplateError",
    "ChecksumMismatchError", "CompletionResponse", "ContextOverflowError", "CustomLLM",
    "DownloadError", "Embedding", "GenerationError", "GenerationOptions", "HomefireError",
    "HomefireTimeoutError", "InsufficientMemoryError", "InvalidParameterError", "LLM",
    "LLMMetadata", "LMStudio", "LlamaCPP", "LlamaCppServer", "Llamafile", "LocalAI",
    "MessageRole", "MissingDependencyError", "ModelFile", "ModelFileError", "ModelInfo",
    "ModelNotFoundError", "NotSupportedError", "Ollama", "OpenAILike", "ProtocolError",
    "RetryPolicy", "ServerBusyError", "ServerError", "ServerNotRunningError",
    "StreamInterruptedError", "StructuredOutputError", "Timeouts", "Timings", "ToolCall", "Usage",
    "Xinference", "assistant", "connect", "detect_hardware", "discover", "download_model",
    "launch", "plan", "read_model_file", "run_tool_calls", "system", "tool", "tool_spec", "user",
}  # fmt: skip


def _type_checking_names() -> set[str]:
    """The names the face's `if TYPE_CHECKING:` block re-exports (`import X as X`)."""
    tree = ast.parse(Path(inspect.getfile(hf)).read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    return {
        alias.asname or alias.name
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_type_checkers_see_exactly_the_runtime_names() -> None:
    assert _type_checking_names() == set(hf._EXPORTS)


def test_every_public_name_resolves() -> None:
    for name in hf.__all__:
        assert getattr(hf, name) is not None, name


def test_no_public_name_of_the_first_release_is_gone() -> None:
    assert set(dir(hf)) >= FIRST_RELEASE


def test_every_error_class_lives_in_errors_and_is_exported() -> None:
    import homefire.errors as errors

    classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, HomefireError | Warning)
    }
    assert classes <= set(hf.__all__)
    hierarchy = errors.__doc__ or ""
    assert all(name in hierarchy for name in classes)
