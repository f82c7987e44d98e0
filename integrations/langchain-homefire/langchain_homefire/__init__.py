"""LangChain integration for homefire: one interface to every local LLM runtime.

`ChatHomefire` is a chat model and `HomefireEmbeddings` an embeddings model over any homefire
LLM or embedding client; `import homefire` stays lazy, so no engine loads until one is used.
"""

from langchain_homefire.chat_models import ChatHomefire
from langchain_homefire.embeddings import HomefireEmbeddings

__all__ = ["ChatHomefire", "HomefireEmbeddings"]
