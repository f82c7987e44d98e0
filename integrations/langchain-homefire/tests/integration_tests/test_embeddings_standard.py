"""LangChain's standard embeddings suite, against the embedded SmolLM2-135M in process."""

from __future__ import annotations

from typing import Any

import homefire as hf
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests

from langchain_homefire import HomefireEmbeddings

pytestmark = pytest.mark.integration


class TestHomefireEmbeddings(EmbeddingsIntegrationTests):
    llm: hf.LLM

    @pytest.fixture(autouse=True)
    def _shared_model(self, smollm2: hf.LLM) -> None:
        self.llm = smollm2

    @property
    def embeddings_class(self) -> type[HomefireEmbeddings]:
        return HomefireEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": self.llm}
