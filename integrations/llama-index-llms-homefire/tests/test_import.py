"""Importing the integration loads LlamaIndex's core and homefire's face (what `import homefire`
loads), nothing more."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

PROBE = """
import json, sys
before = set(sys.modules)
import llama_index.core.llms, llama_index.core.base.embeddings.base, homefire
framework = set(sys.modules)
import llama_index.llms.homefire, llama_index.embeddings.homefire
print(json.dumps(sorted(set(sys.modules) - framework)))
"""


def test_import_adds_only_the_adapter_and_homefire_face() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env
    )
    added = json.loads(out.stdout)
    assert [m for m in added if m.startswith("homefire")] == []
    assert all(m.startswith("llama_index.") for m in added), added
