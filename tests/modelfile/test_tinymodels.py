"""The tiny test models really load and generate on both in-process engines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from homefire import read_model_file
from tinymodels import write_tiny_model

pytestmark = pytest.mark.integration

_XLLAMACPP = r"""
import json, os, sys
import xllamacpp as x
p = x.CommonParams()
p.model.path = sys.argv[1]
p.n_ctx = 256
p.cpuparams.n_threads = 2
p.cpuparams_batch.n_threads = 2
p.api_keys = ["not-used"]
p.use_jinja = True
server = x.Server(p)
reply = server.handle_chat_completions(
    {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0}
)
print(json.dumps(reply["usage"]), flush=True)
os._exit(0)  # xllamacpp's shutdown can stall right after start-up; the answer is in
"""
_LLAMA_CPP_PYTHON = r"""
import json, sys
import llama_cpp
llm = llama_cpp.Llama(sys.argv[1], n_ctx=256, n_threads=2, verbose=False)
reply = llm.create_chat_completion(
    [{"role": "user", "content": "hi"}], max_tokens=4, temperature=0
)
print(json.dumps(reply["usage"]))
"""

SHAPES = {
    "llama": {},
    "llama_untied_q8_mha": {"tied_output": False, "weight_type": "Q8_0", "n_head_kv": 4},
    "gemma2_sliding_window": {"arch": "gemma2", "sliding_window": 64, "n_layer": 4},
}


@pytest.mark.parametrize("engine", ["xllamacpp", "llama-cpp-python"])
@pytest.mark.parametrize("shape", SHAPES)
def test_tiny_model_generates(tmp_path: Path, engine: str, shape: str) -> None:
    pytest.importorskip("xllamacpp" if engine == "xllamacpp" else "llama_cpp")
    path = write_tiny_model(tmp_path / f"{shape}.gguf", **SHAPES[shape])  # type: ignore[arg-type]
    assert read_model_file(path).chat_template is not None
    script = _XLLAMACPP if engine == "xllamacpp" else _LLAMA_CPP_PYTHON
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    usage = json.loads(result.stdout.strip().splitlines()[-1])
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
