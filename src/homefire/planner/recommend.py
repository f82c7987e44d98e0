"""Choose load settings that fit: GPU layers, context, KV-cache type, batch sizes, threads.

Preference order, each step only when the previous cannot fit: every layer on the GPU with
the wanted context and an f16 KV cache; the same with a q8_0 cache (half the bytes, tiny
quality loss); a shorter context, halving down to 8192 (or the trained context if shorter);
then as many GPU layers as fit with the rest on the CPU; then the largest context that fits
at all. When not even 256 tokens fit, the plan names the largest quantization that would.
A context or KV type the caller fixed is never changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from homefire.errors import InvalidParameterError
from homefire.modelfiles.gguf import ModelFile, read_model_file
from homefire.planner.hardware import Hardware, detect_hardware, format_size
from homefire.planner.memory import (
    CTX_PAD,
    GPU_OVERHEAD_BYTES,
    KV_CACHE_TYPES,
    MemoryEstimate,
    estimate_memory,
)

__all__ = ["Plan", "Recommendation", "plan", "recommend", "smaller_plan"]

SAFETY_MARGIN = 0.05  # of each device's free memory, left unused: fragmentation, other apps
ENGINES = ("xllamacpp", "llama-cpp-python")
DEFAULT_CONTEXT_CAP = 32768  # "auto" never asks for more unless the caller does
_CONTEXT_FLOOR = 8192
# Typical bits per weight of llama.cpp's common quantizations, largest first.
_QUANT_BPW = (
    ("Q8_0", 8.5),
    ("Q6_K", 6.56),
    ("Q5_K_M", 5.69),
    ("Q4_K_M", 4.89),
    ("Q3_K_M", 3.91),
    ("Q2_K", 3.35),
    ("IQ2_XS", 2.31),
)


@dataclass(frozen=True, slots=True)
class Recommendation:
    """Settings for loading the model; `fits` is False when even the last resort does not."""

    n_gpu_layers: int
    context_window: int
    kv_cache_type: str
    flash_attn: bool
    n_batch: int
    n_ubatch: int
    n_threads: int
    use_mmap: bool
    use_mlock: bool
    parallel: int
    fits: bool
    engine: str = "xllamacpp"
    swa_full: bool = False  # pass it on: llama.cpp's own default (True) caches full windows
    tensor_split: tuple[float, ...] | None = None  # share of layers per GPU, when several
    notes: tuple[str, ...] = ()
    smaller_quantization: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_gpu_layers": self.n_gpu_layers,
            "context_window": self.context_window,
            "kv_cache_type": self.kv_cache_type,
            "flash_attn": self.flash_attn,
            "n_batch": self.n_batch,
            "n_ubatch": self.n_ubatch,
            "n_threads": self.n_threads,
            "use_mmap": self.use_mmap,
            "use_mlock": self.use_mlock,
            "parallel": self.parallel,
            "fits": self.fits,
            "engine": self.engine,
            "swa_full": self.swa_full,
            "tensor_split": list(self.tensor_split) if self.tensor_split else None,
            "notes": list(self.notes),
            "smaller_quantization": self.smaller_quantization,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """A recommendation with the memory estimate it rests on and what it was planned for."""

    model: ModelFile
    hardware: Hardware
    memory: MemoryEstimate
    recommendation: Recommendation

    def to_dict(self) -> dict[str, Any]:
        hw = self.hardware
        return {
            "model": {
                "path": str(self.model.path),
                "architecture": self.model.architecture,
                "parameters": self.model.parameter_count,
                "quantization": self.model.quantization,
                "block_count": self.model.block_count,
                "context_length": self.model.context_length,
            },
            "hardware": {
                "cpu_cores": hw.cpu_cores,
                "cpu_threads": hw.cpu_threads,
                "ram_total_bytes": hw.ram_total_bytes,
                "ram_available_bytes": hw.ram_available_bytes,
                "gpus": [
                    {
                        "index": g.index,
                        "name": g.name,
                        "total_bytes": g.total_bytes,
                        "free_bytes": g.free_bytes,
                        "backend": g.backend,
                    }
                    for g in hw.gpus
                ],
            },
            "memory": self.memory.to_dict(),
            "recommendation": self.recommendation.to_dict(),
        }


def plan(
    model: ModelFile | str | os.PathLike[str],
    *,
    context_window: int | None = None,
    kv_cache_type: str | None = None,
    n_gpu_layers: int | None = None,
    parallel: int = 1,
    flash_attn: bool = True,
    engine: str = "xllamacpp",
    hardware: Hardware | None = None,
) -> Plan:
    """Plan how to load `model` with `engine` on `hardware` (default: this machine, now)."""
    _check(context_window, kv_cache_type, n_gpu_layers, parallel, flash_attn, engine)
    model = model if isinstance(model, ModelFile) else read_model_file(model)
    hardware = hardware or detect_hardware()
    planner = _Planner(model, hardware, parallel, flash_attn, engine)
    return planner.best(context_window, kv_cache_type and kv_cache_type.lower(), n_gpu_layers)


def recommend(
    model: ModelFile | str | os.PathLike[str],
    *,
    context_window: int | None = None,
    kv_cache_type: str | None = None,
    n_gpu_layers: int | None = None,
    parallel: int = 1,
    flash_attn: bool = True,
    engine: str = "xllamacpp",
    hardware: Hardware | None = None,
) -> Recommendation:
    """The settings part of `plan()`: what `LlamaCPP(n_gpu_layers="auto", ...)` loads with."""
    return plan(
        model,
        context_window=context_window,
        kv_cache_type=kv_cache_type,
        n_gpu_layers=n_gpu_layers,
        parallel=parallel,
        flash_attn=flash_attn,
        engine=engine,
        hardware=hardware,
    ).recommendation


def smaller_plan(previous: Plan) -> Plan | None:
    """The next plan to try after an out-of-memory load: a quarter fewer GPU layers, or,
    with none left on the GPU, half the context (not below 256). None when nothing is left."""
    rec = previous.recommendation
    planner = _Planner(previous.model, previous.hardware, rec.parallel, rec.flash_attn, rec.engine)
    if rec.n_gpu_layers > 0:
        layers = rec.n_gpu_layers * 3 // 4
        note = f"retried with {layers} GPU layers after running out of memory"
        return planner.make(rec.context_window, rec.kv_cache_type, layers, notes=(note,))
    if rec.context_window > CTX_PAD:
        ctx = max(CTX_PAD, rec.context_window // 2 // CTX_PAD * CTX_PAD)
        note = f"retried with a {ctx}-token context after running out of memory"
        return planner.make(ctx, rec.kv_cache_type, 0, notes=(note,))
    return None


def _check(
    context_window: int | None,
    kv_cache_type: str | None,
    n_gpu_layers: int | None,
    parallel: int,
    flash_attn: bool,
    engine: str,
) -> None:
    if engine not in ENGINES:
        raise InvalidParameterError("engine", f"{engine!r} is not one of {', '.join(ENGINES)}")
    if context_window is not None and context_window < 1:
        raise InvalidParameterError("context_window", f"must be at least 1, not {context_window}")
    if n_gpu_layers is not None and n_gpu_layers < 0:
        raise InvalidParameterError("n_gpu_layers", f"must be 0 or more, not {n_gpu_layers}")
    if parallel < 1:
        raise InvalidParameterError("parallel", f"must be at least 1, not {parallel}")
    if kv_cache_type is not None:
        name = kv_cache_type.lower()
        if name not in KV_CACHE_TYPES:
            raise InvalidParameterError(
                "kv_cache_type", f"{kv_cache_type!r} is not one of {', '.join(KV_CACHE_TYPES)}"
            )
        if KV_CACHE_TYPES[name][0] > 1 and not flash_attn:
            raise InvalidParameterError(
                "kv_cache_type", f"a quantized KV cache ({name}) needs flash attention"
            )


class _Planner:
    def __init__(
        self, model: ModelFile, hardware: Hardware, parallel: int, flash_attn: bool, engine: str
    ) -> None:
        self.model = model
        self.engine = engine
        self.hw = hardware
        self.parallel = parallel
        self.flash_attn = flash_attn
        self.all_layers = (model.block_count or 0) + 1
        # llama.cpp shares layers out in proportion to `tensor_split`; proportional to what
        # each GPU has left after its fixed overhead, a GPU too small to help gets none.
        usable = [g.free_bytes * (1 - SAFETY_MARGIN) - GPU_OVERHEAD_BYTES for g in hardware.gpus]
        self.split = [max(0.0, u) for u in usable]

    def estimate(self, ctx: int, kv: str, layers: int) -> MemoryEstimate:
        return estimate_memory(
            self.model,
            context_window=ctx,
            kv_cache_type=kv,
            n_gpu_layers=layers,
            gpu_count=len(self.hw.gpus),
            gpu_split=self.split,
            parallel=self.parallel,
            n_ubatch=min(512, ctx),
            flash_attn=self.flash_attn,
            n_outputs=min(512, ctx) if self.engine == "llama-cpp-python" else 1,
        )

    def fits(self, memory: MemoryEstimate, *, gpus_only: bool = False) -> bool:
        """Every device's total within its free memory, less the safety margin."""
        for device in memory.devices:
            if device.device == "CPU":
                if gpus_only:
                    continue
                limit = self.hw.ram_available_bytes
            else:
                limit = self.hw.gpus[int(device.device.split()[1])].free_bytes
            if device.total_bytes > limit * (1 - SAFETY_MARGIN):
                return False
        return True

    def max_gpu_layers(self, ctx: int, kv: str) -> int:
        """The most layers the GPUs hold (0 without GPUs), by bisection: GPU use only grows
        with the layer count, so the answer never shrinks when GPU memory grows."""
        if not self.hw.gpus:
            return 0
        low, high = 0, self.all_layers
        while low < high:
            mid = (low + high + 1) // 2
            if self.fits(self.estimate(ctx, kv, mid), gpus_only=True):
                low = mid
            else:
                high = mid - 1
        return low

    def make(
        self, ctx: int, kv: str, layers: int, *, notes: tuple[str, ...] = (), fits: bool = True
    ) -> Plan:
        memory = self.estimate(ctx, kv, layers)
        n_batch = min(2048, ctx)
        rec = Recommendation(
            n_gpu_layers=memory.n_gpu_layers,
            context_window=ctx,
            kv_cache_type=kv,
            flash_attn=self.flash_attn,
            n_batch=n_batch,
            n_ubatch=min(512, n_batch),
            n_threads=max(1, self.hw.cpu_cores),
            use_mmap=True,
            use_mlock=False,
            parallel=self.parallel,
            fits=fits and self.fits(memory),
            engine=self.engine,
            tensor_split=self.tensor_split(),
            notes=notes,
        )
        return Plan(self.model, self.hw, memory, rec)

    def tensor_split(self) -> tuple[float, ...] | None:
        total = sum(self.split)
        if len(self.split) < 2 or not total:
            return None
        return tuple(round(u / total, 4) for u in self.split)

    def best(self, ctx: int | None, kv: str | None, layers: int | None) -> Plan:
        trained = self.model.context_length or 4096
        wanted = ctx or min(trained, DEFAULT_CONTEXT_CAP)
        notes: list[str] = []
        if ctx and ctx > trained:
            notes.append(f"context {ctx} is beyond the {trained} tokens the model was trained on")
        kv_choices = [kv] if kv else ["f16", "q8_0"] if self.flash_attn else ["f16"]
        contexts = [wanted]
        if ctx is None:
            floor = min(trained, _CONTEXT_FLOOR)
            while contexts[-1] // 2 >= floor:
                contexts.append(contexts[-1] // 2)
        for c in contexts:  # everything on the GPU (or, without one, in RAM)
            for k in kv_choices:
                n = self.all_layers if layers is None else layers
                if self.hw.gpus and layers is None and self.max_gpu_layers(c, k) < n:
                    continue
                candidate = self.make(c, k, n if self.hw.gpus else 0, notes=tuple(notes))
                if candidate.recommendation.fits:
                    return candidate
        c, k = contexts[-1], kv_choices[-1]
        if self.hw.gpus and layers is None:  # split between GPU and CPU
            n = self.max_gpu_layers(c, k)
            split = ("some layers run on the CPU",) if n < self.all_layers else ()
            candidate = self.make(c, k, n, notes=(*notes, *split))
            if candidate.recommendation.fits:
                return candidate
        return self.last_resort(ctx, k, layers, notes)

    def last_resort(self, ctx: int | None, kv: str, layers: int | None, notes: list[str]) -> Plan:
        if ctx is None:
            best = self.largest_context(kv, layers)
            if best is not None:
                c, n = best
                note = f"only a {c}-token context fits; free memory or use a smaller quantization"
                return self.make(c, kv, n, notes=(*notes, note))
        c = ctx or CTX_PAD
        n = layers if layers is not None else self.max_gpu_layers(c, kv)
        failed = self.make(c, kv, n, fits=False)
        quant = self.smaller_quantization(failed.memory)
        hint = (
            f"it does not fit; the same model quantized as {quant} would"
            if quant
            else "it does not fit, even at 2 bits per weight"
        )
        rec = replace(
            failed.recommendation,
            notes=(*notes, f"{hint} (needs {format_size(failed.memory.total_bytes)})"),
            smaller_quantization=quant,
        )
        return replace(failed, recommendation=rec)

    def largest_context(self, kv: str, layers: int | None) -> tuple[int, int] | None:
        low, high = 0, (self.model.context_length or 4096) // CTX_PAD
        found: tuple[int, int] | None = None
        while low < high:
            mid = (low + high + 1) // 2
            ctx = mid * CTX_PAD
            n = layers if layers is not None else self.max_gpu_layers(ctx, kv)
            if self.fits(self.estimate(ctx, kv, n)):
                low, found = mid, (ctx, n)
            else:
                high = mid - 1
        return found

    def smaller_quantization(self, memory: MemoryEstimate) -> str | None:
        budget = self.hw.ram_available_bytes + sum(g.free_bytes for g in self.hw.gpus)
        budget = int(budget * (1 - SAFETY_MARGIN))
        others = memory.total_bytes - memory.weights_bytes
        params = self.model.parameter_count or 1
        current = self.model.bits_per_weight
        for name, bpw in _QUANT_BPW:
            if bpw < current and others + params * bpw / 8 <= budget:
                return name
        return None
