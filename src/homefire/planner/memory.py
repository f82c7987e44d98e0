"""How many bytes llama.cpp will allocate for a model, per device, before it loads it.

Exact where llama.cpp's rules can be followed (checked against the sizes it logs):
- weights: summed per layer from the tensor table. Token embeddings stay on the host; a tied
  output (no `output.weight`) is a copy of them, counted on the device of the output layer
  when that is a GPU. Layer i goes to a GPU when i >= n_layer + 1 - n_gpu_layers, the output
  layer counting as layer n_layer, so "all layers" is block_count + 1.
- KV cache: the context is padded to 256 (per sequence when sequences get their own stream);
  each layer stores key_length x n_head_kv keys and value_length x n_head_kv values per cell
  in the cache type (q8_0 = 34 bytes per 32 values, q4_0 = 18 per 32, ...); sliding-window
  layers keep only window + ubatch cells, padded to 256.
- output buffer: one float per vocabulary entry for each sequence's logits, on the host.

A heuristic where llama.cpp's graph allocator decides (the compute buffer): per token of a
ubatch, 12 bytes per feed-forward unit + 20 per embedding unit + 41, plus the attention mask
(2 bytes per cached cell and token with flash attention; without it the f32 scores of every
head, 4 x (n_head + 1) bytes); or, when every token of a ubatch asks for logits
(llama-cpp-python), the logits themselves if larger. Fitted to and checked against
llama.cpp's own compute sizes: within 0.2% on real model shapes (feed-forward >= 2x
embedding), over-estimating narrow feed-forwards by up to a few percent.
GPUs also get a fixed runtime overhead (CUDA context, cuBLAS workspace), and plans keep a
safety margin on top of all of this.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homefire.errors import InvalidParameterError
from homefire.modelfiles.gguf import ModelFile, TensorInfo

__all__ = [
    "KV_CACHE_TYPES",
    "DeviceMemory",
    "MemoryEstimate",
    "estimate_memory",
    "gpu_layer_range",
    "kv_cache_cells",
    "sliding_window_layers",
]

MIB = 1024 * 1024
GPU_OVERHEAD_BYTES = 400 * MIB  # CUDA context + cuBLAS workspace, measured 300-450 MiB
CTX_PAD = 256  # llama.cpp pads n_ctx and the per-sequence context to this

# KV cache element types llama.cpp accepts: name -> (values per block, bytes per block).
KV_CACHE_TYPES: dict[str, tuple[int, int]] = {
    "f32": (1, 4),
    "f16": (1, 2),
    "bf16": (1, 2),
    "q8_0": (32, 34),
    "q5_1": (32, 24),
    "q5_0": (32, 22),
    "q4_1": (32, 20),
    "q4_0": (32, 18),
    "iq4_nl": (32, 18),
}

# Architectures whose sliding-window layout llama.cpp hard-codes when the file has no
# `sliding_window_pattern`: n means layers i with i % n < n - 1 use the window.
_SWA_PATTERNS = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4, "exaone4": 4, "gpt-oss": 2}
_LAYER = re.compile(r"blk\.(\d+)\.")
# Weight types llama.cpp's CPU backend copies into an interleaved layout at load time (its
# "CPU_REPACK" buffer), on top of the memory-mapped file.
_REPACKED_TYPES = frozenset({"Q4_0", "Q4_K", "IQ4_NL", "Q2_K"})
_REPACK_MACHINES = frozenset({"x86_64", "amd64", "arm64", "aarch64"})
_INPUT_TENSORS = ("token_embd.", "token_types.", "position_embd.")


@dataclass(frozen=True, slots=True)
class DeviceMemory:
    """Bytes one device needs; `device` is "CPU" or "GPU n"."""

    device: str
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    output_bytes: int
    overhead_bytes: int
    layers: int

    @property
    def total_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.kv_cache_bytes
            + self.compute_bytes
            + self.output_bytes
            + self.overhead_bytes
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "layers": self.layers,
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "compute_bytes": self.compute_bytes,
            "output_bytes": self.output_bytes,
            "overhead_bytes": self.overhead_bytes,
            "total_bytes": self.total_bytes,
        }


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """The whole estimate: one entry per device, CPU first."""

    devices: tuple[DeviceMemory, ...]
    context_window: int  # as llama.cpp will size it (padded)
    kv_cache_type: str
    n_gpu_layers: int
    parallel: int

    @property
    def weights_bytes(self) -> int:
        return sum(d.weights_bytes for d in self.devices)

    @property
    def kv_cache_bytes(self) -> int:
        return sum(d.kv_cache_bytes for d in self.devices)

    @property
    def compute_bytes(self) -> int:
        return sum(d.compute_bytes for d in self.devices)

    @property
    def output_bytes(self) -> int:
        return sum(d.output_bytes for d in self.devices)

    @property
    def total_bytes(self) -> int:
        return sum(d.total_bytes for d in self.devices)

    def device(self, name: str) -> DeviceMemory:
        return next(d for d in self.devices if d.device == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "compute_bytes": self.compute_bytes,
            "output_bytes": self.output_bytes,
            "total_bytes": self.total_bytes,
            "context_window": self.context_window,
            "kv_cache_type": self.kv_cache_type,
            "n_gpu_layers": self.n_gpu_layers,
            "parallel": self.parallel,
            "devices": [d.to_dict() for d in self.devices],
        }


def estimate_memory(
    model: ModelFile,
    *,
    context_window: int,
    kv_cache_type: str = "f16",
    n_gpu_layers: int = 0,
    gpu_count: int = 0,
    gpu_split: Sequence[float] | None = None,
    parallel: int = 1,
    kv_unified: bool = False,
    n_ubatch: int = 512,
    flash_attn: bool = True,
    swa_full: bool = False,
    n_outputs: int = 1,
) -> MemoryEstimate:
    """Bytes per device for loading `model` with these settings (see the module notes).

    `n_outputs` is how many tokens of a ubatch may ask for logits: 1 for llama.cpp's server
    (and xllamacpp), every token for llama-cpp-python, whose compute buffer then holds a
    whole ubatch of logits. `swa_full` keeps full-size caches for sliding-window layers.
    """
    kv_cache_type = _check_kv_type(kv_cache_type, flash_attn)
    if context_window < 1:
        raise InvalidParameterError("context_window", "must be at least 1")
    if parallel < 1:
        raise InvalidParameterError("parallel", "must be at least 1")
    n_layer = model.block_count or 0
    n_gpu_layers = max(0, min(n_gpu_layers, n_layer + 1)) if gpu_count else 0
    owner = _layer_devices(n_layer, n_gpu_layers, gpu_count, gpu_split)
    n_ctx, n_ctx_seq, n_stream = kv_cache_cells(context_window, parallel, kv_unified)
    n_ubatch = max(1, min(n_ubatch, n_ctx))

    devices = ["CPU", *(f"GPU {i}" for i in range(gpu_count))]
    weights = dict.fromkeys(devices, 0)
    kv = dict.fromkeys(devices, 0)
    layers = dict.fromkeys(devices, 0)
    for tensor, index in _tensor_layers(model):
        if index < len(owner) and owner[index] != "CPU":
            weights[owner[index]] += tensor.n_bytes
    weights["CPU"] += _host_weight_bytes(model, owner)
    for index in range(n_layer + 1):
        layers[owner[index]] += 1
    swa = sliding_window_layers(model)
    window = model.sliding_window or 0
    swa_cells = min(n_ctx_seq, _pad(window * (parallel if kv_unified else 1) + n_ubatch))
    if swa_full:
        swa_cells = n_ctx_seq
    for il in range(n_layer):
        cells = (swa_cells if swa[il] else n_ctx_seq) * n_stream
        kv[owner[il]] += cells * _kv_layer_row_bytes(model, il, kv_cache_type)

    mask_cells = (n_ctx_seq, swa_cells) if any(swa) else (n_ctx_seq,)
    compute = _compute_bytes(model, n_ubatch, mask_cells, flash_attn, min(n_outputs, n_ubatch))
    host_has_layers = any(owner[il] == "CPU" for il in range(n_layer + 1))
    rows = []
    for name in devices:
        on_gpu = name != "CPU"
        if on_gpu and not layers[name]:
            continue
        if on_gpu or host_has_layers:
            device_compute = compute
        else:  # the host only embeds the input tokens
            device_compute = n_ubatch * (model.embedding_length or 0) * 4 * 2
        rows.append(
            DeviceMemory(
                device=name,
                weights_bytes=weights[name],
                kv_cache_bytes=kv[name],
                compute_bytes=device_compute,
                output_bytes=0 if on_gpu else _output_bytes(model, parallel),
                overhead_bytes=GPU_OVERHEAD_BYTES if on_gpu else 0,
                layers=layers[name],
            )
        )
    return MemoryEstimate(tuple(rows), n_ctx, kv_cache_type, n_gpu_layers, parallel)


def kv_cache_cells(context_window: int, parallel: int, kv_unified: bool) -> tuple[int, int, int]:
    """(n_ctx, cells per stream, streams) the way llama.cpp sizes its context."""
    n_ctx = _pad(context_window)
    if kv_unified:
        return n_ctx, n_ctx, 1
    n_ctx_seq = _pad(n_ctx // parallel)
    return n_ctx_seq * parallel, n_ctx_seq, parallel


def gpu_layer_range(n_layer: int, n_gpu_layers: int) -> range:
    """Indices (0..n_layer, n_layer being the output) that llama.cpp puts on a GPU."""
    n_gpu_layers = max(0, min(n_gpu_layers, n_layer + 1))
    return range(n_layer + 1 - n_gpu_layers, n_layer + 1)


def sliding_window_layers(model: ModelFile) -> tuple[bool, ...]:
    """Which layers attend only to a sliding window (and so cache only that many cells)."""
    n_layer = model.block_count or 0
    if not model.sliding_window:
        return (False,) * n_layer
    pattern = model.sliding_window_pattern
    if isinstance(pattern, tuple):
        return tuple(pattern[il] if il < len(pattern) else False for il in range(n_layer))
    period = pattern if isinstance(pattern, int) else _SWA_PATTERNS.get(model.architecture)
    if period is None:
        return (False,) * n_layer
    return tuple(period == 0 or il % period < period - 1 for il in range(n_layer))


def _check_kv_type(kv_cache_type: str, flash_attn: bool) -> str:
    name = kv_cache_type.lower()
    if name not in KV_CACHE_TYPES:
        raise InvalidParameterError(
            "kv_cache_type",
            f"{kv_cache_type!r} is not a KV cache type; use one of {', '.join(KV_CACHE_TYPES)}",
        )
    if KV_CACHE_TYPES[name][0] > 1 and not flash_attn:
        raise InvalidParameterError(
            "kv_cache_type", f"a quantized KV cache ({name}) needs flash attention turned on"
        )
    return name


def _pad(n: int) -> int:
    return -(-n // CTX_PAD) * CTX_PAD


def _layer_devices(
    n_layer: int, n_gpu_layers: int, gpu_count: int, split: Sequence[float] | None
) -> list[str]:
    """Device of each layer 0..n_layer; GPU layers are shared out in proportion to `split`."""
    owner = ["CPU"] * (n_layer + 1)
    on_gpu = list(gpu_layer_range(n_layer, n_gpu_layers)) if gpu_count else []
    if not on_gpu:
        return owner
    weights = list(split) if split and len(split) == gpu_count else [1.0] * gpu_count
    total = sum(weights) or 1.0
    bounds = []
    acc = 0.0
    for w in weights:
        acc += w / total
        bounds.append(acc)
    for k, il in enumerate(on_gpu):
        position = (k + 0.5) / len(on_gpu)
        gpu = next((g for g, b in enumerate(bounds) if position <= b), gpu_count - 1)
        owner[il] = f"GPU {gpu}"
    return owner


def _tensor_layers(model: ModelFile) -> list[tuple[TensorInfo, int]]:
    """Each tensor with the layer that holds it: 0..n_layer-1, n_layer (the output layer) or
    n_layer + 1 (host-only inputs); a tied output appears twice, the second time as output."""
    n_layer = model.block_count or 0
    out = []
    for t in model.tensors:
        match = _LAYER.match(t.name)
        if match and int(match.group(1)) < n_layer:
            out.append((t, int(match.group(1))))
        elif t.name.startswith(_INPUT_TENSORS):
            out.append((t, n_layer + 1))
        else:
            out.append((t, n_layer))
    if not any(t.name == "output.weight" for t in model.tensors):
        embedding = next((t for t in model.tensors if t.name == "token_embd.weight"), None)
        if embedding is not None:
            out.append((embedding, n_layer))
    return out


def _host_weight_bytes(model: ModelFile, owner: list[str]) -> int:
    """Host memory for weights: the span of the mapped file that host tensors cover, plus the
    CPU backend's interleaved ("repacked") copies of the weights it multiplies that way."""
    repack = platform.machine().lower() in _REPACK_MACHINES
    start, end, repacked = None, 0, 0
    for tensor, index in _tensor_layers(model):
        is_input = index >= len(owner)
        if not is_input and owner[index] != "CPU":
            continue
        if repack and not is_input and _repackable(tensor):
            repacked += tensor.n_bytes
        elif is_input or tensor.name != "token_embd.weight":  # a tied copy maps nothing new
            start = tensor.offset if start is None else min(start, tensor.offset)
            end = max(end, tensor.offset + tensor.n_bytes)
    return (end - start if start is not None else 0) + repacked


