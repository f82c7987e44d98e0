"""LlamaIndex embeddings on homefire: `HomefireEmbedding` over an embedding endpoint or any
homefire LLM that can embed."""

from llama_index.embeddings.homefire.base import HomefireEmbedding

__all__ = ["HomefireEmbedding"]
