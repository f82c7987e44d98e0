"""Generation speed through homefire against the same engine called directly.

Same model, settings, prompt and request (greedy, end-of-turn tokens banned so every run
generates exactly --max-tokens tokens), in the same process. Runs alternate between the two
sides so a busy machine slows both alike; each figure is the median of --reps runs of
wall-clock tokens per second, measured around the call as a user would see it.

    .venv/bin/python benchmarks/inprocess.py [--reps 5] [--max-tokens 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import homefire as hf
from homefire.modelfiles.embedded import embedded_model_path

CONTEXT = 2048
PROMPT_MESSAGES = [
    hf.system("You are a storyteller."),
    hf.user("Tell me a long story about a fox."),
]

Run = Callable[[], int]  # one generation; returns the number of tokens generated


def _timed(run: Run) -> float:
    started = time.perf_counter()
    tokens = run()
    return tokens / (time.perf_counter() - started)


def _xllamacpp_direct(model: Path, threads: int, slots: int) -> Any:
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
    return xllamacpp.Server(params)


def _sides(engine: str, model: Path, threads: int, max_tokens: int) -> dict[str, dict[str, Run]]:
    """{"complete": {"direct": run, "homefire": run}, "stream": {...}} for one engine."""
    llm = hf.LlamaCPP(model, engine=engine, n_threads=threads, context_window=CONTEXT)
    prompt = llm.messages_to_prompt(PROMPT_MESSAGES)
    ends = [llm.tokenize("<|im_end|>")[0], llm.tokenize("<|endoftext|>")[0]]
    request: dict[str, Any] = {"max_tokens": max_tokens, "temperature": 0.0}

    if engine == "xllamacpp":
        bias: dict[str, Any] = {"logit_bias": {str(t): -100.0 for t in ends}}
        server = _xllamacpp_direct(model, threads, llm.metadata.extra["n_parallel"])
        body = {"prompt": prompt, **request, **bias}

        def direct_complete() -> int:
            return int(server.handle_completions(dict(body))["usage"]["completion_tokens"])

        def direct_stream() -> int:
            count = 0

            def on_chunk(chunk: dict[str, Any]) -> bool:
                nonlocal count
                count += bool(chunk.get("choices") and chunk["choices"][0].get("text"))
                return False

            server.handle_completions({**body, "stream": True}, on_chunk)
            return count

    else:
        import llama_cpp

        bias = {"logit_bias": dict.fromkeys(ends, -100.0)}
        direct: Any = llama_cpp.Llama(
            str(model), n_ctx=CONTEXT, n_threads=threads, n_threads_batch=threads, verbose=False
        )
        kwargs = {"prompt": prompt, **request, **bias, "seed": 0}

        def direct_complete() -> int:
            return int(direct.create_completion(**kwargs)["usage"]["completion_tokens"])

        def direct_stream() -> int:
            return sum(
                bool(c["choices"][0]["text"])
                for c in direct.create_completion(**kwargs, stream=True)
            )

    def homefire_complete() -> int:
        response = llm.complete(prompt, formatted=True, extra=bias, **request)
        assert response.usage is not None
        return response.usage.completion_tokens

    def homefire_stream() -> int:
        return sum(
            bool(c.delta)
            for c in llm.stream_complete(prompt, formatted=True, extra=bias, **request)
        )

    return {
        "complete": {"direct": direct_complete, "homefire": homefire_complete},
        "stream": {"direct": direct_stream, "homefire": homefire_stream},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: embedded)")
    args = parser.parse_args()
    model = args.model or embedded_model_path()

    rows = []
    for engine, package in (("xllamacpp", "xllamacpp"), ("llama-cpp-python", "llama_cpp")):
        if importlib.util.find_spec(package) is None:
            print(f"{engine}: not installed, skipped")
            continue
        for mode, runs in _sides(engine, model, args.threads, args.max_tokens).items():
            for run in runs.values():
                run()  # warm-up: caches, page faults, first-call costs
            speeds: dict[str, list[float]] = {"direct": [], "homefire": []}
            for _ in range(args.reps):
                for side, run in runs.items():
                    speeds[side].append(_timed(run))
            direct = statistics.median(speeds["direct"])
            ours = statistics.median(speeds["homefire"])
            rows.append((engine, mode, direct, ours, ours / direct))

    print(
        f"\nmodel {model.name}, {args.max_tokens} tokens, {args.threads} threads, "
        f"median of {args.reps} (tokens/s, wall clock)"
    )
    print(f"{'engine':<18} {'mode':<9} {'direct':>8} {'homefire':>9} {'ratio':>6}")
    for engine, mode, direct, ours, ratio in rows:
        print(f"{engine:<18} {mode:<9} {direct:>8.1f} {ours:>9.1f} {ratio:>6.3f}")


if __name__ == "__main__":
    main()
