"""What fits: plan how to load a GGUF model on this machine, or on one you describe.

    python examples/planning.py model.gguf        # this machine, as it is now
    python examples/planning.py model.gguf 24     # as if a GPU with 24 GiB free were here

The planner reads the file's tensor table and sizes the weights, the KV cache and the
compute buffers the way llama.cpp will, before anything is loaded.
"""

import sys

import homefire as hf

GIB = 1024**3

path = sys.argv[1] if len(sys.argv) > 1 else "model.gguf"
hardware = hf.detect_hardware()
if len(sys.argv) > 2:
    hardware = hardware.with_overrides(gpu_memory=[int(float(sys.argv[2]) * GIB)])

model = hf.read_model_file(path)
print(f"{model.name}: {model.architecture}, {model.parameter_count / 1e6:.0f}M parameters,")
print(f"  {model.quantization} ({model.bits_per_weight:.2f} bits/weight), trained on "
      f"{model.context_length} tokens")  # fmt: skip
gpus = ", ".join(f"{g.name} {g.free_bytes / GIB:.1f} GiB free" for g in hardware.gpus) or "none"
print(f"machine: {hardware.cpu_cores} cores, {hardware.ram_available_bytes / GIB:.1f} GiB RAM "
      f"free, GPUs: {gpus}")  # fmt: skip

plan = hf.plan(model, hardware=hardware)
rec = plan.recommendation
print(f"recommended: n_gpu_layers={rec.n_gpu_layers}, context_window={rec.context_window}, "
      f"kv_cache_type={rec.kv_cache_type}, n_threads={rec.n_threads}, fits={rec.fits}")  # fmt: skip
for note in rec.notes:
    print("  note:", note)

print("memory for a few choices (weights + KV cache + compute = total):")
for context, kv in [(4096, "f16"), (8192, "f16"), (8192, "q8_0")]:
    memory = hf.plan(model, context_window=context, kv_cache_type=kv, hardware=hardware).memory
    print(f"  {context:>6} tokens, {kv:<5}: {memory.weights_bytes / 2**20:7.1f} + "
          f"{memory.kv_cache_bytes / 2**20:6.1f} + {memory.compute_bytes / 2**20:6.1f} = "
          f"{memory.total_bytes / 2**20:7.1f} MiB")  # fmt: skip

# "auto" asks the planner at load time, and retries once with a smaller plan on out-of-memory.
with hf.LlamaCPP(path, n_gpu_layers="auto", context_window="auto") as llm:
    print(f"loaded with context {llm.context_window}:", llm.plan.recommendation.notes)
