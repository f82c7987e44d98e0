"""Tiny models for the planner tests, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from homefire import ModelFile, read_model_file
from tinymodels import write_tiny_model

# Different shapes: grouped-query ratios 4, 1 (MHA) and 8 (MQA), tied and untied output,
# four weight types and a sliding-window architecture. Sized so llama.cpp's MiB-rounded logs
# stay precise to well under 1%.
TINY_SHAPES: dict[str, dict[str, object]] = {
    "gqa4_tied_f32": dict(n_embd=256, n_head=8, n_head_kv=2, n_ff=768, n_layer=4, vocab_size=4096),
    "mha_untied_q8": dict(
        n_embd=256, n_head=4, n_head_kv=4, n_ff=1024, n_layer=3, vocab_size=2048,
        tied_output=False, weight_type="Q8_0",
    ),
    "gemma2_swa_f16": dict(
        arch="gemma2", n_embd=256, n_head=4, n_head_kv=2, n_ff=768, n_layer=4, vocab_size=2048,
        sliding_window=512, weight_type="F16",
    ),
    "mqa_q4": dict(n_embd=512, n_head=8, n_head_kv=1, n_ff=1536, n_layer=2, vocab_size=1024,
                   weight_type="Q4_0"),
}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiny-models")
    return {
        name: write_tiny_model(folder / f"{name}.gguf", context_length=16384, **shape)  # type: ignore[arg-type]
        for name, shape in TINY_SHAPES.items()
    }


@pytest.fixture(scope="session")
def smollm2(smollm2_path: Path) -> ModelFile:
    return read_model_file(smollm2_path)
