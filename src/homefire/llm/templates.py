"""Chat templates: untrusted Jinja code from model files, rendered only in a bounded sandbox.

A model file's chat template is a program written by whoever made the file. It runs in
Jinja's immutable sandbox (no attribute escapes, no changes to the data it is given) and
within `TemplateLimits`: CPU time, and the size of every text, list and number it builds.
Sizes are checked before each operation that can multiply them (`*`, `+`, `**`, `%`, `~`,
padding and replacing text, container literals, the output of macros and blocks), and time
at every loop step and every call, so a hostile template ends in `ChatTemplateError` saying
what it did, never in a hang, a crash or an exhausted memory. A single operation on data at
the size limit can still run past the time limit by its own length (sorting a list of
millions of items), which the size limit keeps to seconds.

`render_chat_parts` also tells which parts of the prompt came from the messages: a control
token of the model (`<|im_start|>`) that a user typed must reach the model as plain text,
never as the token itself.
"""

from __future__ import annotations

import contextvars
import datetime
import functools
import json
import re
import secrets
import string
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homefire._validate import integer, seconds
from homefire.errors import ChatTemplateError

if TYPE_CHECKING:
    import jinja2
    from jinja2 import nodes

    from homefire.types import ChatMessage

__all__ = [
    "PromptPart",
    "TemplateLimits",
    "render_chat_parts",
    "render_chat_template",
    "simple_messages_to_prompt",
]


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """How much a chat template may do while rendering one prompt.

    The defaults are far above what real templates need: the largest ones render a long
    conversation in a few milliseconds of CPU and their source stays under 64 KiB, and a
    prompt of `max_chars` characters (4 Mi) is about a million tokens, more than any local
    model's context holds. `max_chars` bounds the prompt and every text, list or mapping the
    template builds on the way (the conversation it is given counts too).
    """

    cpu_seconds: float = 2.0
    max_chars: int = 4 * 1024 * 1024
    max_source_chars: int = 256 * 1024

    def __post_init__(self) -> None:
        seconds("cpu_seconds", self.cpu_seconds)
        integer("max_chars", self.max_chars, low=1, high=None)
        integer("max_source_chars", self.max_source_chars, low=1, high=None)


DEFAULT_LIMITS = TemplateLimits()

_MAX_RANGE = 100_000  # Jinja's own bound on range(), kept with a clearer message
_MAX_INT_BITS = 1 << 16  # about 20,000 digits: far past any count a prompt needs
_MAX_INT_ARGUMENT = 1 << 20  # widths, counts and indents passed to filters and methods
_MAX_CALL_DEPTH = 100  # macros that call macros: recursive schema renderers stay far below
_TICKS_PER_CLOCK_READ = 32
_ITEM_WEIGHT = 8  # a list item costs a pointer and usually an object: count it as 8 characters


class _Exceeded(Exception):
    """A template went past a limit; the message says what it did."""


class _TemplateRaised(Exception):
    """A template called raise_exception(): its own way of rejecting the conversation."""


class _Budget:
    """What one render may still spend; the checks every hook of the environment calls."""

    __slots__ = ("_deadline", "_inputs", "_ticks", "depth", "limits")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.depth = 0
        self._deadline = time.thread_time() + limits.cpu_seconds
        self._ticks = 0
        # The sizes of the containers the template was given (alive for the whole render, so
        # their ids stay theirs): asking for them again inside a loop costs nothing.
        self._inputs: dict[int, int] = {}

    def remember(self, value: Any) -> None:
        """Size the data the template is given once, up front."""
        self._weigh(value, self._inputs)

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % _TICKS_PER_CLOCK_READ == 0 and time.thread_time() > self._deadline:
            raise _Exceeded(
                f"it ran for more than {self.limits.cpu_seconds:g} s of CPU time (a loop or a "
                "recursion that does not end?); raise TemplateLimits.cpu_seconds if the "
                "template is right"
            )

    def weight(self, value: Any) -> int:
        """How many characters `value` stands for: texts their length, containers 8 per item
        plus their contents, counted all the way down (a shared part once per place it
        appears, as printing it would)."""
        return self._weigh(value, {})

    def _weigh(self, value: Any, seen: dict[int, int]) -> int:
        if isinstance(value, str):
            return len(value)
        if not isinstance(value, list | tuple | dict):
            return 1
        known = self._inputs.get(id(value))
        if known is None:
            known = seen.get(id(value))
        if known is not None:
            return known
        pairs = value.items() if isinstance(value, dict) else ((item, "") for item in value)
        total = _ITEM_WEIGHT + sum(
            _ITEM_WEIGHT + self._weigh(key, seen) + self._weigh(item, seen) for key, item in pairs
        )
        seen[id(value)] = total
        return total

    def fits(self, value: Any, what: str) -> Any:
        """`value`, refused when it is larger than the limit."""
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            if value.bit_length() > _MAX_INT_BITS:
                raise _Exceeded(f"{what} is a number of more than {_MAX_INT_BITS} bits")
            return value
        self.allow(self.weight(value), what)
        return value

    def allow(self, size: int, what: str) -> None:
        if size > self.limits.max_chars:
            raise _Exceeded(
                f"{what} would hold about {size} characters, more than "
                f"TemplateLimits.max_chars ({self.limits.max_chars})"
            )


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "homefire_template_budget", default=None
)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # the environment is private: every render sets a budget
        raise _Exceeded("it ran outside of a render")
    return budget


