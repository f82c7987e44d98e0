"""The public names, and what importing the package loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

import langchain_homefire

pytestmark = pytest.mark.unit


def test_public_names() -> None:
    assert langchain_homefire.__all__ == ["ChatHomefire", "HomefireEmbeddings"]


def test_import_loads_no_homefire_module_beyond_the_face() -> None:
    code = (
        "import sys, langchain_homefire; "
        "print(sorted(m for m in sys.modules if m.startswith('homefire.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
