"""`n_gpu_layers="auto"` / `context_window="auto"`: planned loads, refusals and the OOM retry.

The out-of-memory tests make real loads fail for memory in a child process whose address
space is capped (RLIMIT_AS), so no allocation there can touch more than a few GiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from inprocess_helpers import ENGINES, require

import homefire as hf
from homefire.modelfiles.gguf import read_model_file
from homefire.planner import Hardware, detect_hardware, plan
from homefire.providers.llamacpp import CONTEXT_CAP

TIMEOUT_S = 120
GIB = 1024**3


@pytest.fixture(scope="module")
def auto_llm(engine: str, smollm2_path: Path) -> Iterator[hf.LlamaCPP]:
    model = hf.LlamaCPP(
        smollm2_path, engine=engine, n_threads=2, n_gpu_layers="auto", context_window="auto"
    )
    yield model
    model.close()


def _with_ram(engine: str, model: Path, context: int) -> Hardware:
    """This machine, said to have just enough RAM for `context` tokens and not many more."""
    needed = plan(model, context_window=context, engine=engine).memory.total_bytes
    return detect_hardware().with_overrides(gpu_memory=[], ram=int(needed / 0.9))


@pytest.mark.unit
@pytest.mark.parametrize(
    ("settings", "name"),
    [
        ({"n_gpu_layers": "banana"}, "n_gpu_layers"),
        ({"n_gpu_layers": -5}, "n_gpu_layers"),
        ({"n_gpu_layers": "AUTO"}, "n_gpu_layers"),
        ({"context_window": "banana"}, "context_window"),
        ({"context_window": -5}, "context_window"),
        ({"n_gpu_layers": "auto", "hardware": "8 GiB"}, "hardware"),
        ({"hardware": Hardware(2, 2, GIB, GIB)}, "hardware"),
    ],
)
def test_bad_auto_settings_fail_before_loading(
    settings: dict[str, Any], name: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model.gguf"  # a load would fail with ModelFileError
    with pytest.raises(hf.InvalidParameterError) as info:
        hf.LlamaCPP(missing, **settings)
    assert info.value.name == name


@pytest.mark.integration
def test_auto_loads_what_the_planner_chose(auto_llm: hf.LlamaCPP, smollm2_path: Path) -> None:
    chosen = auto_llm.plan
    assert chosen is not None and chosen.recommendation.fits
    assert chosen.model.path == smollm2_path
    if not detect_hardware().gpus:
        assert chosen.recommendation.n_gpu_layers == 0
    trained = auto_llm.model_file.context_length or 0
    assert auto_llm.context_window == chosen.recommendation.context_window
    assert auto_llm.context_window == min(trained, CONTEXT_CAP)
    summary = auto_llm.metadata.extra["plan"]
    assert summary["context_window"] == auto_llm.context_window
    assert summary["n_gpu_layers"] == chosen.recommendation.n_gpu_layers
    assert summary["cache_type_k"] == chosen.recommendation.kv_cache_type
    assert summary["estimated_bytes"] == chosen.memory.total_bytes
    answer = auto_llm.complete("The capital of France is", max_tokens=4, temperature=0)
    assert answer.text.strip()


@pytest.mark.integration
def test_without_auto_there_is_no_plan(llm: hf.LlamaCPP) -> None:
    assert llm.plan is None
    assert "plan" not in llm.metadata.extra


@pytest.mark.integration
def test_explicit_settings_are_kept_alongside_auto(engine: str, smollm2_path: Path) -> None:
    with closing(
        hf.LlamaCPP(
            smollm2_path,
            engine=engine,
            n_threads=2,
            n_gpu_layers="auto",
            context_window=1024,
            kv_cache_type="q8_0",
            n_batch=256,
        )
    ) as model:
        assert model.context_window == 1024
        assert model.plan is not None
        rec = model.plan.recommendation
        assert (rec.context_window, rec.kv_cache_type) == (1024, "q8_0")
        summary = model.metadata.extra["plan"]
        assert (summary["cache_type_k"], summary["cache_type_v"]) == ("q8_0", "q8_0")
        assert (summary["n_batch"], summary["n_ubatch"]) == (256, 256)


@pytest.mark.integration
def test_auto_context_shrinks_to_what_fits(engine: str, smollm2_path: Path) -> None:
    hardware = _with_ram(engine, smollm2_path, 2048)
    with closing(
        hf.LlamaCPP(
            smollm2_path,
            engine=engine,
            n_threads=2,
            n_parallel=1,
            n_gpu_layers=0,
            context_window="auto",
            hardware=hardware,
        )
    ) as model:
        assert 2048 <= model.context_window < CONTEXT_CAP
        assert model.plan is not None and model.plan.hardware == hardware
        assert model.plan.recommendation.n_gpu_layers == 0
        assert any("context fits" in note for note in model.plan.recommendation.notes)
        fitting = model.context_window
    # The same machine with the context fixed by the user: refused, with the one that fits.
    with pytest.raises(hf.InsufficientMemoryError) as info:
        hf.LlamaCPP(
            smollm2_path,
            engine=engine,
            n_parallel=1,
            n_gpu_layers="auto",
            context_window=CONTEXT_CAP,
            hardware=hardware,
        )
    error = info.value
    assert f"context_window={fitting}" in str(error)
    assert error.needed_bytes is not None and error.available_bytes is not None
    assert error.needed_bytes > error.available_bytes * 0.95


@pytest.mark.integration
def test_nothing_fits_is_refused_before_loading(engine: str, smollm2_path: Path) -> None:
    tiny = detect_hardware().with_overrides(gpu_memory=[], ram=16 * 1024**2)
    with pytest.raises(hf.InsufficientMemoryError) as info:
        hf.LlamaCPP(
            smollm2_path, engine=engine, n_gpu_layers="auto", context_window="auto", hardware=tiny
        )
    message = str(info.value)
    assert "SmolLM2-135M-Instruct" in message and "16.0 MiB" in message
    assert "Free some memory" in message


@pytest.mark.integration
def test_load_model_plans_again(engine: str, tiny_model: Path, smollm2_path: Path) -> None:
    with closing(
        hf.LlamaCPP(
            tiny_model, engine=engine, n_threads=2, n_gpu_layers="auto", context_window="auto"
        )
    ) as model:
        assert model.plan is not None and model.plan.model.path == tiny_model
        assert model.context_window == model.model_file.context_length
        model.load_model(smollm2_path)
        assert model.plan.model.path == smollm2_path
        assert model.context_window == CONTEXT_CAP
        assert model.metadata.extra["plan"]["context_window"] == CONTEXT_CAP


# --- real out-of-memory loads, in a child process with a capped address space -------------

_CHILD = textwrap.dedent(
    """
    import json, re, resource, sys
    import homefire as hf
    from homefire.planner import detect_hardware, plan

    mode, engine, path = sys.argv[1:4]

    def vm_size():
        status = open("/proc/self/status").read()
        return int(re.search(r"VmSize:\\s+(\\d+) kB", status).group(1)) * 1024

    def result(error):
        return {"error": type(error).__name__, "message": str(error),
                "model_file_error": isinstance(error, hf.ModelFileError)}

    if mode == "huge":
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        # Planned for a machine with a 1 TiB GPU; here the layers stay on the CPU, and the
        # 16M-token KV cache (about 370 GiB) cannot be allocated.
        big = detect_hardware().with_overrides(gpu_memory=[1 << 40], ram=1 << 40)
        out = {}
        for name, layers in (("auto", "auto"), ("fixed", 31)):
            try:
                hf.LlamaCPP(path, engine=engine, n_threads=2, n_gpu_layers=layers,
                            context_window=1 << 24, hardware=big if layers == "auto" else None)
                out[name] = {"error": None}
            except hf.HomefireError as error:
                out[name] = result(error)
    else:
        # Measure the process with the half-size context loaded, then cap its address space
        # halfway between that and what the full auto context needs.
        settings = dict(engine=engine, n_threads=2, n_gpu_layers=0)
        with hf.LlamaCPP(path, context_window=4096, **settings) as model:
            loaded = vm_size()
            slots = model.metadata.extra["n_parallel"]
        sizes = [plan(path, context_window=c, parallel=slots, engine=engine).memory.total_bytes
                 for c in (4096, 8192)]
        limit = loaded + (sizes[1] - sizes[0]) // 2
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        big = detect_hardware().with_overrides(gpu_memory=[], ram=1 << 40)
        try:
            with hf.LlamaCPP(path, context_window="auto", hardware=big, **settings) as model:
                out = {"error": None, "context": model.context_window,
                       "notes": list(model.plan.recommendation.notes),
                       "text": model.complete("Hello", max_tokens=2).text}
        except hf.HomefireError as error:
            out = result(error)
    print(json.dumps(out))
    """
)


def _child(mode: str, engine: str, model: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, engine, str(model)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.integration
@pytest.mark.parametrize("child_engine", ENGINES)
def test_out_of_memory_is_retried_once_then_explained(
    child_engine: str, smollm2_path: Path
) -> None:
    require(child_engine)
    out = _child("huge", child_engine, smollm2_path)
    auto = out["auto"]
    assert auto["error"] == "InsufficientMemoryError", auto
    layers = (read_model_file(smollm2_path).block_count or 0) + 1  # and the output layer
    assert f"loading with {layers} GPU layers" in auto["message"]
    assert f"retry with {layers * 3 // 4} GPU layers" in auto["message"]
    assert "16777216-token context" in auto["message"]
    # xllamacpp gives the same message for every load failure: the error says so.
    assert ("may not be memory" in auto["message"]) == (child_engine == "xllamacpp")
    # Without "auto" there is no plan to shrink: the engine's own load error, no retry.
    assert out["fixed"]["model_file_error"], out["fixed"]
    assert "retry" not in out["fixed"]["message"]


@pytest.mark.integration
def test_out_of_memory_retry_loads_the_smaller_plan(tmp_path: Path) -> None:
    require("xllamacpp")
    from tinymodels import write_tiny_model

    # Wide heads: the KV cache at 8192 tokens is about 1 GiB, half of it at 4096.
    model = write_tiny_model(tmp_path / "wide.gguf", head_dim=8192, context_length=8192)
    out = _child("retry", "xllamacpp", model)
    assert out["error"] is None, out
    assert out["context"] == 4096
    assert out["notes"] == ["retried with a 4096-token context after running out of memory"]
    assert isinstance(out["text"], str)
