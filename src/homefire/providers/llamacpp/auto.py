"""`LlamaCPP(n_gpu_layers="auto", context_window="auto")`: load settings from the planner.

The planner is asked once per model file, with every setting the user fixed as a constraint;
its choice is applied only to what was left on "auto" (and to batch sizes and flash attention
when those were left unset). A load that fails for memory is retried once with the planner's
next smaller plan, provided that plan changes only "auto" settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from homefire.errors import EngineLoadError, InsufficientMemoryError
from homefire.providers.llamacpp.engine import EngineSettings

if TYPE_CHECKING:
    from homefire.modelfiles.gguf import ModelFile
    from homefire.planner import Hardware, Plan
    from homefire.providers.llamacpp.engine import Engine

AUTO = "auto"


@dataclass(frozen=True, slots=True)
class AutoSettings:
    """Which settings the planner chooses, and the machine it plans for (None: this one)."""

    gpu_layers: bool
    context: bool
    hardware: Hardware | None = None


def load_planned(
    model_file: ModelFile,
    settings: EngineSettings,
    auto: AutoSettings,
    *,
    engine: str,
    open_engine: Callable[[EngineSettings], Engine],
) -> tuple[Engine, EngineSettings, Plan]:
    """Plan, then load; on an out-of-memory failure, load once more with a smaller plan."""
    first = _plan(model_file, settings, auto, engine)
    first_settings = _applied(first, settings, auto)
    try:
        return open_engine(first_settings), first_settings, first
    except EngineLoadError as exc:
        if not exc.out_of_memory:
            raise
        certain = exc.memory_certain
    second = _smaller(first, auto)
    if second is None:
        raise _failed(first_settings, None, first, certain) from None
    second_settings = _applied(second, settings, auto)
    try:
        return open_engine(second_settings), second_settings, second
    except EngineLoadError as exc:
        if not exc.out_of_memory:
            raise
        certain = certain and exc.memory_certain
    raise _failed(first_settings, second_settings, second, certain) from None


def plan_summary(plan: Plan, settings: EngineSettings) -> dict[str, Any]:
    """What was loaded and why, for `metadata.extra["plan"]`."""
    return {
        "n_gpu_layers": settings.n_gpu_layers,
        "context_window": settings.context_window,
        "cache_type_k": settings.cache_type_k,
        "cache_type_v": settings.cache_type_v,
        "n_batch": settings.n_batch,
        "n_ubatch": settings.n_ubatch,
        "flash_attn": settings.flash_attn,
        "estimated_bytes": plan.memory.total_bytes,
        "notes": list(plan.recommendation.notes),
    }


def _plan_kwargs(
    model_file: ModelFile, settings: EngineSettings, auto: AutoSettings, engine: str
) -> dict[str, Any]:
    from homefire.planner import detect_hardware

    layers = settings.n_gpu_layers
    if layers < 0:  # every layer
        layers = (model_file.block_count or 0) + 1
    return {
        # One type for both caches: when the user set two different ones, K's is planned.
        "kv_cache_type": settings.cache_type_k or settings.cache_type_v,
        "n_gpu_layers": None if auto.gpu_layers else layers,
        "parallel": settings.n_parallel,
        "flash_attn": settings.flash_attn is not False,
        "engine": engine,
        "hardware": auto.hardware or detect_hardware(),
    }


def _plan(model_file: ModelFile, settings: EngineSettings, auto: AutoSettings, engine: str) -> Plan:
    """The plan for this file; InsufficientMemoryError when nothing fits."""
    from homefire.planner import plan

    kwargs = _plan_kwargs(model_file, settings, auto, engine)
    # `settings.context_window` is the user's or the default: the trained context, capped.
    # On "auto" it is only an upper bound, and the planner may go down to what fits.
    chosen = plan(model_file, context_window=settings.context_window, **kwargs)
    if chosen.recommendation.fits:
        return chosen
    shorter = plan(model_file, context_window=None, **kwargs)
    fits = shorter.recommendation.fits
    if auto.context and fits:
        return shorter
    raise _refusal(chosen, shorter.recommendation.context_window if fits else None)


def _applied(plan: Plan, settings: EngineSettings, auto: AutoSettings) -> EngineSettings:
    """The user's settings with the planner's choices where the user left the choice open."""
    rec = plan.recommendation
    kv_open = settings.cache_type_k is None and settings.cache_type_v is None
    n_batch = rec.n_batch if settings.n_batch is None else settings.n_batch
    return replace(
        settings,
        context_window=rec.context_window if auto.context else settings.context_window,
        n_gpu_layers=rec.n_gpu_layers if auto.gpu_layers else settings.n_gpu_layers,
        cache_type_k=rec.kv_cache_type if kv_open else settings.cache_type_k,
        cache_type_v=rec.kv_cache_type if kv_open else settings.cache_type_v,
        n_batch=n_batch,
        n_ubatch=min(rec.n_ubatch, n_batch) if settings.n_ubatch is None else settings.n_ubatch,
        flash_attn=rec.flash_attn if settings.flash_attn is None else settings.flash_attn,
        swa_full=rec.swa_full if settings.swa_full is None else settings.swa_full,
    )


def _smaller(plan: Plan, auto: AutoSettings) -> Plan | None:
    """The planner's next smaller plan, if it changes only settings left on "auto"."""
    from homefire.planner import smaller_plan

    smaller = smaller_plan(plan)
    if smaller is None:
        return None
    old, new = plan.recommendation, smaller.recommendation
    if old.n_gpu_layers != new.n_gpu_layers and not auto.gpu_layers:
        return None
    if old.context_window != new.context_window and not auto.context:
        return None
    return smaller


