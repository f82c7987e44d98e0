"""What this machine (or the one being planned for) has: CPU cores, RAM and GPU memory.

Detection uses psutil and NVIDIA's NVML (package `nvidia-ml-py`) when they are installed and
falls back to /proc otherwise; nothing here fails because an optional package is missing.
On Apple Silicon the GPU shares RAM, and Metal lets one process keep at most its
"recommended working set" resident: about 2/3 of RAM up to 36 GiB and 3/4 above. That limit,
not total RAM, is what a model must fit in; it is approximated from total RAM here because
reading it needs the Metal API (`MTLDevice.recommendedMaxWorkingSetSize`).
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, replace
from pathlib import Path

from homefire.errors import InvalidParameterError

__all__ = ["GPU", "Hardware", "detect_hardware", "format_size", "parse_size"]

GIB = 1024**3
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}


@dataclass(frozen=True, slots=True)
class GPU:
    """One accelerator; `free_bytes` is what a new model may use now."""

    index: int
    name: str
    total_bytes: int
    free_bytes: int
    backend: str  # "cuda", "metal" or "assumed" (given on the command line)


@dataclass(frozen=True, slots=True)
class Hardware:
    cpu_cores: int  # physical cores: the best thread count for generation
    cpu_threads: int  # logical CPUs this process may use
    ram_total_bytes: int
    ram_available_bytes: int
    gpus: tuple[GPU, ...] = ()

    def with_overrides(
        self, *, gpu_memory: list[int] | None = None, ram: int | None = None
    ) -> Hardware:
        """The same machine with other GPUs or RAM: planning for a machine that is not this."""
        hardware = self
        if gpu_memory is not None:
            gpus = tuple(
                GPU(i, f"GPU {i}", size, size, "assumed") for i, size in enumerate(gpu_memory)
            )
            hardware = replace(hardware, gpus=gpus)
        if ram is not None:
            hardware = replace(hardware, ram_total_bytes=ram, ram_available_bytes=ram)
        return hardware


def detect_hardware() -> Hardware:
    """This machine as it is now: cores, available RAM, and GPUs with their free memory."""
    total, available = _ram()
    gpus = _nvidia_gpus() or _metal_gpu(total)
    return Hardware(_physical_cores(), _usable_threads(), total, available, gpus)


def parse_size(text: str | int, *, name: str = "size") -> int:
    """'24GiB', '24G' (=GB), '800MiB', '1.5TB' or plain bytes -> bytes."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise InvalidParameterError(
            name, f"{text!r} is not a size; write it like 24GiB, 16GB or 800MiB"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(n: float) -> str:
    """Bytes as a short binary size: '1.50 GiB', '512.0 MiB'."""
    for unit, scale in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}" if unit == "GiB" else f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _ram() -> tuple[int, int]:
    try:
        import psutil

        memory = psutil.virtual_memory()
        return int(memory.total), int(memory.available)
    except ImportError:
        pass
    info = _meminfo()
    total = info.get("MemTotal", 0)
    return total, info.get("MemAvailable", total)


def _meminfo() -> dict[str, int]:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[key] = int(parts[0]) * 1024
    return out


def _usable_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _physical_cores() -> int:
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
        if cores:
            return min(int(cores), _usable_threads())
    except ImportError:
        pass
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return _usable_threads()
    pairs = set(re.findall(r"physical id\s*:\s*(\d+)\s*\ncore id\s*:\s*(\d+)", text))
    if not pairs:
        pairs = set(re.findall(r"core id\s*:\s*(\d+)", text))
    return min(len(pairs), _usable_threads()) if pairs else _usable_threads()


def _nvidia_gpus() -> tuple[GPU, ...]:
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no device: simply no NVIDIA GPU here
        return ()
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            gpus.append(GPU(i, name, int(memory.total), int(memory.free), "cuda"))
        return tuple(gpus)
    except Exception:
        return ()
    finally:
        pynvml.nvmlShutdown()


def _metal_gpu(ram_total: int) -> tuple[GPU, ...]:
    if platform.system() != "Darwin" or platform.machine() != "arm64" or not ram_total:
        return ()
    share = 0.75 if ram_total > 36 * GIB else 2 / 3
    limit = int(ram_total * share)
    return (GPU(0, "Apple GPU (Metal)", limit, limit, "metal"),)
