"""Load a model in a child process with xllamacpp and read the buffer sizes llama.cpp logs.

These are llama.cpp's own numbers (MiB, two decimals; the compute size four decimals): the
ground truth the planner's estimates are checked against. A child process keeps the log
noise, the memory and any crash away from the test process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024

_XLLAMACPP = r"""
import json, os, sys, time
import xllamacpp as x
cfg = json.loads(sys.argv[1])
p = x.CommonParams()
p.model.path = cfg["path"]
p.n_ctx = cfg["n_ctx"]
p.n_parallel = cfg["parallel"]
p.kv_unified = cfg["kv_unified"]
p.n_batch = cfg["n_batch"]
p.n_ubatch = cfg["n_ubatch"]
p.cpuparams.n_threads = 2
p.cpuparams_batch.n_threads = 2
kv = getattr(x.ggml_type, "GGML_TYPE_" + cfg["kv_type"].upper())
p.cache_type_k = kv
p.cache_type_v = kv
p.flash_attn_type = getattr(x.llama_flash_attn_type, cfg["flash_attn"])
p.fit_params = False
p.warmup = False
p.verbosity = 10
p.api_keys = ["not-used"]
server = x.Server(p)
time.sleep(0.5)  # llama.cpp's logger writes from its own thread: let it drain
os._exit(0)  # skip the shutdown, which can hang right after start-up
"""

_LLAMA_CPP_PYTHON = r"""
import json, sys
import llama_cpp
cfg = json.loads(sys.argv[1])
kv = getattr(llama_cpp, "GGML_TYPE_" + cfg["kv_type"].upper())
llm = llama_cpp.Llama(
    cfg["path"], n_ctx=cfg["n_ctx"], n_batch=cfg["n_batch"], n_ubatch=cfg["n_ubatch"],
    n_threads=2, type_k=kv, type_v=kv, flash_attn=cfg["flash_attn"].endswith("ENABLED"),
    verbose=True,
)
"""
_CHILDREN = {"xllamacpp": _XLLAMACPP, "llama-cpp-python": _LLAMA_CPP_PYTHON}

_SIZE = r"=\s*([0-9.]+) MiB"


@dataclass(frozen=True)
class LoggedSizes:
    """Bytes llama.cpp reported, summed over its buffers of each kind (host only here)."""

    weights: float
    kv_cache: float
    compute: float
    output: float

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.compute + self.output


def logged_sizes(
    path: Path,
    *,
    n_ctx: int,
    kv_type: str = "f16",
    parallel: int = 1,
    kv_unified: bool = False,
    n_batch: int = 2048,
    n_ubatch: int = 512,
    flash_attn: str = "LLAMA_FLASH_ATTN_TYPE_ENABLED",
    engine: str = "xllamacpp",
    timeout: float = 120,
) -> LoggedSizes:
    """The sizes llama.cpp logs when `engine` loads `path` (llama-cpp-python: one sequence)."""
    cfg = {
        "path": str(path),
        "n_ctx": n_ctx,
        "kv_type": kv_type,
        "parallel": parallel,
        "kv_unified": kv_unified,
        "n_batch": n_batch,
        "n_ubatch": n_ubatch,
        "flash_attn": flash_attn,
    }
    proc = subprocess.run(
        [sys.executable, "-c", _CHILDREN[engine], json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    log = proc.stderr + proc.stdout
    if proc.returncode != 0:
        raise AssertionError(f"llama.cpp failed to load {path}:\n{log[-3000:]}")
    weights = _sum(log, r"model buffer size " + _SIZE)
    kv = _sum(log, r"KV buffer size " + _SIZE)
    output = _sum(log, r"output buffer size " + _SIZE)
    precise = re.findall(r"compute buffer size is\s+([0-9.]+) MiB", log)
    compute = float(precise[-1]) * MIB if precise else _sum(log, r"compute buffer size " + _SIZE)
    return LoggedSizes(weights, kv, compute, output)


def _sum(log: str, pattern: str) -> float:
    return sum(float(v) for v in re.findall(pattern, log)) * MIB