# --- what the template may call -----------------------------------------------------------


def _raise_exception(message: str) -> None:
    raise _TemplateRaised(message)


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    if indent is not None:
        budget = _budget()
        budget.allow(budget.weight(value) * (1 + max(int(indent), 0)), "tojson(indent=...)")
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > _MAX_RANGE:
        raise _Exceeded(
            f"it asked for range{args} of {len(numbers)} numbers (at most {_MAX_RANGE})"
        )
    return numbers


def _int_arguments(values: Sequence[Any], what: str) -> None:
    for value in values:
        big = isinstance(value, int) and abs(value) > _MAX_INT_ARGUMENT
        if big and not isinstance(value, bool):
            raise _Exceeded(f"it passed {value} to {what} (at most {_MAX_INT_ARGUMENT})")


def _replaced_size(text: str, old: Any, new: Any, count: Any) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    hits = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and 0 <= count < hits:
        hits = count
    return len(text) + hits * max(len(new) - len(old), 0)


def _joined_size(budget: _Budget, separator: Any, items: Any) -> int:
    if not isinstance(items, list | tuple):
        return 0
    gap = len(separator) if isinstance(separator, str) else 1
    return sum(budget.weight(item) for item in items) + gap * len(items)


_FORMAT_NUMBER = re.compile(r"\d+")


def _format_widths(fmt: str, budget: _Budget, what: str) -> None:
    """Refuse a format string whose widths or precisions ask for huge texts."""
    for number in _FORMAT_NUMBER.findall(fmt):
        if len(number) > 7 or int(number) > budget.limits.max_chars:
            raise _Exceeded(f"{what} asks for a width of {number} characters")


def _check_method(budget: _Budget, method: Any, args: tuple[Any, ...]) -> None:
    """Refuse a call of a text method whose result would be too large, before it runs."""
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(method, "__name__", "")
    if name == "striptags":  # a regular expression that backtracks on '<' without '>'
        raise _Exceeded("it called striptags(), which homefire does not run")
    _int_arguments(args, f"str.{name}()")
    if name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else -1
        budget.allow(_replaced_size(owner, args[0], args[1], count), "str.replace()")
    elif name == "join" and args:
        budget.allow(_joined_size(budget, owner, args[0]), "str.join()")
    elif name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        budget.allow(len(owner) + owner.count("\t") * max(size, 0), "str.expandtabs()")


