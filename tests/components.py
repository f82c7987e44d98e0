"""The real components some tests need, and how a test asks for one.

A test that cannot run without a component (the recorded samples, an engine, Xinference's
environment) calls `require(...)`: it skips, saying what is missing and how to get it. Under
`CI=true` (how CI runs the suite) the conftest turns every such skip into a failure, so CI
cannot pass having tested less. A skip that is right on some machines whatever is installed
(root reads any file) is marked `@pytest.mark.allowed_skip` instead.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def _samples() -> Path:
    """`$HOMEFIRE_SAMPLES`, else `shared/reference/samples` beside this checkout or above it."""
    if os.environ.get("HOMEFIRE_SAMPLES"):
        return Path(os.environ["HOMEFIRE_SAMPLES"])
    for folder in REPO.parents:
        candidate = folder / "shared" / "reference" / "samples"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "reference" / "samples"


SAMPLES = _samples()


def require(present: bool, what: str, how: str) -> None:
    """Skip the test when `what` is not `present`, saying `how` to provide it."""
    if not present:
        pytest.skip(f"{what} is missing: {how}", allow_module_level=True)


def require_samples() -> Path:
    require(SAMPLES.is_dir(), f"the recorded samples ({SAMPLES})", "set $HOMEFIRE_SAMPLES")
    return SAMPLES


def require_module(name: str, how: str) -> ModuleType:
    """Import `name`, or skip saying `how` to install it."""
    require(importlib.util.find_spec(name) is not None, f"the {name} package", how)
    return pytest.importorskip(name)
