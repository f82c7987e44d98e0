from __future__ import annotations

from pathlib import Path

import pytest

import homefire as hf
from homefire.errors import ChatTemplateError
from homefire.llm.templates import render_chat_template

pytestmark = pytest.mark.unit

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_renders_a_chatml_template() -> None:
    prompt = render_chat_template(CHATML, [hf.system("Be brief."), hf.user("Hi")])
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_raise_exception_in_a_template_becomes_a_template_error() -> None:
    template = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(ChatTemplateError, match="roles must alternate"):
        render_chat_template(template, [hf.user("x")], source="test.gguf")


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.system('touch {marker}') }}",
        "{{ messages.append('x') }}",
        "{% set x = messages.pop() %}",
    ],
)
def test_sandbox_escapes_run_nothing(payload: str, tmp_path: Path) -> None:
    marker = tmp_path / "escaped"
    template = payload.replace("{marker}", str(marker))
    with pytest.raises(ChatTemplateError, match=r"evil\.gguf"):
        render_chat_template(template, [hf.user("x")], source="evil.gguf")
    assert not marker.exists()


def test_syntax_errors_are_template_errors() -> None:
    with pytest.raises(ChatTemplateError, match="failed to render"):
        render_chat_template("{% for %}", [hf.user("x")])