def _repackable(tensor: TensorInfo) -> bool:
    return (
        tensor.type_name in _REPACKED_TYPES and len(tensor.shape) == 2 and tensor.shape[1] % 8 == 0
    )


def _kv_layer_row_bytes(model: ModelFile, il: int, kv_type: str) -> int:
    heads_kv = model.head_count_kv_per_layer
    n_head_kv = heads_kv[il] if il < len(heads_kv) else (model.head_count_kv or 0)
    block, size = KV_CACHE_TYPES[kv_type]
    n_k = (model.key_length or 0) * n_head_kv
    n_v = (model.value_length or 0) * n_head_kv
    return -(-n_k // block) * size + -(-n_v // block) * size


def _compute_bytes(
    model: ModelFile, n_ubatch: int, mask_cells: tuple[int, ...], flash_attn: bool, n_outputs: int
) -> int:
    """The largest set of intermediate tensors alive at once, per token of a ubatch."""
    n_embd = model.embedding_length or 0
    n_ff = model.feed_forward_length or 4 * n_embd
    if model.expert_used_count:
        n_ff *= model.expert_used_count
    n_head = model.head_count or 1
    q_dim = (model.key_length or 0) * n_head
    embd_bytes = 20 if n_outputs <= 1 else 16
    feed_forward = 12 * n_ff + embd_bytes * n_embd + 41
    per_token = feed_forward + 2 * sum(mask_cells)
    if not flash_attn:
        scores = 4 * n_head * max(mask_cells)
        attention = scores + 4 * sum(mask_cells) + 28 * q_dim + 20
        per_token = max(feed_forward + 4 * sum(mask_cells), attention)
    logits = n_outputs * 4 * (model.vocab_size or 0) + n_ubatch * (8 * n_embd + 4)
    return max(n_ubatch * per_token, logits)


def _output_bytes(model: ModelFile, parallel: int) -> int:
    return (model.vocab_size or 0) * 4 * parallel
