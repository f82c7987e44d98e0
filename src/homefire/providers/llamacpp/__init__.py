"""In-process llama.cpp: `LlamaCPP` and the two engines it runs on (imported on first use)."""

from homefire.providers.llamacpp.model import CONTEXT_CAP, ENGINES, LlamaCPP

__all__ = ["CONTEXT_CAP", "ENGINES", "LlamaCPP"]
