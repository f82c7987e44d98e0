"""Run the code blocks of a Markdown page, so documentation cannot drift from the code.

Every fenced ```python block of a page runs, in order, in one namespace (like a notebook: a
later block may use what an earlier one made), in a working folder where `model.gguf` is a
real model. An HTML comment on the line before a fence (invisible on the rendered page) says
what the block needs:

    <!-- test: server=ollama -->              the addresses Ollama usually has become a stand-in's
    <!-- test: server=llamafile@gpu-box:8080 -->   ... and this one too (any `host:port`)
    <!-- test: server=ollama,lmstudio -->     several stand-ins
    <!-- test: raises=ModelNotFoundError -->  the block must raise this `hf` error
    <!-- test: warns=ContextTruncatedWarning -->   ... or warn this `hf` warning
    <!-- test: fresh -->                      start from an empty namespace
    <!-- test: needs=langchain_homefire -->   skip the rest of the page when this module is
                                              missing (`make integrations` installs it)
    <!-- test: config -->                     (on a ```toml block) a config file entry, in the
                                              file $HOMEFIRE_CONFIG names for the later blocks
    <!-- test: shell -->                      (on a ```sh block) run each line as a command;
                                              `homefire` is this environment's; exit status 0

The stand-ins (tests/standins.py): `llamafile` and `openai` (a real llama.cpp server, its key
in $HOMEFIRE_API_KEY / $OPENAI_API_KEY), `embeddings` (one started with `--embeddings`),
`xinference` (the real one), `lmstudio`, `localai` and `ollama` (faithful fakes). A block
marked with a server must name one of its addresses, so no block reaches a server that is
not the stand-in. A block that only includes a file (`--8<-- "examples/x.py"`) is
left to that file's own test, and other languages' blocks to the tests that own them (the
example commands, the error messages of the troubleshooting page).

Why our own runner rather than a pytest plugin for Markdown: the blocks are written for a
reader, with the addresses a reader uses, and must run against servers this suite starts
on free ports; the plugins that run Markdown blocks have no way to put a fixture's address
in place of the one written in the block.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import homefire as hf
from standins import StandIns, usual_addresses, working_folder

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_MARK = re.compile(r"^\s*<!--\s*test:(?P<body>.*?)-->\s*$")
# A block that only includes a file (`--8<-- "examples/x.py"`, shown on the built page): the
# file's own test runs it.
_INCLUDE = re.compile(r'^--8<-- "(?P<path>[^"]+)"\s*$')


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int
    """The line of the opening fence (1-based); the code starts on the next one."""
    lang: str
    code: str
    marks: Mapping[str, str]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def included(self) -> str | None:
        """The file the block shows, when it only includes one."""
        match = _INCLUDE.match(self.code.strip())
        return match["path"] if match else None

    def commands(self, code: str | None = None) -> list[tuple[int, str]]:
        """The shell commands of the block (or of `code`, its rewritten text), each with the
        line it starts on; lines ending in a backslash continue on the next."""
        found: list[tuple[int, str]] = []
        pending: tuple[int, str] | None = None
        for number, line in enumerate((code or self.code).splitlines(), start=self.line + 1):
            start, text = pending or (number, "")
            text += line
            if text.endswith("\\"):
                pending = (start, text[:-1] + " ")
                continue
            pending = None
            if text.strip():
                found.append((start, text))
        return found

    def servers(self) -> dict[str, tuple[str, ...]]:
        """Each provider the block needs, with the addresses it uses for it."""
        found: dict[str, tuple[str, ...]] = {}
        for item in filter(None, self.marks.get("server", "").split(",")):
            name, _, address = item.partition("@")
            extra = (address,) if address else ()
            found[name] = found.get(name, usual_addresses(name)) + extra
        return found


def parse_marks(text: str) -> dict[str, str]:
    """`server=ollama fresh` -> {"server": "ollama", "fresh": ""}."""
    marks: dict[str, str] = {}
    for word in text.split():
        key, _, value = word.partition("=")
        marks[key] = value
    return marks


def extract(path: Path) -> list[Block]:
    """Every fenced block of `path`, with the marks of the comment just before it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{index + 1}: the code block is never closed")
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        mark = _MARK.match(previous)
        body = "\n".join(line[indent:] for line in lines[index + 1 : end])
        blocks.append(
            Block(
                path,
                index + 1,
                opening["lang"].lower(),
                textwrap.dedent(body) + "\n",
                parse_marks(mark["body"]) if mark else {},
            )
        )
        index = end + 1
    return blocks


