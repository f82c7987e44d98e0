"""Memory estimates: llama.cpp's exact rules for KV cache, padding, layers and placement."""

from __future__ import annotations

from pathlib import Path

import pytest

from homefire import InvalidParameterError, ModelFile, read_model_file
from homefire.planner.memory import (
    estimate_memory,
    gpu_layer_range,
    kv_cache_cells,
    sliding_window_layers,
)

pytestmark = pytest.mark.unit

MIB = 1024 * 1024


def test_kv_cache_matches_llamacpp_exactly(smollm2: ModelFile) -> None:
    # llama.cpp logs "KV buffer size = 90.00 MiB" for SmolLM2 at 4096 f16
    f16 = estimate_memory(smollm2, context_window=4096).kv_cache_bytes
    assert f16 == 90 * MIB
    q8 = estimate_memory(smollm2, context_window=4096, kv_cache_type="q8_0").kv_cache_bytes
    q4 = estimate_memory(smollm2, context_window=4096, kv_cache_type="q4_0").kv_cache_bytes
    assert q8 * 64 == f16 * 34  # 34 bytes per 32 values instead of 64
    assert q4 * 64 == f16 * 18
    f32 = estimate_memory(smollm2, context_window=4096, kv_cache_type="F32").kv_cache_bytes
    assert f32 == 2 * f16


def test_context_is_padded_to_256(smollm2: ModelFile) -> None:
    a = estimate_memory(smollm2, context_window=1000)
    b = estimate_memory(smollm2, context_window=1024)
    assert a.context_window == 1024
    assert a.kv_cache_bytes == b.kv_cache_bytes


def test_sequences_get_their_own_padded_stream() -> None:
    assert kv_cache_cells(1000, 3, kv_unified=False) == (1536, 512, 3)
    assert kv_cache_cells(1000, 3, kv_unified=True) == (1024, 1024, 1)
    assert kv_cache_cells(8192, 4, kv_unified=False) == (8192, 2048, 4)


def test_output_buffer_holds_one_row_of_logits_per_sequence(smollm2: ModelFile) -> None:
    one = estimate_memory(smollm2, context_window=4096)
    two = estimate_memory(smollm2, context_window=4096, parallel=2)
    assert one.output_bytes == 49152 * 4
    assert two.output_bytes == 2 * one.output_bytes


def test_sliding_window_layers_are_capped(tiny_models: dict[str, Path]) -> None:
    model = read_model_file(tiny_models["gemma2_swa_f16"])
    assert sliding_window_layers(model) == (True, False, True, False)  # gemma2: every other
    row = 2 * 64 * 2 * 2  # 2 KV heads x 64 dims, K and V, f16
    memory = estimate_memory(model, context_window=8192, n_ubatch=512)
    window_cells = 1024  # window 512 + ubatch 512, padded to 256
    assert memory.kv_cache_bytes == 2 * 8192 * row + 2 * window_cells * row
    full = estimate_memory(model, context_window=8192, swa_full=True)
    assert full.kv_cache_bytes == 4 * 8192 * row


def test_windows_never_exceed_the_context(tiny_models: dict[str, Path]) -> None:
    model = read_model_file(tiny_models["gemma2_swa_f16"])
    small = estimate_memory(model, context_window=512)
    assert small.kv_cache_bytes == 4 * 512 * (2 * 64 * 2 * 2)


def test_gpu_layer_rule_counts_the_output_as_the_last_layer() -> None:
    assert list(gpu_layer_range(30, 0)) == []
    assert list(gpu_layer_range(30, 1)) == [30]  # the output layer goes first
    assert list(gpu_layer_range(30, 2)) == [29, 30]
    assert list(gpu_layer_range(30, 31)) == list(range(31))  # all = block_count + 1
    assert list(gpu_layer_range(30, 99)) == list(range(31))


def test_tied_output_is_counted_where_it_lives(smollm2: ModelFile) -> None:
    embeddings = next(t.n_bytes for t in smollm2.tensors if t.name == "token_embd.weight")
    cpu_only = estimate_memory(smollm2, context_window=4096)
    assert cpu_only.weights_bytes == smollm2.tensor_bytes  # mapped once, used twice
    output_only = estimate_memory(smollm2, context_window=4096, n_gpu_layers=1, gpu_count=1)
    gpu = output_only.device("GPU 0")
    output_norm = next(t.n_bytes for t in smollm2.tensors if t.name == "output_norm.weight")
    assert gpu.weights_bytes == embeddings + output_norm  # the output's copy of the embeddings
    assert gpu.kv_cache_bytes == 0  # the output layer has no KV cache
    everything = estimate_memory(smollm2, context_window=4096, n_gpu_layers=31, gpu_count=1)
    assert everything.device("CPU").weights_bytes == embeddings  # inputs stay on the host
    assert everything.device("GPU 0").weights_bytes == smollm2.tensor_bytes
    assert everything.device("GPU 0").kv_cache_bytes == 90 * MIB
    assert everything.device("CPU").kv_cache_bytes == 0


def test_layers_are_split_across_gpus(smollm2: ModelFile) -> None:
    memory = estimate_memory(
        smollm2, context_window=4096, n_gpu_layers=31, gpu_count=2, gpu_split=[3, 1]
    )
    assert memory.device("GPU 0").layers + memory.device("GPU 1").layers == 31
    assert memory.device("GPU 0").layers > 2 * memory.device("GPU 1").layers
    assert memory.device("CPU").layers == 0


def test_no_gpu_means_no_gpu_layers(smollm2: ModelFile) -> None:
    memory = estimate_memory(smollm2, context_window=4096, n_gpu_layers=31, gpu_count=0)
    assert memory.n_gpu_layers == 0
    assert [d.device for d in memory.devices] == ["CPU"]


def test_quantized_kv_cache_needs_flash_attention(smollm2: ModelFile) -> None:
    with pytest.raises(InvalidParameterError, match="flash attention"):
        estimate_memory(smollm2, context_window=4096, kv_cache_type="q8_0", flash_attn=False)


def test_unknown_kv_type(smollm2: ModelFile) -> None:
    with pytest.raises(InvalidParameterError, match="q3_k"):
        estimate_memory(smollm2, context_window=4096, kv_cache_type="q3_k")


def test_compute_grows_with_context_and_ubatch(smollm2: ModelFile) -> None:
    def compute(**kw: int) -> int:
        return estimate_memory(smollm2, **kw).compute_bytes  # type: ignore[arg-type]

    assert compute(context_window=8192) > compute(context_window=4096)
    assert compute(context_window=4096, n_ubatch=128) < compute(context_window=4096)
    # without flash attention every head's scores are materialized
    no_fa = estimate_memory(smollm2, context_window=8192, flash_attn=False).compute_bytes
    assert no_fa > compute(context_window=8192)


def test_to_dict_has_the_documented_keys(smollm2: ModelFile) -> None:
    data = estimate_memory(smollm2, context_window=4096).to_dict()
    for key in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "total_bytes", "devices"):
        assert key in data
    assert data["devices"][0]["device"] == "CPU"
    assert data["total_bytes"] == sum(d["total_bytes"] for d in data["devices"])
