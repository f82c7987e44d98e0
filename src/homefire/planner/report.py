"""A GGUF file described for people and for JSON: what `homefire inspect` prints."""

from __future__ import annotations

from collections import Counter
from typing import Any

from homefire.modelfiles.gguf import ModelFile
from homefire.planner.memory import sliding_window_layers

__all__ = ["describe_model"]


def describe_model(model: ModelFile) -> dict[str, Any]:
    """The facts a user asks about a model file, as plain JSON-ready values."""
    counts: Counter[str] = Counter(t.type_name for t in model.tensors)
    swa = sliding_window_layers(model)
    return {
        "path": str(model.path),
        "file_size": model.file_size,
        "gguf_version": model.gguf_version,
        "architecture": model.architecture,
        "name": model.name,
        "parameters": model.parameter_count,
        "quantization": model.quantization,
        "bits_per_weight": round(model.bits_per_weight, 3),
        "block_count": model.block_count,
        "context_length": model.context_length,
        "embedding_length": model.embedding_length,
        "feed_forward_length": model.feed_forward_length,
        "head_count": _uniform(model.head_count_per_layer, model.head_count),
        "head_count_kv": _uniform(model.head_count_kv_per_layer, model.head_count_kv),
        "key_length": model.key_length,
        "value_length": model.value_length,
        "sliding_window": model.sliding_window,
        "sliding_window_layers": sum(swa) if any(swa) else None,
        "expert_count": model.expert_count,
        "expert_used_count": model.expert_used_count,
        "vocab_size": model.vocab_size,
        "tokenizer": model.tokenizer_model,
        "bos_token": model.bos_token,
        "eos_token": model.eos_token,
        "has_chat_template": model.chat_template is not None,
        "tensor_count": len(model.tensors),
        "tensor_types": dict(counts.most_common()),
    }


def _uniform(per_layer: tuple[int, ...], single: int | None) -> int | list[int] | None:
    """One number when every layer agrees, else the per-layer list."""
    return single if len(set(per_layer)) <= 1 else list(per_layer)
