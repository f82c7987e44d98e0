"""Measure how fast backends run, the way llama.cpp's llama-bench does.

    python examples/bench.py                              # the embedded model, in process
    python examples/bench.py model.gguf ollama:llama3.2   # several targets side by side

Each row: load time, time to first token, prompt and generation tokens per second (the
backend's own timings and the client's clock), and the throughput of N requests at once.
"""

import sys

import homefire as hf

targets = sys.argv[1:] or [None]  # None: the embedded model

report = hf.bench(
    targets,
    prompt_tokens=64,
    gen_tokens=16,
    reps=2,
    concurrency=[1, 2],
    on_status=lambda line: print("...", line),
)
for row in report.rows:
    print(
        f"{row.target} x{row.concurrency}: first token {row.ttft_ms} ms, "
        f"generation {row.gen_tps} tok/s, throughput {row.throughput} tok/s"
    )
report.write_json("bench.json")
print("wrote bench.json")
