"""Constructor arguments checked before any work: a name the class does not take is an
InvalidParameterError that says what to use instead, never a bare TypeError.

People arrive from LlamaIndex and LangChain with their arguments in their fingers
(`api_base=`, `request_timeout=`, `generate_kwargs=`); the table below answers each with
homefire's own word for it.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from homefire.errors import InvalidParameterError

# Arguments of other libraries' LLM classes, and what homefire takes instead.
FOREIGN: Mapping[str, str] = {
    "api_base": "pass the server's address as base_url=",
    "endpoint": "pass the server's address as base_url=",
    "model_name": "name the model with model=",
    "max_tokens": "set the default answer length with max_new_tokens= (or max_tokens= per call)",
    "num_output": "set the default answer length with max_new_tokens=",
    "request_timeout": "pass timeouts=hf.Timeouts(total=..., first_token=...)",
    "timeout": "pass timeouts=hf.Timeouts(total=..., first_token=...)",
    "max_retries": "pass retry=hf.RetryPolicy(attempts=...)",
    "default_headers": "pass headers={...}",
    "generate_kwargs": (
        "pass sampling options per call (chat(..., temperature=..., top_p=...), and other "
        "fields as extra={...})"
    ),
    "model_kwargs": (
        "pass load settings as arguments (n_gpu_layers=..., n_threads=..., n_batch=...), "
        "and other engine settings as engine_kwargs={...}"
    ),
    "system_prompt": 'start the messages with hf.system("...")',
    "seed": "pass seed= per call (chat(..., seed=42)) or additional_kwargs={'seed': ...}",
    "callback_manager": "homefire has no callbacks; use the LlamaIndex or LangChain integration",
    "globally_use_chat_completions": (
        "call chat() or complete(): each goes to its own route, nothing global to switch"
    ),
    "is_function_calling_model": (
        "tools work on every homefire LLM (natively or through the constrained fallback); "
        "pass tools=[...] per call"
    ),
    "api_key_env": "pass api_key=os.environ[...] (api_key_env belongs in the config file)",
}


def check_arguments(cls: type[Any], given: Mapping[str, Any]) -> None:
    """Refuse any keyword argument `cls` does not take, with homefire's equivalent."""
    accepted = _accepted(cls)
    if accepted is None:
        return
    for name in given:
        if name in accepted:
            continue
        hint = FOREIGN.get(name)
        if hint is None:
            close = difflib.get_close_matches(name, sorted(accepted), n=3)
            hint = (
                f"did you mean {', '.join(close)}?" if close else "see help(" + cls.__name__ + ")"
            )
        raise InvalidParameterError(name, f"is not an argument of {cls.__name__}: {hint}")


_ACCEPTED: dict[type[Any], frozenset[str] | None] = {}


def _accepted(cls: type[Any]) -> frozenset[str] | None:
    if cls not in _ACCEPTED:
        _ACCEPTED[cls] = _keyword_names(cls)
    return _ACCEPTED[cls]


def _keyword_names(cls: type[Any]) -> frozenset[str] | None:
    """The keyword arguments `cls()` takes, following `**kwargs` up through homefire's own
    classes; None when a class outside homefire takes `**kwargs` (it may use any name)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        names |= {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return frozenset(names - {"self"})
        if not klass.__module__.startswith("homefire."):
            return None
    return frozenset(names - {"self"})
