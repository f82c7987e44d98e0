"""The embedded default model's own generation defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

import homefire as hf

pytestmark = pytest.mark.integration


def test_the_embedded_model_answers_greedily_unless_told_otherwise(smollm2_path: Path) -> None:
    with hf.LlamaCPP(n_threads=2) as embedded:
        assert embedded.default_options.temperature == 0.0
        assert embedded.default_options.max_tokens == 512
        first = embedded.chat("Name a colour.").text
        assert embedded.chat("Name a colour.").text == first
    with hf.LlamaCPP(temperature=0.7, max_new_tokens=20, n_threads=2) as tuned:
        assert tuned.default_options.temperature == 0.7
        assert tuned.default_options.max_tokens == 20
    with hf.LlamaCPP(model_path=smollm2_path, n_threads=2) as by_path:
        assert by_path.default_options.temperature is None
