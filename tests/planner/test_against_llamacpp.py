"""Estimates against the sizes llama.cpp itself logs when it loads the model, on the CPU.

Weights and KV cache must agree within 1%, the total within 5%, for SmolLM2 and tiny models
of several shapes, across contexts, KV cache types and both in-process engines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from llamacpp_sizes import LoggedSizes, logged_sizes

from homefire import read_model_file
from homefire.planner import estimate_memory

pytestmark = pytest.mark.integration

pytest.importorskip("xllamacpp")

# (context, KV type, parallel sequences, flash attention)
XLLAMACPP_CASES = [
    (2048, "f16", 1, True),
    (4096, "q8_0", 1, True),
    (8192, "q4_0", 1, True),
    (3000, "f16", 2, True),
    (2048, "f32", 1, False),
]
LLAMA_CPP_PYTHON_CASES = [(2048, "f16", 1, True), (4096, "q8_0", 1, True)]


def _check(path: Path, logged: LoggedSizes, **settings: object) -> None:
    est = estimate_memory(read_model_file(path), **settings)  # type: ignore[arg-type]
    report = (
        f"{path.name} {settings}: estimated weights {est.weights_bytes}, KV {est.kv_cache_bytes}, "
        f"compute {est.compute_bytes}, total {est.total_bytes}; llama.cpp logged {logged}"
    )
    assert est.weights_bytes == pytest.approx(logged.weights, rel=0.01), report
    assert est.kv_cache_bytes == pytest.approx(logged.kv_cache, rel=0.01), report
    assert est.total_bytes == pytest.approx(logged.total, rel=0.05), report


def _models(smollm2_path: Path, tiny_models: dict[str, Path]) -> dict[str, Path]:
    return {"smollm2": smollm2_path, **tiny_models}


@pytest.mark.parametrize(("ctx", "kv", "parallel", "fa"), XLLAMACPP_CASES)
def test_xllamacpp(
    smollm2_path: Path, tiny_models: dict[str, Path], ctx: int, kv: str, parallel: int, fa: bool
) -> None:
    for path in _models(smollm2_path, tiny_models).values():
        logged = logged_sizes(
            path,
            n_ctx=ctx,
            kv_type=kv,
            parallel=parallel,
            flash_attn="LLAMA_FLASH_ATTN_TYPE_" + ("ENABLED" if fa else "DISABLED"),
        )
        _check(path, logged, context_window=ctx, kv_cache_type=kv, parallel=parallel, flash_attn=fa)


@pytest.mark.parametrize(("ctx", "kv", "parallel", "fa"), LLAMA_CPP_PYTHON_CASES)
def test_llama_cpp_python(
    smollm2_path: Path, tiny_models: dict[str, Path], ctx: int, kv: str, parallel: int, fa: bool
) -> None:
    pytest.importorskip("llama_cpp")
    for path in _models(smollm2_path, tiny_models).values():
        logged = logged_sizes(path, n_ctx=ctx, kv_type=kv, engine="llama-cpp-python")
        # llama-cpp-python keeps llama.cpp's defaults: full-size sliding-window caches and
        # logits for every token of a ubatch
        _check(path, logged, context_window=ctx, kv_cache_type=kv, swa_full=True, n_outputs=512)
