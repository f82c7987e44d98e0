"""Library messages in the words of the command line: flags where Python says arguments.

The library names a Python argument in its messages as `name=` (`pass api_key=`) or by an
identifier such as `context_window`, and `InvalidParameterError` carries the argument's
`name`. Each command's options say which library arguments they set (`option(...,
sets=("kv_cache_type",))`; an option always sets its own name), so one renderer can show any
message in that command's words: "invalid value for --kv-type: ...", "pass --api-key or
HOMEFIRE_API_KEY". Nothing else in the CLI rewrites a message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from homefire.errors import InvalidParameterError

F = TypeVar("F", bound="Callable[..., Any]")

# Names the library uses that no option sets, but that the command line still spells its
# own way (an environment variable, a file that comes from one).
_ALWAYS = {"HOMEFIRE_CONFIG": "$HOMEFIRE_CONFIG"}


class _Option(click.Option):
    def __init__(self, *args: Any, sets: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sets = tuple(sets)


class _Argument(click.Argument):
    def __init__(self, *args: Any, sets: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sets = tuple(sets)


def option(*decls: str, sets: Sequence[str] = (), **attrs: Any) -> Callable[[F], F]:
    """`click.option` that also names the library arguments (`sets`) the option stands for."""
    return click.option(*decls, cls=_Option, sets=sets, **attrs)


def argument(*decls: str, sets: Sequence[str] = (), **attrs: Any) -> Callable[[F], F]:
    """`click.argument` that also names the library arguments (`sets`) it stands for."""
    return click.argument(*decls, cls=_Argument, sets=sets, **attrs)


def vocabulary(command: click.Command | None) -> dict[str, str]:
    """Library argument name -> how `command` lets a user set it."""
    words = dict(_ALWAYS)
    for param in command.params if command is not None else ():
        if param.name is None or param.name == "debug":
            continue
        shown = _shown(param)
        for name in (*getattr(param, "sets", ()), param.name):
            words.setdefault(name, shown)
    return words


def _shown(param: click.Parameter) -> str:
    if not isinstance(param, click.Option):
        return param.human_readable_name
    flag = next((o for o in param.opts if o.startswith("--")), param.opts[0])
    if isinstance(param.envvar, str):
        return f"{flag} or {param.envvar}"
    return flag


def in_cli_words(text: str, words: Mapping[str, str]) -> str:
    """`text` with each Python argument it names replaced by its flag.

    `name=` (with any value after it: `kv_cache_type='q8_0'` becomes `--kv-type q8_0`) is
    an argument wherever it stands alone; an identifier with an underscore
    (`context_window`) is one even without `=`. `Class(name=...)`, `name=...` and `obj.name`
    are Python code shown as such, and stay.
    """
    names = sorted(words, key=len, reverse=True)
    if not names:
        return text
    pattern = re.compile(
        r"(?<![\w.=$-])(?<!\w\()(" + "|".join(map(re.escape, names)) + r")\b"
        r"(=(?:'([^']*)'|\"([^\"]*)\"|(\.\.\.|[\w.]+(?<!\.)))?)?"
    )

    def swap(match: re.Match[str]) -> str:
        name, assigned = match.group(1), match.group(2)
        value = next((v for v in match.group(3, 4, 5) if v is not None), None)
        if (assigned is None and "_" not in name) or value == "...":
            return match.group(0)  # an ordinary word, or Python code shown as such
        return f"{words[name]} {value}" if value else words[name]

    return pattern.sub(swap, text)


def cli_message(exc: BaseException, command: click.Command | None) -> str:
    """The message of `exc` as `command` should show it."""
    words = vocabulary(command)
    if isinstance(exc, InvalidParameterError) and exc.name in words:
        return f"invalid value for {words[exc.name]}: {in_cli_words(exc.problem, words)}"
    return in_cli_words(str(exc), words)
