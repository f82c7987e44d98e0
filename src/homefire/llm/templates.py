"""Chat templates: untrusted Jinja code from model files, rendered only in the immutable sandbox."""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from homefire.errors import ChatTemplateError

if TYPE_CHECKING:
    import jinja2

    from homefire.types import ChatMessage


class _TemplateRaised(Exception):
    """A template called raise_exception(): its own way of rejecting the conversation."""


def _raise_exception(message: str) -> None:
    raise _TemplateRaised(message)


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


@functools.cache
def _environment() -> jinja2.Environment:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


@functools.lru_cache(maxsize=32)
def _compile(source: str) -> jinja2.Template:
    return _environment().from_string(source)


def render_chat_template(
    template: str,
    messages: Sequence[ChatMessage],
    *,
    source: str = "the model",
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    tools: list[dict[str, Any]] | None = None,
    **variables: Any,
) -> str:
    """Render a Hugging Face style chat template; every failure becomes `ChatTemplateError`."""
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError

    try:
        return _compile(template).render(
            messages=[m.to_dict() for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
            tools=tools,
            **variables,
        )
    except SecurityError as exc:
        raise ChatTemplateError(source, f"it tried an unsafe operation ({exc})") from None
    except _TemplateRaised as exc:
        raise ChatTemplateError(source, f"it rejected the conversation: {exc}") from None
    except TemplateError as exc:
        raise ChatTemplateError(source, f"it failed to render ({exc})") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as exc:
        raise ChatTemplateError(
            source, f"it failed to render ({type(exc).__name__}: {exc})"
        ) from None


def simple_messages_to_prompt(messages: Sequence[ChatMessage]) -> str:
    """A plain 'role: content' transcript ending with an open assistant turn."""
    lines = [f"{m.role.value}: {m.content or ''}" for m in messages]
    return "\n".join([*lines, "assistant:"])
