"""Generation speed through homefire against the same engine called directly.

Same model, settings, prompt and request (greedy, end-of-turn tokens banned so every run
generates exactly --max-tokens tokens). Each side of each engine runs in a child process of
its own, one at a time: two engines alive in one process (xllamacpp's server threads above
all) spin against each other and halve both speeds. The sides take turns for --rounds rounds
so a busy machine slows both alike; each figure is the median of all their runs of
wall-clock tokens per second, measured around the call as a user would see it.

    .venv/bin/python benchmarks/inprocess.py [--reps 5] [--rounds 2] [--max-tokens 128]
                                             [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONTEXT = 2048
ENGINES = (("xllamacpp", "xllamacpp"), ("llama-cpp-python", "llama_cpp"))
SIDES = ("direct", "homefire")
MODES = ("complete", "stream")

Run = Callable[[], int]  # one generation; returns the number of tokens generated


def _timed(run: Run) -> float:
    started = time.perf_counter()
    tokens = run()
    return tokens / (time.perf_counter() - started)


# --- in a child process: one engine, one side --------------------------------------------------


def _request(engine: str, model: Path, threads: int) -> dict[str, Any]:
    """The prompt (homefire's rendering of the chat) and the end-of-turn tokens to ban."""
    import homefire as hf

    messages = [hf.system("You are a storyteller."), hf.user("Tell me a long story about a fox.")]
    with hf.LlamaCPP(model, engine=engine, n_threads=threads, context_window=CONTEXT) as llm:
        return {
            "prompt": llm.messages_to_prompt(messages),
            "ends": [llm.tokenize("<|im_end|>")[0], llm.tokenize("<|endoftext|>")[0]],
            "slots": llm.metadata.extra["n_parallel"],
        }


def _bias(engine: str, ends: list[int]) -> dict[str, Any]:
    if engine == "xllamacpp":
        return {"logit_bias": {str(t): -100.0 for t in ends}}
    return {"logit_bias": dict.fromkeys(ends, -100.0)}


def _direct_xllamacpp(
    model: Path, threads: int, slots: int, body: dict[str, Any]
) -> dict[str, Run]:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = CONTEXT
    params.n_parallel = slots
    params.kv_unified = True
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = -1
    params.use_jinja = False
    server = xllamacpp.Server(params)

    def complete() -> int:
        # "stream" said outright: this xllamacpp never answers a logit_bias request without it
        answer = server.handle_completions({**body, "stream": False})
        return int(answer["usage"]["completion_tokens"])

    def stream() -> int:
        count = 0

        def on_chunk(chunk: dict[str, Any]) -> bool:
            nonlocal count
            count += bool(chunk.get("choices") and chunk["choices"][0].get("text"))
            return False

        server.handle_completions({**body, "stream": True}, on_chunk)
        return count

    return {"complete": complete, "stream": stream}


def _direct_llama_cpp(model: Path, threads: int, body: dict[str, Any]) -> dict[str, Run]:
    import llama_cpp

    llama = llama_cpp.Llama(
        str(model), n_ctx=CONTEXT, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    kwargs = {**body, "seed": 0}

    def complete() -> int:
        return int(llama.create_completion(**kwargs)["usage"]["completion_tokens"])

    def stream() -> int:
        return sum(
            bool(c["choices"][0]["text"]) for c in llama.create_completion(**kwargs, stream=True)
        )

    return {"complete": complete, "stream": stream}


def _through_homefire(
    engine: str, model: Path, threads: int, prompt: str, request: dict[str, Any]
) -> dict[str, Run]:
    import homefire as hf

    llm = hf.LlamaCPP(model, engine=engine, n_threads=threads, context_window=CONTEXT)
    bias = request.pop("logit_bias")

    def complete() -> int:
        response = llm.complete(prompt, formatted=True, extra={"logit_bias": bias}, **request)
        assert response.usage is not None
        return response.usage.completion_tokens

    def stream() -> int:
        chunks = llm.stream_complete(prompt, formatted=True, extra={"logit_bias": bias}, **request)
        return sum(bool(c.delta) for c in chunks)

    return {"complete": complete, "stream": stream}


def measure(job: dict[str, Any]) -> dict[str, list[float]]:
    """Tokens per second of `reps` runs of each mode on one side (after a warm-up run)."""
    engine, side, model, threads = job["engine"], job["side"], Path(job["model"]), job["threads"]
    request = {"max_tokens": job["max_tokens"], "temperature": 0.0, **_bias(engine, job["ends"])}
    runs: dict[str, Run]
    if side == "homefire":
        runs = _through_homefire(engine, model, threads, job["prompt"], request)
    elif engine == "xllamacpp":
        runs = _direct_xllamacpp(model, threads, job["slots"], {"prompt": job["prompt"], **request})
    else:
        runs = _direct_llama_cpp(model, threads, {"prompt": job["prompt"], **request})
    speeds = {}
    for mode in MODES:
        runs[mode]()  # warm-up: caches, page faults, first-call costs
        speeds[mode] = [_timed(runs[mode]) for _ in range(job["reps"])]
    return speeds


def _child(job: dict[str, Any]) -> Any:
    """Run `job` in a fresh interpreter, so nothing else lives in its process."""
    done = subprocess.run(
        [sys.executable, __file__, "--job", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{job.get('engine')} {job.get('side', 'setup')} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: embedded)")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        job = json.loads(args.job)
        if "side" not in job:
            print(json.dumps(_request(job["engine"], Path(job["model"]), job["threads"])))
        else:
            print(json.dumps(measure(job)))
        return
    if args.model is None:
        from homefire.modelfiles.embedded import embedded_model_path

        args.model = embedded_model_path()
    model = str(args.model)

    rows = []
    for engine, package in ENGINES:
        if importlib.util.find_spec(package) is None:
            print(f"{engine}: not installed, skipped")
            continue
        base = {"engine": engine, "model": model, "threads": args.threads}
        job = {**base, **_child(base), "max_tokens": args.max_tokens, "reps": args.reps}
        speeds = {(side, mode): [] for side in SIDES for mode in MODES}
        for _ in range(args.rounds):
            for side in SIDES:
                for mode, runs in _child({**job, "side": side}).items():
                    speeds[side, mode] += runs
        for mode in MODES:
            direct = statistics.median(speeds["direct", mode])
            ours = statistics.median(speeds["homefire", mode])
            rows.append((engine, mode, direct, ours, ours / direct))

    print(
        f"\nmodel {Path(model).name}, {args.max_tokens} tokens, {args.threads} threads, "
        f"median of {args.reps * args.rounds} (tokens/s, wall clock, one engine per process)"
    )
    print(f"{'engine':<18} {'mode':<9} {'direct':>8} {'homefire':>9} {'ratio':>6}")
    for engine, mode, direct, ours, ratio in rows:
        print(f"{engine:<18} {mode:<9} {direct:>8.1f} {ours:>9.1f} {ratio:>6.3f}")


if __name__ == "__main__":
    main()
