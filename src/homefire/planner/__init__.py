"""What fits where: GGUF inspection, hardware detection, memory estimates and load settings.

`plan(model)` answers "will this model fit, and how should I load it?" for this machine or,
with `Hardware(...).with_overrides(gpu_memory=[...], ram=...)`, for another one.
"""

from __future__ import annotations

from homefire.planner.hardware import GPU, Hardware, detect_hardware, format_size, parse_size
from homefire.planner.memory import (
    KV_CACHE_TYPES,
    DeviceMemory,
    MemoryEstimate,
    estimate_memory,
)
from homefire.planner.recommend import Plan, Recommendation, plan, recommend, smaller_plan
from homefire.planner.report import describe_model

__all__ = [
    "GPU",
    "KV_CACHE_TYPES",
    "DeviceMemory",
    "Hardware",
    "MemoryEstimate",
    "Plan",
    "Recommendation",
    "describe_model",
    "detect_hardware",
    "estimate_memory",
    "format_size",
    "parse_size",
    "plan",
    "recommend",
    "smaller_plan",
]
