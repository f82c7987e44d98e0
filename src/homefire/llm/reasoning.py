"""Keep a model's `<think>...</think>` text out of its answer, whole or while streaming.

Servers that parse reasoning themselves send it in a field of its own; the others leave the
tags in the content. A response is split when its content starts with `<think>` or carries
a lone `</think>` (templates that open the block in the prompt); a stream is split by
`ThinkSplitter`, which holds back just enough text to recognise a tag cut across chunks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

from homefire.options import GenerationOptions
from homefire.types import ChatResponse

OPEN, CLOSE = "<think>", "</think>"


def keeps_tags(options: GenerationOptions) -> bool:
    """True when the caller asked for the raw text (`extra={"reasoning_format": "none"}`)."""
    return options.extra.get("reasoning_format") == "none"


def split_think(text: str) -> tuple[str | None, str]:
    """(reasoning, answer) from text that may begin with a think block."""
    stripped = text.lstrip()
    if stripped.startswith(OPEN):
        inner, closed, rest = stripped[len(OPEN) :].partition(CLOSE)
        return inner.strip(), rest.lstrip() if closed else ""
    if CLOSE in text and OPEN not in text:
        inner, _, rest = text.partition(CLOSE)
        return inner.strip(), rest.lstrip()
    return None, text


def _join(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"{first}\n{second}"
    return first or second or None


def split_response(response: ChatResponse) -> ChatResponse:
    """The response with any think block moved from content to `message.reasoning`."""
    content = response.message.content
    if not content or (OPEN not in content and CLOSE not in content):
        return response
    thought, answer = split_think(content)
    if thought is None:
        return response
    message = replace(
        response.message, content=answer, reasoning=_join(response.message.reasoning, thought)
    )
    return replace(response, message=message)


class ThinkSplitter:
    """Feed content pieces in order; get (reasoning, answer) pieces back.

    Only a think block at the very start is recognised, as models emit it; once answer text
    has been seen, everything passes through untouched.
    """

    def __init__(self) -> None:
        self._state = "start"
        self._held = ""

    @property
    def passthrough(self) -> bool:
        """True once no more tags can appear; callers may then forward chunks as they are."""
        return self._state == "answer" and not self._held

    def feed(self, piece: str) -> tuple[str, str]:
        if self._state == "answer":
            return "", piece
        if self._state == "gap":
            return "", self._answer(piece.lstrip())
        text = self._held + piece
        self._held = ""
        if self._state == "start":
            head = text.lstrip()
            if not head or (len(head) < len(OPEN) and OPEN.startswith(head)):
                self._held = text
                return "", ""
            if not head.startswith(OPEN):
                self._state = "answer"
                return "", text
            self._state = "thinking"
            text = head[len(OPEN) :].lstrip("\n")
        inner, closed, rest = text.partition(CLOSE)
        if closed:
            return inner, self._answer(rest.lstrip())
        keep = _partial_tag_length(text)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], ""

    def _answer(self, text: str) -> str:
        """Past the closing tag, the answer starts at its first non-blank character."""
        self._state = "answer" if text else "gap"
        return text

    def finish(self) -> tuple[str, str]:
        """Whatever was held back when the stream ended."""
        held, self._held = self._held, ""
        if self._state == "thinking":
            return held, ""
        return "", held


def _partial_tag_length(text: str) -> int:
    """Length of the longest tail of `text` that could begin `</think>`."""
    for size in range(min(len(CLOSE) - 1, len(text)), 0, -1):
        if CLOSE.startswith(text[-size:]):
            return size
    return 0


class _StreamSplit:
    """Rewrites a chat stream's chunks so content and reasoning stay apart."""

    def __init__(self) -> None:
        self.splitter = ThinkSplitter()
        self.content = ""
        self.reasoning = ""
        self.rewritten = False
        self.last: ChatResponse | None = None

    def apply(self, chunk: ChatResponse) -> ChatResponse:
        if not self.rewritten and self.splitter.passthrough:
            return chunk
        self.last = chunk
        thought, answer = self.splitter.feed(chunk.delta or "")
        if chunk.finish_reason is not None:
            self.last = None
            more_thought, more_answer = self.splitter.finish()
            thought, answer = thought + more_thought, answer + more_answer
        self.rewritten = self.rewritten or bool(thought) or answer != (chunk.delta or "")
        return self._emit(chunk, thought, answer)

    def _emit(self, chunk: ChatResponse, thought: str, answer: str) -> ChatResponse:
        self.content += answer
        self.reasoning += (chunk.reasoning_delta or "") + thought
        if not self.rewritten:
            return chunk
        message = replace(chunk.message, content=self.content, reasoning=self.reasoning or None)
        reasoning_delta = (chunk.reasoning_delta or "") + thought
        return replace(
            chunk, message=message, delta=answer, reasoning_delta=reasoning_delta or None
        )

    def close(self) -> ChatResponse | None:
        """Text still held back when a stream ended without a finishing chunk."""
        last, self.last = self.last, None
        thought, answer = self.splitter.finish()
        if last is None or not (thought or answer):
            return None
        return self._emit(replace(last, delta="", reasoning_delta=None), thought, answer)


def split_stream(chunks: Iterator[ChatResponse]) -> Iterator[ChatResponse]:
    """A chat stream with think blocks moved out of the content deltas."""
    state = _StreamSplit()
    for chunk in chunks:
        yield state.apply(chunk)
    if (tail := state.close()) is not None:
        yield tail


async def asplit_stream(chunks: AsyncIterator[ChatResponse]) -> AsyncIterator[ChatResponse]:
    state = _StreamSplit()
    async for chunk in chunks:
        yield state.apply(chunk)
    if (tail := state.close()) is not None:
        yield tail
