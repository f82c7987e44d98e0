"""GPU layers asked of an engine build without a GPU backend: said, never silently ignored.

llama.cpp quietly runs every layer on the CPU when its build has no GPU backend, whatever
`n_gpu_layers` says; the PyPI wheels of both engines are such builds.
"""

from __future__ import annotations

import warnings
from types import ModuleType

from homefire.errors import GPUUnavailableWarning


def unusable_gpu_layers(engine: str, module: ModuleType, n_gpu_layers: int) -> str | None:
    """Why `n_gpu_layers` cannot take effect with this engine build, or None when it can."""
    if n_gpu_layers == 0 or module.gpu_offload():
        return None
    return (
        f"n_gpu_layers={n_gpu_layers} cannot take effect: this {engine} build has no GPU "
        f"support, so the model runs on the CPU. For a GPU build: {module.GPU_BUILD}"
    )


def warn_unusable(problem: str) -> None:
    warnings.warn(problem, GPUUnavailableWarning, stacklevel=4)
