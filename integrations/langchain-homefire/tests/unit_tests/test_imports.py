"""The public names, and what importing the package loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

import langchain_homefire

pytestmark = pytest.mark.unit


def test_public_names() -> None:
    assert langchain_homefire.__all__ == ["ChatHomefire", "HomefireEmbeddings"]


def _homefire_modules(imports: str) -> list[str]:
    listing = "print(sorted(m for m in sys.modules if m.startswith('homefire')))"
    code = f"import sys; {imports}; {listing}"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return list(out.stdout.split())


def test_import_loads_no_homefire_module_beyond_the_face() -> None:
    face = _homefire_modules("import homefire")
    assert _homefire_modules("import langchain_homefire") == face