def _homefire_class(name: str, block: Block) -> type[BaseException]:
    cls = getattr(hf, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise AssertionError(f"{block.where}: {name!r} is not an error or warning of homefire")
    return cls


class PageRunner:
    """Runs the blocks of one page; `close()` releases what they left open."""

    def __init__(self, standins: StandIns, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.standins = standins
        self.workdir = workdir
        self.monkeypatch = monkeypatch
        self.namespace: dict[str, Any] = {}
        self.config = workdir / "homefire-config.toml"
        monkeypatch.chdir(workdir)

    def run(self, blocks: list[Block]) -> None:
        for block in blocks:
            if block.included is not None:
                continue
            if block.lang in ("python", "py"):
                self.run_python(block)
            elif block.lang == "toml" and "config" in block.marks:
                self.add_config(block)
            elif block.lang in ("sh", "console") and "shell" in block.marks:
                self.run_shell(block)
            elif block.lang == "toml":
                tomllib.loads(block.code)

    def _rewrite(self, block: Block) -> str:
        try:
            code, env = self.standins.rewrite(block.code, block.servers())
        except AssertionError as exc:
            raise AssertionError(f"{block.where}: the block {exc}") from None
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        return code

    def add_config(self, block: Block) -> None:
        text = self._rewrite(block)
        tomllib.loads(text)
        with self.config.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")
        self.monkeypatch.setenv("HOMEFIRE_CONFIG", str(self.config))

    def run_shell(self, block: Block) -> None:
        """Each line a command (no pipes, no `&`); `homefire` and `python` are this
        environment's, so the commands run the code under test."""
        bin_dir = os.path.dirname(sys.executable)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        for offset, line in block.commands(self._rewrite(block)):
            argv = shlex.split(line, comments=True)
            if not argv:
                continue
            if argv[0] == "python":
                argv[0] = sys.executable
            result = subprocess.run(
                argv, cwd=self.workdir, env=env, capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, (
                f"{block.path}:{offset}: `{line}` failed:\n{result.stdout}\n{result.stderr}"
            )

    def run_python(self, block: Block) -> None:
        if block.marks.get("needs"):
            pytest.importorskip(block.marks["needs"], reason="`make integrations` installs it")
        if "fresh" in block.marks:
            self.close()
        # Blank lines in front keep the page's line numbers in tracebacks.
        code = compile("\n" * block.line + self._rewrite(block), str(block.path), "exec")
        raises, warns = block.marks.get("raises"), block.marks.get("warns")
        if raises:
            with pytest.raises(_homefire_class(raises, block)):
                exec(code, self.namespace)
        elif warns:
            with pytest.warns(_homefire_class(warns, block)):  # type: ignore[arg-type]
                exec(code, self.namespace)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error", hf.ContextTruncatedWarning)
                exec(code, self.namespace)

    def close(self) -> None:
        """Close every LLM and embedding client the blocks made, and forget them."""
        for value in self.namespace.values():
            if isinstance(value, hf.LLM | hf.Embedding):
                value.close()
        self.namespace = {}


def run_page(path: Path, request: pytest.FixtureRequest, workdir: Path) -> None:
    """Run every block of the page at `path` (see the module docstring) in `workdir`, an
    empty folder, where `model.gguf` is then SmolLM2-135M."""
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    working_folder(workdir, request.getfixturevalue("smollm2_path"))
    runner = PageRunner(StandIns(request), workdir, monkeypatch)
    try:
        runner.run(extract(path))
    finally:
        runner.close()
