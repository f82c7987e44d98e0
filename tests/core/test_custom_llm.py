from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import homefire as hf

pytestmark = pytest.mark.unit


class Reverser(hf.CustomLLM):
    """Answers with the last line of the prompt reversed, and records what it was asked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def complete(self, prompt: str, **kwargs: Any) -> hf.CompletionResponse:  # type: ignore[override]
        self.calls.append((prompt, kwargs))
        return hf.CompletionResponse(text=prompt.splitlines()[-2][::-1], finish_reason="stop")

    def stream_complete(self, prompt: str, **kwargs: Any) -> Iterator[str]:  # type: ignore[override]
        self.calls.append((prompt, kwargs))
        yield from prompt.splitlines()[-2][::-1]


class AsyncOnly(hf.CustomLLM):
    async def acomplete(self, prompt: str, **kwargs: Any) -> str:  # type: ignore[override]
        await asyncio.sleep(0)
        return prompt.upper()

    async def astream_complete(self, prompt: str, **kwargs: Any) -> AsyncIterator[str]:  # type: ignore[override]
        for word in prompt.split():
            await asyncio.sleep(0)
            yield word.upper() + " "


def test_chat_uses_the_prompt_format_and_passes_options() -> None:
    llm = Reverser(defaults=hf.GenerationOptions(temperature=0.3))
    answer = llm.chat([hf.system("be terse"), hf.user("hello")], max_tokens=9, stop=["x"])
    assert answer.message.role is hf.MessageRole.ASSISTANT
    assert answer.text == "olleh :resu"
    prompt, kwargs = llm.calls[-1]
    assert prompt == "system: be terse\nuser: hello\nassistant:"
    assert kwargs == {"temperature": 0.3, "max_tokens": 9, "stop": ["x"]}


def test_streaming_accumulates_deltas() -> None:
    chunks = list(Reverser().stream_chat("abc"))
    assert [c.delta for c in chunks] == list("cba :resu")
    assert chunks[-1].text == "cba :resu"


def test_messages_to_prompt_and_chat_template_overrides() -> None:
    llm = Reverser(messages_to_prompt=lambda ms: "\n".join(m.content or "" for m in ms) + "\nend")
    assert llm.chat("ping").text == "gnip"
    templated = Reverser(chat_template="{% for m in messages %}[{{ m.content }}]\n{% endfor %}>\n")
    assert templated.chat("pong").text == "]gnop["


async def test_async_forms_reach_the_sync_implementation() -> None:
    llm = Reverser()
    assert (await llm.achat("hey")).text == "yeh :resu"
    assert (await llm.acomplete("one\ntwo\n")).text == "eno"
    deltas = [c.delta async for c in llm.astream_chat("hey")]
    assert "".join(d or "" for d in deltas) == "yeh :resu"


def test_user_methods_answer_with_normalised_responses() -> None:
    assert isinstance(AsyncOnly().complete("a"), hf.CompletionResponse)
    response = Reverser().complete("one\ntwo\n", temperature=0.5)
    assert response.text == "eno" and response.finish_reason == "stop"


def test_async_only_llm_works_from_sync_code_too() -> None:
    llm = AsyncOnly()
    assert llm.complete("shout").text == "SHOUT"
    assert "".join(c.delta or "" for c in llm.stream_complete("a b")) == "A B "


async def test_async_only_llm_in_async_code() -> None:
    llm = AsyncOnly()
    assert (await llm.acomplete("x y")).text == "X Y"
    assert [c.text async for c in llm.astream_complete("x y")] == ["X ", "X Y "]


def test_metadata_comes_for_free() -> None:
    meta = Reverser().metadata
    assert meta.context_window == 4096 and meta.model_name == "custom"


def test_a_custom_llm_must_implement_completion() -> None:
    class Empty(hf.CustomLLM):
        pass

    with pytest.raises(TypeError, match="complete"):
        Empty()


def test_invalid_options_fail_before_the_model_is_called() -> None:
    llm = Reverser()
    with pytest.raises(hf.InvalidParameterError):
        llm.chat("x", temperature=-1)
    with pytest.raises(hf.InvalidParameterError):
        llm.complete("x", max_tokens=0)
    with pytest.raises(hf.InvalidParameterError):
        llm.stream_chat("x", top_p=2)
    assert llm.calls == []


def test_tools_are_refused_on_completions() -> None:
    def noop() -> None:
        """Does nothing."""

    llm = Reverser()
    with pytest.raises(hf.InvalidParameterError, match="chat"):
        llm.complete("x", tools=[noop])
    with pytest.raises(hf.InvalidParameterError, match="chat"):
        llm.stream_complete("x", tools=[noop])
    assert llm.calls == []


def test_a_wrong_return_type_is_named() -> None:
    class Broken(hf.CustomLLM):
        def complete(self, prompt: str, **kwargs: Any) -> Any:  # type: ignore[override]
            return 42

    with pytest.raises(TypeError, match="returned int"):
        Broken().complete("x")


def test_sync_call_from_async_code_on_the_private_loop_does_not_deadlock() -> None:
    inner = AsyncOnly()

    class Outer(hf.CustomLLM):
        async def acomplete(self, prompt: str, **kwargs: Any) -> str:  # type: ignore[override]
            return inner.complete(prompt).text + "!"

    assert Outer().complete("hey").text == "HEY!"