def _available(plan: Plan) -> int:
    hardware = plan.hardware
    return hardware.ram_available_bytes + sum(gpu.free_bytes for gpu in hardware.gpus)


def _refusal(plan: Plan, largest_context: int | None) -> InsufficientMemoryError:
    from homefire.planner import format_size

    rec, needed, available = plan.recommendation, plan.memory.total_bytes, _available(plan)
    advice = [f"a {largest_context}-token context fits: pass context_window={largest_context}"]
    if largest_context is None:
        advice = ["free some memory"]
        if rec.smaller_quantization:
            advice.append(f"use the model quantized as {rec.smaller_quantization}")
        if rec.kv_cache_type in ("f32", "f16", "bf16") and rec.flash_attn:
            advice.append("try kv_cache_type='q8_0'")
    return InsufficientMemoryError(
        f"{plan.model.path.name} with a {rec.context_window}-token context needs about "
        f"{format_size(needed)}, with {format_size(available)} free",
        _sentence("; or ".join(advice)),
        needed_bytes=needed,
        available_bytes=available,
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tried(settings: EngineSettings) -> str:
    return (
        f"{settings.n_gpu_layers} GPU layers, a {settings.context_window}-token context, "
        f"{settings.cache_type_k or 'f16'} KV cache"
    )


def _failed(
    first: EngineSettings, second: EngineSettings | None, plan: Plan, certain: bool
) -> InsufficientMemoryError:
    from homefire.planner import format_size

    attempts = f"loading with {_tried(first)} failed"
    if second is None:
        attempts += ", and no smaller plan changes only the settings left on 'auto'"
    else:
        attempts += f", and so did the retry with {_tried(second)}"
    needed, available = plan.memory.total_bytes, _available(plan)
    unsure = "" if certain else "; the engine did not say why, so it may not be memory at all"
    return InsufficientMemoryError(
        f"{attempts} (the planner expected about {format_size(needed)} of "
        f"{format_size(available)} free){unsure}",
        "Free some memory (other programs, GPU memory in use), pass a smaller context_window "
        "or fewer n_gpu_layers, or use a smaller quantization; pass verbose=True to see "
        "llama.cpp's log if the file itself may be at fault",
        needed_bytes=needed,
        available_bytes=available,
    )
