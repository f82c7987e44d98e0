"""Recommendations: what fits, monotone in GPU memory, and what to try after running out."""

from __future__ import annotations

import json

import pytest

from homefire import InvalidParameterError, ModelFile, plan
from homefire.planner import GPU, Hardware, recommend, smaller_plan

pytestmark = pytest.mark.unit

GIB = 1024**3
MIB = 1024**2


def machine(ram: int = 64 * GIB, *gpus: int) -> Hardware:
    return Hardware(
        cpu_cores=8,
        cpu_threads=16,
        ram_total_bytes=ram,
        ram_available_bytes=ram,
        gpus=tuple(GPU(i, f"GPU {i}", size, size, "assumed") for i, size in enumerate(gpus)),
    )


def test_cpu_with_ample_ram_gets_the_trained_context(smollm2: ModelFile) -> None:
    rec = recommend(smollm2, hardware=machine())
    assert rec.fits
    assert (rec.n_gpu_layers, rec.context_window, rec.kv_cache_type) == (0, 8192, "f16")
    assert rec.n_threads == 8  # physical cores
    assert (rec.n_batch, rec.n_ubatch, rec.flash_attn, rec.use_mmap) == (2048, 512, True, True)


def test_ample_gpu_takes_every_layer(smollm2: ModelFile) -> None:
    rec = recommend(smollm2, hardware=machine(64 * GIB, 80 * GIB))
    assert rec.n_gpu_layers == 31  # block_count + 1
    assert rec.fits


def test_zero_gpu_memory_gives_zero_layers(smollm2: ModelFile) -> None:
    assert recommend(smollm2, hardware=machine(64 * GIB, 0)).n_gpu_layers == 0


def test_more_gpu_memory_never_gives_fewer_layers(smollm2: ModelFile) -> None:
    previous = -1
    seen = set()
    for size in range(0, 1200 * MIB, 8 * MIB):
        rec = recommend(smollm2, context_window=8192, hardware=machine(64 * GIB, size))
        assert rec.n_gpu_layers >= previous, f"{size / MIB} MiB gave fewer layers"
        previous = rec.n_gpu_layers
        seen.add(rec.n_gpu_layers)
    assert {0, 31} <= seen and len(seen) > 5  # the sweep crossed partial offloads


def test_more_gpu_memory_never_gives_fewer_layers_on_two_gpus(smollm2: ModelFile) -> None:
    previous = -1
    for size in range(0, 900 * MIB, 16 * MIB):
        rec = recommend(smollm2, context_window=4096, hardware=machine(64 * GIB, size, size))
        assert rec.n_gpu_layers >= previous
        previous = rec.n_gpu_layers
    assert previous == 31


def test_plan_fits_within_the_limits(smollm2: ModelFile) -> None:
    for gpu in (450 * MIB, 500 * MIB, 700 * MIB):
        result = plan(smollm2, hardware=machine(64 * GIB, gpu))
        gpu_use = result.memory.device("GPU 0").total_bytes if result.memory.n_gpu_layers else 0
        assert gpu_use <= gpu


def test_tight_ram_shrinks_kv_then_context(smollm2: ModelFile) -> None:
    rec = recommend(smollm2, hardware=machine(260 * MIB))
    assert rec.fits
    assert rec.kv_cache_type == "q8_0" or rec.context_window < 8192
    result = plan(smollm2, hardware=machine(150 * MIB))
    assert result.recommendation.fits
    assert result.memory.total_bytes <= 150 * MIB
    assert result.recommendation.context_window < 8192
    assert any("context" in note for note in result.recommendation.notes)


def test_nothing_fits_names_a_smaller_quantization(smollm2: ModelFile) -> None:
    rec = recommend(smollm2, hardware=machine(70 * MIB))
    assert not rec.fits
    assert rec.smaller_quantization is not None
    assert rec.smaller_quantization in rec.notes[-1]
    hopeless = recommend(smollm2, hardware=machine(5 * MIB))
    assert not hopeless.fits and hopeless.smaller_quantization is None


def test_fixed_context_and_kv_type_are_kept(smollm2: ModelFile) -> None:
    rec = recommend(smollm2, context_window=2048, kv_cache_type="q4_0", hardware=machine())
    assert (rec.context_window, rec.kv_cache_type) == (2048, "q4_0")
    beyond = recommend(smollm2, context_window=16384, hardware=machine())
    assert beyond.context_window == 16384
    assert "beyond" in beyond.notes[0]


def test_smaller_plan_steps_down_layers_then_context(smollm2: ModelFile) -> None:
    first = plan(smollm2, hardware=machine(64 * GIB, 80 * GIB))
    second = smaller_plan(first)
    assert second is not None
    assert second.recommendation.n_gpu_layers == 23
    assert second.memory.device("GPU 0").total_bytes < first.memory.device("GPU 0").total_bytes
    cpu = plan(smollm2, hardware=machine())
    halved = smaller_plan(cpu)
    assert halved is not None and halved.recommendation.context_window == 4096
    assert halved.memory.total_bytes < cpu.memory.total_bytes
    last = plan(smollm2, context_window=256, hardware=machine())
    assert smaller_plan(last) is None


def test_llama_cpp_python_needs_a_bigger_compute_buffer(smollm2: ModelFile) -> None:
    x = plan(smollm2, hardware=machine())
    lcp = plan(smollm2, engine="llama-cpp-python", hardware=machine())
    assert lcp.memory.compute_bytes > 4 * x.memory.compute_bytes  # a ubatch of logits


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"context_window": 0}, "context_window"),
        ({"parallel": 0}, "parallel"),
        ({"n_gpu_layers": -1}, "n_gpu_layers"),
        ({"kv_cache_type": "q3"}, "kv_cache_type"),
        ({"kv_cache_type": "q8_0", "flash_attn": False}, "kv_cache_type"),
        ({"engine": "vllm"}, "engine"),
    ],
)
def test_invalid_parameters(smollm2: ModelFile, kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        plan(smollm2, hardware=machine(), **kwargs)  # type: ignore[arg-type]
    assert info.value.name == name


def test_plan_json(smollm2: ModelFile) -> None:
    data = json.loads(json.dumps(plan(smollm2, hardware=machine(8 * GIB, 6 * GIB)).to_dict()))
    for key in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "total_bytes", "devices"):
        assert key in data["memory"]
    for key in ("n_gpu_layers", "context_window", "kv_cache_type", "flash_attn", "n_threads"):
        assert key in data["recommendation"]
    assert [d["device"] for d in data["memory"]["devices"]] == ["CPU", "GPU 0"]
    assert data["hardware"]["gpus"][0]["free_bytes"] == 6 * GIB
