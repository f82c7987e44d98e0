"""Closing, replacing and cancelling while answers are generated, on both engines.

Exits and crashes are checked in child processes, each with a timeout: a generation still
running inside llama.cpp when the interpreter exits aborts the whole process.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from inprocess_helpers import ENGINES, no_end, require

import homefire as hf
from homefire.modelfiles.embedded import EMBEDDED_DEFAULTS

pytestmark = pytest.mark.integration

TIMEOUT_S = 120
COUNTING = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"  # continues for as long as it may


def _run_child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def _answers_in_full(model: hf.LlamaCPP) -> None:
    """A new request is answered whole: two tokens, with the end of turn banned."""
    answer = model.complete("Hello", max_tokens=2, extra=no_end(model))
    assert answer.finish_reason == "length" and answer.text
    assert answer.usage is not None and answer.usage.completion_tokens == 2


def _generating_threads() -> list[str]:
    names = ("homefire-stream", "homefire-xllamacpp")
    return [t.name for t in threading.enumerate() if t.name in names and t.is_alive()]


@pytest.mark.parametrize("child_engine", ENGINES)
def test_leaving_an_async_stream_then_the_model_exits_cleanly(
    child_engine: str, smollm2_path: Path
) -> None:
    require(child_engine)
    done = _run_child(
        """
        import asyncio, sys
        import homefire as hf

        async def main():
            with hf.LlamaCPP(sys.argv[1], engine=sys.argv[2], n_threads=2) as llm:
                async for chunk in llm.astream_complete(sys.argv[3], max_tokens=300):
                    break

        asyncio.run(main())
        print("exited")
        """,
        str(smollm2_path),
        child_engine,
        COUNTING,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "exited"


@pytest.mark.parametrize("child_engine", ENGINES)
def test_close_cancels_a_stream_in_another_thread(child_engine: str, smollm2_path: Path) -> None:
    require(child_engine)
    done = _run_child(
        """
        import sys, threading, time
        import homefire as hf

        llm = hf.LlamaCPP(sys.argv[1], engine=sys.argv[2], n_threads=2)
        got, started = [], threading.Event()

        def consume():
            try:
                for chunk in llm.stream_complete(sys.argv[3], max_tokens=400):
                    started.set()
            except hf.GenerationError as error:
                got.append(str(error))

        worker = threading.Thread(target=consume, daemon=True)
        worker.start()
        assert started.wait(60)
        llm.close()
        worker.join(60)
        print("consumer alive:", worker.is_alive())
        print("consumer:", got)
        """,
        str(smollm2_path),
        child_engine,
        COUNTING,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    alive, consumer = done.stdout.strip().splitlines()[-2:]
    assert alive == "consumer alive: False"
    assert "closed or replaced" in consumer


async def test_cancelling_an_async_answer_stops_the_generation(llm: hf.LlamaCPP) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            llm.acomplete(COUNTING, max_tokens=1500, temperature=0, extra=no_end(llm)), 0.5
        )
    assert _generating_threads() == []
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            llm.achat([hf.user(COUNTING)], max_tokens=1500, temperature=0, extra=no_end(llm)),
            0.5,
        )
    assert _generating_threads() == []
    answer = await asyncio.wait_for(llm.achat([hf.user("Say hi")], max_tokens=4), TIMEOUT_S)
    assert answer.text and answer.delta is None
    assert answer.usage is not None and answer.usage.completion_tokens > 0


def test_a_stream_opened_before_load_model_fails_clearly(engine: str, smollm2_path: Path) -> None:
    with hf.LlamaCPP(smollm2_path, engine=engine, n_threads=2) as model:
        stream = model.stream_complete("Hello", max_tokens=4)
        model.load_model(smollm2_path)
        with pytest.raises(hf.GenerationError, match="closed or replaced"):
            list(stream)
        _answers_in_full(model)
        stream = model.stream_complete("Hello", max_tokens=4)
        model.close()
        with pytest.raises(hf.GenerationError, match="closed or replaced"):
            list(stream)


def test_replacing_the_model_inside_an_open_stream(engine: str, smollm2_path: Path) -> None:
    model = hf.LlamaCPP(smollm2_path, engine=engine, n_threads=2)
    try:
        # long enough that the answer cannot be complete when the model is replaced
        stream = model.stream_complete(COUNTING, max_tokens=2000, extra=no_end(model))
        next(stream)
        old = model._engine
        model.load_model(smollm2_path)  # must not raise, nor leave the old model loaded
        with pytest.raises(hf.GenerationError, match="closed or replaced"):
            list(stream)
        if engine == "llama-cpp-python":
            assert old._llm is None  # type: ignore[union-attr]
        _answers_in_full(model)
    finally:
        model.close()


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "bogus"},
        {"type": "object", "properties": {"a": {"$ref": "#/defs/x"}}},
    ],
)
def test_a_bad_json_schema_is_refused(llm: hf.LlamaCPP, schema: dict[str, object]) -> None:
    with pytest.raises(hf.InvalidParameterError, match="json_schema"):
        llm.chat("hi", max_tokens=5, json_schema=schema)
    with pytest.raises(hf.InvalidParameterError, match="json_schema"):
        list(llm.stream_chat("hi", max_tokens=5, json_schema=schema))


def test_a_schema_with_definitions_is_accepted(llm: hf.LlamaCPP) -> None:
    schema = {
        "type": "object",
        "properties": {"type": {"$ref": "#/$defs/kind"}},
        "required": ["type"],
        "$defs": {"kind": {"type": "string", "enum": ["a", "b"]}},
    }
    answer = llm.chat("Pick a or b.", max_tokens=20, json_schema=schema)
    assert answer.text.startswith("{")


def test_embedded_defaults_follow_the_model(engine: str, smollm2_path: Path) -> None:
    with hf.LlamaCPP(smollm2_path, engine=engine, n_threads=2, temperature=0.5) as model:
        assert model.default_options.repeat_penalty is None
        assert model.metadata.num_output == 256
        model.load_model()  # the embedded model: its defaults, under the caller's own
        assert model.default_options.repeat_penalty == EMBEDDED_DEFAULTS.repeat_penalty
        assert model.default_options.temperature == 0.5
        assert model.metadata.num_output == EMBEDDED_DEFAULTS.max_tokens
        model.load_model(smollm2_path)
        assert model.default_options.repeat_penalty is None
        assert model.default_options.max_tokens is None
    with hf.LlamaCPP(engine=engine, n_threads=2, max_new_tokens=40) as model:
        assert model.default_options.temperature == EMBEDDED_DEFAULTS.temperature
        assert model.metadata.num_output == 40


def test_load_model_frees_the_embedding_context(engine: str, smollm2_path: Path) -> None:
    with hf.LlamaCPP(smollm2_path, engine=engine, n_threads=2, context_window=256) as model:
        assert len(model.embed("hello")[0]) > 0
        assert model._embedder is not None
        embedder = model._embedder[1]
        model.load_model(smollm2_path)
        assert model._embedder is None
        with pytest.raises(hf.GenerationError, match="closed or replaced"):
            embedder.embed(["hello"])
        assert len(model.embed("hello")[0]) > 0
