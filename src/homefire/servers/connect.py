"""`hf.connect(spec)`: one string (or a configured name) to a ready-to-use LLM.

A spec is anything `servers.specs` reads ("lmstudio://host:1234/model", "ollama:llama3.2",
"llamacpp:/path/model.gguf", "http://host:port", or a name from the config file). A
configured name may also be a router over several endpoints (see `hf.Router`):

    [endpoints.team]
    provider = "router"
    strategy = "least-busy"               # or round-robin, fallback
    backends = ["work", "http://127.0.0.1:8081", "ollama:llama3.2"]
"""

from __future__ import annotations

from typing import Any

from homefire.llm.base import LLM
from homefire.servers.router import connect_spec


def connect(spec: str, **kwargs: Any) -> LLM:
    """The LLM a spec names; extra keyword arguments go to the provider (for a configured
    router: they override its table's keys)."""
    return connect_spec(spec, **kwargs)
