"""LlamaIndex LLMs on homefire: `HomefireLLM` over any homefire LLM, and drop-ins that keep
the names and arguments of LlamaIndex's own local-LLM classes."""

from llama_index.llms.homefire.base import HomefireLLM
from llama_index.llms.homefire.drop_ins import (
    LlamaCPP,
    Llamafile,
    LMStudio,
    LocalAI,
    Ollama,
    OpenAILike,
    Xinference,
)

__all__ = [
    "HomefireLLM",
    "LMStudio",
    "LlamaCPP",
    "Llamafile",
    "LocalAI",
    "Ollama",
    "OpenAILike",
    "Xinference",
]
