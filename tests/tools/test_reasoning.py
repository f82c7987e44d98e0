"""Think blocks inside content move to `message.reasoning`, whole and while streaming."""

from __future__ import annotations

import random
from typing import Any

import pytest

from homefire.llm.reasoning import ThinkSplitter, split_think

pytestmark = pytest.mark.unit

CASES = [
    (
        "<think>\nI ponder </thi nk> it</think>\n\nThe answer.",
        "I ponder </thi nk> it",
        "The answer.",
    ),
    ("  <think>a</think>b", "a", "b"),
    ("Plain <think> text", None, "Plain <think> text"),
    ("<think>never closed", "never closed", ""),
    ("opened in the prompt</think>\nAnswer", "opened in the prompt", "Answer"),
    ("<thi", None, "<thi"),
    ("", None, ""),
]


@pytest.mark.parametrize(("text", "thought", "answer"), CASES)
def test_split_think(text: str, thought: str | None, answer: str) -> None:
    assert split_think(text) == (thought, answer)


@pytest.mark.parametrize(("text", "thought", "answer"), CASES[:4] + CASES[5:])
def test_splitter_handles_tags_cut_anywhere(text: str, thought: str | None, answer: str) -> None:
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.randint(0, 6))))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        splitter = ThinkSplitter()
        got_thought = got_answer = ""
        for piece in pieces:
            more_thought, more_answer = splitter.feed(piece)
            got_thought += more_thought
            got_answer += more_answer
        more_thought, more_answer = splitter.finish()
        assert (got_thought + more_thought).strip() == (thought or "")
        assert got_answer + more_answer == answer, pieces


def test_chat_and_stream_chat_split_reasoning(scripted: Any) -> None:
    text = "<think>Two plus two.</think>\nIt is 4."
    llm = scripted([text, text, text])
    response = llm.chat("2+2?")
    assert (response.message.reasoning, response.text) == ("Two plus two.", "It is 4.")
    chunks = list(llm.stream_chat("2+2?"))
    assert "".join(c.delta or "" for c in chunks) == "It is 4."
    assert "".join(c.reasoning_delta or "" for c in chunks) == "Two plus two."
    assert chunks[-1].message.content == "It is 4."
    assert chunks[-1].message.reasoning == "Two plus two."
    raw = llm.chat("2+2?", extra={"reasoning_format": "none"})
    assert raw.text == text


def test_plain_stream_chunks_pass_through_untouched(scripted: Any) -> None:
    llm = scripted(["Hello there, friend."])
    chunks = list(llm.stream_chat("hi"))
    assert "".join(c.delta or "" for c in chunks) == "Hello there, friend."
    assert all(c.message.reasoning is None for c in chunks)
