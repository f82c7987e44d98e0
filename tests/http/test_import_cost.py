"""`import homefire` stays cheap: no provider, engine, CLI or transport module comes with it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

HEAVY = (
    "homefire.providers.",
    "homefire.cli",
    "homefire.http",
    "homefire.servers.launch",
    "homefire.servers.serve",
)
THIRD_PARTY = ("httpx", "xllamacpp", "llama_cpp", "click", "rich", "jinja2", "openai")


def modules_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def test_import_homefire_loads_no_provider_engine_cli_or_transport() -> None:
    loaded = modules_after("import homefire")
    assert not {m for m in loaded if m.startswith(HEAVY)} - {"homefire.providers._registry"}
    assert not {m for m in loaded if m.split(".")[0] in THIRD_PARTY}


def test_naming_a_server_provider_loads_only_what_it_needs() -> None:
    loaded = modules_after("import homefire as hf\nhf.Llamafile\nhf.Timeouts")
    assert "homefire.providers.llamafile" in loaded and "httpx" in loaded
    assert not {m for m in loaded if m.startswith("homefire.cli")}
    assert not {m for m in loaded if m.split(".")[0] in ("xllamacpp", "llama_cpp")}