def _bounded_filter(name: str, run: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks its arguments first and its result after."""
    takes_first = getattr(run, "jinja_pass_arg", None) is not None

    @functools.wraps(run)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.tick()
        offset = 1 if takes_first else 0
        value, rest = (args[offset], args[offset + 1 :]) if len(args) > offset else (None, ())
        what = f"the {name} filter"
        _int_arguments([*rest, *kwargs.values()], what)
        _check_filter(budget, name, value, rest, kwargs)
        return budget.fits(run(*args, **kwargs), f"the result of {what}")

    return bounded


def _check_filter(
    budget: _Budget, name: str, value: Any, rest: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> None:
    what = f"the {name} filter"
    text = value if isinstance(value, str) else None
    if name == "replace" and text is not None and len(rest) >= 2:
        count = rest[2] if len(rest) > 2 else kwargs.get("count")
        budget.allow(_replaced_size(text, rest[0], rest[1], count), what)
    elif name == "indent" and text is not None:
        width = rest[0] if rest else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else max(int(width), 0)
        budget.allow(len(text) + (text.count("\n") + 1) * pad, what)
    elif name == "wordwrap" and text is not None:
        width = rest[0] if rest else kwargs.get("width", 79)
        wrap = rest[2] if len(rest) > 2 else kwargs.get("wrapstring") or "\n"
        lines = len(text) // max(int(width), 1) + 1
        budget.allow(len(text) + lines * len(str(wrap)), what)
    elif name == "join":
        separator = rest[0] if rest else kwargs.get("d", "")
        budget.allow(_joined_size(budget, separator, value), what)
    elif name == "format" and text is not None:
        _format_widths(text, budget, what)
    elif name == "sum":
        start = rest[1] if len(rest) > 1 else kwargs.get("start", 0)
        if not isinstance(start, int | float):
            raise _Exceeded("it summed something other than numbers with the sum filter")


def _check_binop(budget: _Budget, operator: str, left: Any, right: Any) -> None:
    sequences = (str, list, tuple)
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > _MAX_INT_BITS:
                raise _Exceeded(f"it multiplies numbers into more than {_MAX_INT_BITS} bits")
            return
        times, seq = (right, left) if isinstance(right, int) else (left, right)
        if isinstance(seq, sequences) and isinstance(times, int):
            budget.allow(budget.weight(seq) * max(times, 0), f"repeating a value {times} times")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            bits = right * (abs(left).bit_length() - 1)
            if bits > _MAX_INT_BITS:
                raise _Exceeded(
                    f"it computes {left} ** {right}, a number of about {bits} bits "
                    f"(at most {_MAX_INT_BITS})"
                )
    elif operator == "+":
        if isinstance(left, sequences) and isinstance(right, sequences):
            budget.allow(budget.weight(left) + budget.weight(right), "adding two values")
    elif operator == "%" and isinstance(left, str):
        _format_widths(left, budget, "a '%' format")


# --- the environment ----------------------------------------------------------------------


def _bounds_transformer() -> Any:
    """Rewrites a parsed template so its loops, `~` and container literals pass our checks."""
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    def guarded(name: str, args: list[Any], like: nodes.Node) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None)
        call.set_lineno(like.lineno or 1)
        return call

    class Bounds(NodeTransformer):
        def visit_For(self, node: nodes.For) -> nodes.Node:
            self.generic_visit(node)
            node.iter = guarded("homefire_loop", [node.iter], node)
            return node

        def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
            self.generic_visit(node)
            return guarded("homefire_concat", list(node.nodes), node)

        def visit_List(self, node: nodes.List) -> nodes.Node:
            self.generic_visit(node)
            return guarded("homefire_sized", [node], node)

        def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
            self.generic_visit(node)
            return guarded("homefire_sized", [node], node)

        def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
            self.generic_visit(node)
            return guarded("homefire_sized", [node], node) if node.ctx == "load" else node

    return Bounds()


class _Ticking:
    """A loop's items, spending one tick of the budget per item; keeps len() for `loop`."""

    __slots__ = ("_budget", "_items")

    def __init__(self, items: Any, budget: _Budget) -> None:
        self._items = items
        self._budget = budget

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        tick = self._budget.tick
        for item in self._items:
            tick()
            yield item


@functools.cache
def _environment() -> jinja2.Environment:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            budget = _budget()
            budget.tick()
            _check_binop(budget, operator, left, right)
            result = super().call_binop(context, operator, left, right)
            return budget.fits(result, f"the result of '{operator}'")

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            budget = _budget()
            budget.tick()
            _check_method(budget, __obj, args)
            budget.depth += 1
            try:
                if budget.depth > _MAX_CALL_DEPTH:
                    raise _Exceeded(
                        f"it nests calls more than {_MAX_CALL_DEPTH} deep (a macro that "
                        "calls itself without end?)"
                    )
                result = super().call(__context, __obj, *args, **kwargs)
            finally:
                budget.depth -= 1
            return budget.fits(result, "the result of a call")

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            wrapper = super().wrap_str_format(value)
            if wrapper is None:
                return None
            fmt = value.__self__

            def checked(*args: Any, **kwargs: Any) -> str:
                budget = _budget()
                for _, _, spec, _ in string.Formatter().parse(fmt):
                    if spec:
                        _format_widths(spec, budget, "a format string")
                return str(budget.fits(wrapper(*args, **kwargs), "a formatted text"))

            return checked

        @staticmethod
        def concat(pieces: Any) -> str:  # the output of macros, blocks and `set` blocks
            budget = _budget()
            parts = list(pieces)
            budget.allow(sum(map(len, parts)), "a block's output")
            return "".join(parts)

        @staticmethod
        def homefire_loop(items: Any) -> _Ticking:
            return _Ticking(items, _budget())

        @staticmethod
        def homefire_concat(*values: Any) -> str:
            budget = _budget()
            budget.allow(sum(budget.weight(v) for v in values), "joining texts with '~'")
            return "".join(map(str, values))

        @staticmethod
        def homefire_sized(value: Any) -> Any:
            return _budget().fits(value, "a list or mapping it wrote")

    env = Bounded(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.loopcontrols"],
        optimized=False,  # the optimizer would evaluate constant expressions unchecked
        finalize=lambda value: _budget().fits(value, "a value it prints"),
    )
    env.filters["tojson"] = _tojson
    for name in ("striptags", "urlize"):  # regular expressions that backtrack badly
        del env.filters[name]
    env.filters = {name: _bounded_filter(name, run) for name, run in env.filters.items()}
    env.globals["range"] = _bounded_range
    env.globals.pop("lipsum", None)
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


@functools.lru_cache(maxsize=32)
def _compile(source: str) -> jinja2.Template:
    env = _environment()
    tree = _bounds_transformer().visit(env.parse(source))
    tree.set_environment(env)
    return env.template_class.from_code(env, env.compile(tree), env.make_globals(None), None)


# --- rendering ----------------------------------------------------------------------------


def render_chat_template(
    template: str,
    messages: Sequence[ChatMessage],
    *,
    source: str = "the model",
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    tools: list[dict[str, Any]] | None = None,
    limits: TemplateLimits = DEFAULT_LIMITS,
    **variables: Any,
) -> str:
    """Render a Hugging Face style chat template; every failure becomes `ChatTemplateError`."""
    return _render(
        template,
        [m.to_dict() for m in messages],
        source=source,
        limits=limits,
        add_generation_prompt=add_generation_prompt,
        bos_token=bos_token,
        eos_token=eos_token,
        tools=tools,
        **variables,
    )


def _render(
    template: str, messages: list[dict[str, Any]], *, source: str, limits: TemplateLimits,
    **variables: Any,
) -> str:  # fmt: skip
    if len(template) > limits.max_source_chars:
        raise ChatTemplateError(
            source,
            f"the template is {len(template)} characters long, more than "
            f"TemplateLimits.max_source_chars ({limits.max_source_chars})",
        )
    budget = _Budget(limits)
    token = _BUDGET.set(budget)
    try:
        budget.remember(messages)
        budget.remember(variables.get("tools"))
        budget.allow(budget.weight(messages), "the conversation")
        compiled = _compile(template)
        pieces: list[str] = []
        size = 0
        for piece in compiled.generate(messages=messages, **variables):
            size += len(piece)
            budget.allow(size, "the prompt")
            pieces.append(piece)
        return "".join(pieces)
    except Exception as exc:  # a template is foreign code: nothing it raises may escape
        raise _template_error(source, exc) from None
    finally:
        _BUDGET.reset(token)


def _template_error(source: str, exc: BaseException) -> ChatTemplateError:
    from jinja2 import TemplateError, TemplateSyntaxError
    from jinja2.exceptions import SecurityError

    if isinstance(exc, _Exceeded):
        return ChatTemplateError(source, str(exc))
    if isinstance(exc, _TemplateRaised):
        return ChatTemplateError(source, f"it rejected the conversation: {exc}")
    if isinstance(exc, SecurityError):
        return ChatTemplateError(source, f"it tried an unsafe operation ({exc})")
    if isinstance(exc, TemplateSyntaxError):
        return ChatTemplateError(source, f"it is not valid Jinja ({exc})")
    if isinstance(exc, TemplateError):
        return ChatTemplateError(source, f"it failed to render ({exc})")
    if isinstance(exc, RecursionError):
        return ChatTemplateError(
            source,
            "it recurses or nests too deeply (a macro calling itself without end, or "
            "expressions nested thousands deep?)",
        )
    if isinstance(exc, SyntaxError):  # Python's own limits on the code Jinja compiles it to
        return ChatTemplateError(source, f"it nests blocks too deeply to be compiled ({exc.msg})")
    if isinstance(exc, MemoryError):
        return ChatTemplateError(source, "it ran out of memory while rendering")
    return ChatTemplateError(source, f"it failed to render ({type(exc).__name__}: {exc})")


# --- which parts of a prompt came from the messages ---------------------------------------


@dataclass(frozen=True, slots=True)
class PromptPart:
    """A run of prompt text: template markup (`special`: control tokens in it are tokens), or
    text from a message that spells a control token and must be read as plain text."""

    text: str
    special: bool


def render_chat_parts(
    template: str,
    messages: Sequence[ChatMessage],
    *,
    control_tokens: Collection[str],
    source: str = "the model",
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    tools: list[dict[str, Any]] | None = None,
    limits: TemplateLimits = DEFAULT_LIMITS,
    **variables: Any,
) -> list[PromptPart]:
    """Render like `render_chat_template`, split where the messages (and tool specs) spelled
    one of `control_tokens`: those spans come back as parts with `special=False`.

    The template sees each such span replaced by a private placeholder (a code point no
    tokenizer gives meaning to), so whatever it does with the text (trims it, cuts it, quotes
    it as JSON) the span stays recognizable and is put back after rendering. Messages without
    a control token render exactly as `render_chat_template` renders them.
    """
    marker = _Marker(control_tokens)
    dicts = [marker.protect(m.to_dict()) for m in messages]
    protected_tools = marker.protect(tools) if tools is not None else None
    prompt = _render(
        template,
        dicts,
        source=source,
        limits=limits,
        add_generation_prompt=add_generation_prompt,
        bos_token=bos_token,
        eos_token=eos_token,
        tools=protected_tools,
        **variables,
    )
    return marker.split(prompt)


class _Marker:
    """Replaces control-token spellings in message data by numbered placeholders and back."""

    def __init__(self, control_tokens: Collection[str]) -> None:
        self._find = _alternation(tuple(control_tokens))
        self._nonce = f"{secrets.randbelow(10**12):012d}"
        self._spans: list[str] = []

    def protect(self, value: Any) -> Any:
        if self._find is None:
            return value
        if isinstance(value, str):
            return self._find.sub(self._placeholder, value)
        if isinstance(value, Mapping):
            return {key: self.protect(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.protect(item) for item in value]
        return value

    def _placeholder(self, match: re.Match[str]) -> str:
        self._spans.append(match.group())
        return f"\ue000{self._nonce}.{len(self._spans) - 1}\ue001"

    def split(self, prompt: str) -> list[PromptPart]:
        if not self._spans:
            return [PromptPart(prompt, True)]
        parts: list[PromptPart] = []
        pattern = re.compile(f"\ue000{self._nonce}\\.(\\d+)\ue001")
        start = 0
        for found in pattern.finditer(prompt):
            index = int(found.group(1))
            if index >= len(self._spans):
                continue
            if found.start() > start:
                parts.append(PromptPart(prompt[start : found.start()], True))
            parts.append(PromptPart(self._spans[index], False))
            start = found.end()
        if start < len(prompt):
            parts.append(PromptPart(prompt[start:], True))
        return parts


@functools.lru_cache(maxsize=8)
def _alternation(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regular expression matching any of `words`, longest first, built as a trie so
    that thousands of words (reserved tokens) cost no more than a few per character. Kept
    for the few vocabularies in use: building one for 20,000 words takes half a second."""
    trie: dict[str, Any] = {}
    for word in words:
        if not word:
            continue
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    if not trie:
        return None
    return re.compile(_trie_pattern(trie))


def _trie_pattern(node: dict[str, Any]) -> str:
    branches = [re.escape(char) + _trie_pattern(child) for char, child in node.items() if char]
    optional = "" in node
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if optional:
        return f"(?:{body})?" if len(branches) > 1 or len(body) > 1 else f"{body}?"
    return body


def simple_messages_to_prompt(messages: Sequence[ChatMessage]) -> str:
    """A plain 'role: content' transcript ending with an open assistant turn."""
    lines = [f"{m.role.value}: {m.content or ''}" for m in messages]
    return "\n".join([*lines, "assistant:"])
