"""llama.cpp writes nothing to the terminal unless asked to (verbose=True)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from inprocess_helpers import require

pytestmark = pytest.mark.integration

SCRIPT = """
import sys
import homefire as hf

llm = hf.LlamaCPP(sys.argv[1], engine=sys.argv[2], n_threads=2, verbose=sys.argv[3] == "1")
llm.chat("hi", max_tokens=4)
list(llm.stream_complete("hello", max_tokens=4))
llm.count_tokens("hello")
llm.load_model(sys.argv[1])
llm.close()
print("done")
"""


def _run(model: Path, engine: str, verbose: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(model), engine, "1" if verbose else "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_engines_are_quiet_by_default(engine: str, tiny_model: Path) -> None:
    result = _run(tiny_model, engine, verbose=False)
    assert result.stdout == "done\n"
    assert result.stderr == ""


def test_verbose_shows_the_engine_log(tiny_model: Path) -> None:
    require("xllamacpp")
    result = _run(tiny_model, "xllamacpp", verbose=True)
    assert "load_model" in result.stderr
