"""One registry of providers: what the face, `connect`, `discover` and `doctor` read, and the
entry points through which another package adds a provider."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import homefire as hf
from homefire.providers import _registry

pytestmark = pytest.mark.unit


def test_every_row_names_a_provider_class() -> None:
    for row in _registry.BUILTIN:
        cls = row.load()
        assert issubclass(cls, hf.LLM), row
        assert _registry.for_class(cls) == row
        if row.public:
            assert getattr(hf, row.class_name) is cls


def test_the_facts_come_from_the_row() -> None:
    llm = hf.LMStudio("m")
    row = _registry.get("lmstudio")
    assert llm.label == row.label == "LM Studio"
    assert llm.base_url == row.default_base_url == "http://localhost:1234"
    assert llm.http.start_hint == row.start_hint
    ports = set(_registry.usual_ports())
    assert {1234, 8000, 8080, 9997, 11434} <= ports
    assert ports == {r.port for r in _registry.BUILTIN if r.port is not None}


def test_a_user_subclass_keeps_its_provider_row() -> None:
    class MyOllama(hf.Ollama):
        pass

    assert MyOllama("m").label == "Ollama"


def test_unknown_schemes_are_refused_with_the_known_ones() -> None:
    with pytest.raises(hf.InvalidParameterError, match="lmstudio"):
        hf.connect("nosuch://127.0.0.1:1/m")


def _test_distribution(root: Path) -> None:
    """A package on sys.path that registers the scheme `echo` through an entry point."""
    (root / "echo_provider.py").write_text(
        textwrap.dedent(
            """
            import homefire as hf


            class Echo(hf.CustomLLM):
                label = "Echo server"
                default_port = 9999

                def __init__(self, base_url=None, model=None):
                    super().__init__()
                    self.base_url, self.model_name = base_url, model or "echo"

                def complete(self, prompt, **options):
                    return prompt[-12:]
            """
        )
    )
    info = root / "echo_provider-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-provider\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[homefire.providers]\necho = echo_provider:Echo\n")


def test_a_provider_registered_by_another_package(tmp_path: Path) -> None:
    _test_distribution(tmp_path)
    script = textwrap.dedent(
        """
        import json, homefire as hf
        from homefire.providers import _registry
        llm = hf.connect("echo://127.0.0.1:9999/parrot")
        row = _registry.get("echo")
        print(json.dumps({
            "class": type(llm).__name__, "base_url": llm.base_url, "model": llm.model_name,
            "label": row.label, "port": row.port, "answer": llm.complete("say hello").text,
        }))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "class": "Echo",
        "base_url": "http://127.0.0.1:9999",
        "model": "parrot",
        "label": "Echo server",
        "port": 9999,
        "answer": "say hello",
    }
