"""LangChain's standard chat model suite, against the embedded SmolLM2-135M in process."""

from __future__ import annotations

from typing import Any

import homefire as hf
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_homefire import ChatHomefire

pytestmark = pytest.mark.integration

# The 135M model calls the right tool (the output is constrained to a call of it) but does not
# read the number out of the question; a larger model passes these as they stand.
_ARGUMENTS = "SmolLM2-135M fills the tool's arguments with numbers of its own, not the 3 asked"


class TestChatHomefire(ChatModelIntegrationTests):
    llm: hf.LLM

    @pytest.fixture(autouse=True)
    def _shared_model(self, smollm2: hf.LLM) -> None:
        self.llm = smollm2

    @property
    def chat_model_class(self) -> type[ChatHomefire]:
        return ChatHomefire

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"llm": self.llm}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def supports_model_override(self) -> bool:
        # One ChatHomefire talks to one homefire LLM; another model is another ChatHomefire.
        return False

    @pytest.mark.xfail(reason=_ARGUMENTS)
    @pytest.mark.parametrize("model", [{}, {"output_version": "v1"}], indirect=True)
    def test_tool_calling(self, model: BaseChatModel) -> None:
        super().test_tool_calling(model)

    @pytest.mark.xfail(reason=_ARGUMENTS)
    async def test_tool_calling_async(self, model: BaseChatModel) -> None:
        await super().test_tool_calling_async(model)

    @pytest.mark.xfail(
        reason="SmolLM2-135M does not copy Japanese text into the tool's arguments (Chinese "
        "passes); the tool call itself is forced and well-formed"
    )
    def test_unicode_tool_call_integration(
        self,
        model: BaseChatModel,
        *,
        tool_choice: str | None = None,  # noqa: PT028 - the standard test's own signature
        force_tool_call: bool = True,  # noqa: PT028
    ) -> None:
        super().test_unicode_tool_call_integration(
            model, tool_choice=tool_choice, force_tool_call=force_tool_call
        )

    @pytest.mark.xfail(
        reason="JSON mode holds the answer to some JSON object, not to the keys the prompt asks "
        "for, and SmolLM2-135M nests objects where strings are asked"
    )
    def test_json_mode(self, model: BaseChatModel) -> None:
        super().test_json_mode(model)
