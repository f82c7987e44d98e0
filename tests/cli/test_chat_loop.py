"""The chat loop and streaming output, driven in-process with a small CustomLLM."""

from __future__ import annotations

import _thread
import io
import json
import time
from collections.abc import Iterator

import pytest

from homefire.cli.chat_cmd import _print_json, _repl, _stream_to_stdout
from homefire.cli.models_cmd import _size
from homefire.errors import ContextOverflowError
from homefire.llm.custom import CustomLLM
from homefire.types import CompletionResponse, Timings, Usage, system

pytestmark = pytest.mark.unit


class Scripted(CustomLLM):
    """Answers 'answer N' word by word; the first answer can stop itself with a Ctrl-C."""

    model_name = "scripted"

    def __init__(self, interrupt_first: bool = False) -> None:
        super().__init__()
        self.prompts: list[str] = []
        self.closed: list[bool] = []
        self.interrupt_first = interrupt_first

    def complete(self, prompt: str, **kwargs: object) -> CompletionResponse:  # type: ignore[override]
        self.prompts.append(prompt)
        return CompletionResponse(text=f"answer {len(self.prompts)}")

    def stream_complete(self, prompt: str, **kwargs: object) -> Iterator[str]:  # type: ignore[override]
        self.prompts.append(prompt)
        self.closed.append(False)
        try:
            yield "answer "
            if self.interrupt_first and len(self.prompts) == 1:
                yield "partial"
                _thread.interrupt_main()
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    time.sleep(0.01)
                yield " never reached"
            yield str(len(self.prompts))
        finally:
            self.closed[-1] = True


def _feed(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_multi_turn_history_reaches_the_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = Scripted()
    _feed(monkeypatch, "first question\n\nsecond question\n")
    _repl(llm, [system("Be brief.")], None, {"max_tokens": 5})
    out = capsys.readouterr().out
    assert out == "answer 1\nanswer 2\n"
    assert len(llm.prompts) == 2
    second = llm.prompts[1]
    for piece in ("Be brief.", "first question", "answer 1", "second question"):
        assert piece in second
    assert second.index("first question") < second.index("answer 1") < second.index("second")


def test_first_prompt_is_answered_before_reading_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = Scripted()
    _feed(monkeypatch, "next\n")
    _repl(llm, [], "opening", {})
    assert capsys.readouterr().out == "answer 1\nanswer 2\n"
    assert "opening" in llm.prompts[0]


def test_slash_commands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = Scripted()
    _feed(monkeypatch, "one\n/reset\n/help\n/nope\ntwo\n/exit\nthree\n")
    _repl(llm, [system("sys")], None, {})
    captured = capsys.readouterr()
    assert captured.out == "answer 1\nanswer 2\n"
    assert "one" not in llm.prompts[1]
    assert "sys" in llm.prompts[1]
    assert "/reset" in captured.err
    assert "unknown command /nope" in captured.err
    assert len(llm.prompts) == 2


def test_ctrl_c_stops_the_answer_and_the_chat_goes_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = Scripted(interrupt_first=True)
    _feed(monkeypatch, "tell a long story\nand then?\n")
    _repl(llm, [], None, {})
    captured = capsys.readouterr()
    assert captured.out == "answer partial\nanswer 2\n"
    assert "never reached" not in captured.out
    assert "(stopped)" in captured.err
    assert llm.closed == [True, True]
    assert "answer partial" in llm.prompts[1]


def test_stream_to_stdout_reports_backend_stats(capsys: pytest.CaptureFixture[str]) -> None:
    chunks = iter(
        [
            CompletionResponse(text="Hel", delta="Hel"),
            CompletionResponse(
                text="Hello",
                delta="lo",
                timings=Timings(generated_tokens=7, tokens_per_second=123.45),
                finish_reason="stop",
            ),
        ]
    )
    answer = _stream_to_stdout(chunks)
    assert capsys.readouterr().out == "Hello\n"
    assert answer.text == "Hello"
    assert not answer.interrupted
    assert answer.stats() == "7 tokens, 123.5 tok/s"


def test_json_output_has_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    response = CompletionResponse(
        text="Paris", usage=Usage(prompt_tokens=3, completion_tokens=2), finish_reason="stop"
    )
    _print_json(response, Scripted())
    body = json.loads(capsys.readouterr().out)
    assert body == {
        "text": "Paris",
        "finish_reason": "stop",
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 2,
            "cached_tokens": None,
            "total_tokens": 5,
        },
        "timings": None,
        "model": "scripted",
    }


class Overflowing(Scripted):
    """Refuses a prompt that mentions 'huge', as a model with a small context would."""

    def stream_complete(self, prompt: str, **kwargs: object) -> Iterator[str]:  # type: ignore[override]
        if "huge" in prompt.rsplit("user", 1)[-1]:
            raise ContextOverflowError(500, 128)
        self.prompts.append(prompt)
        yield f"answer {len(self.prompts)}"


def test_an_error_drops_the_turn_and_the_chat_goes_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = Overflowing()
    _feed(monkeypatch, "first\nhuge question\nlast\n")
    _repl(llm, [], None, {})
    captured = capsys.readouterr()
    assert captured.out == "answer 1\nanswer 2\n"
    assert "context window is 128" in captured.err
    assert "/reset" in captured.err
    assert "huge" not in llm.prompts[-1]
    assert "first" in llm.prompts[-1]


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (None, ""),
        (999, "999 B"),
        (1_500, "1.5 KB"),
        (4_700_000_000, "4.7 GB"),
        (2 * 10**12, "2.0 TB"),
    ],
)
def test_sizes_keep_one_decimal(size: float | None, shown: str) -> None:
    assert _size(None if size is None else int(size)) == shown
