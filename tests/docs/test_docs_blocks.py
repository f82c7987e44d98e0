"""Every code block of the documentation runs (see blocks.py for how a block says what it
needs), and the blocks are written the way the runner reads them."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from blocks import extract, run_page

DOCS = Path(__file__).resolve().parents[2] / "docs"
_RUNNABLE = ("python", "py")
_KNOWN_MARKS = {
    "server",
    "raises",
    "warns",
    "fresh",
    "needs",
    "config",
    "shell",
    "message",
    "error",
}


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _page_params() -> Iterator[object]:
    for page in pages():
        blocks = extract(page)
        if not any(b.lang in _RUNNABLE or "shell" in b.marks for b in blocks):
            continue
        servers = {name for b in blocks for name in b.servers()}
        marks = [pytest.mark.integration]
        if "xinference" in servers:
            marks.append(pytest.mark.slow)
        yield pytest.param(page, marks=marks, id=str(page.relative_to(DOCS)))


@pytest.mark.unit
def test_blocks_are_marked_the_way_the_runner_reads_them() -> None:
    for page in pages():
        for block in extract(page):
            unknown = set(block.marks) - _KNOWN_MARKS
            assert not unknown, f"{block.where}: unknown marks {sorted(unknown)}"
            assert block.lang, f"{block.where}: say the block's language after the fence"
            if "config" in block.marks:
                assert block.lang == "toml", f"{block.where}: only TOML blocks are config"
            if "shell" in block.marks:
                assert block.lang in ("sh", "console"), f"{block.where}: shell marks sh blocks"


@pytest.mark.parametrize("page", list(_page_params()))
def test_page_blocks_run(page: Path, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    run_page(page, request, tmp_path)


def _command_lines() -> Iterator[tuple[str, list[str]]]:
    """Every `homefire ...` command of the pages' shell blocks, as arguments."""
    for page in pages():
        for block in extract(page):
            if block.lang not in ("sh", "console"):
                continue
            for offset, line in block.commands():
                argv = shlex.split(line, comments=True)
                if argv and argv[0] == "homefire":
                    yield f"{page.relative_to(DOCS)}:{offset}", argv[1:]


@pytest.mark.unit
def test_every_command_line_shown_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands not run (they serve for ever, or take minutes) are still checked against the
    command's options, so a renamed or misspelt flag on a page fails here."""
    from homefire.cli._app import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.gguf").touch()
    shown = list(_command_lines())
    assert len(shown) > 20
    for where, args in shown:
        command = app.get_command(click.Context(app), args[0])
        assert command is not None, f"{where}: no command {args[0]!r}"
        try:
            command.make_context(args[0], args[1:])
        except click.ClickException as exc:
            raise AssertionError(f"{where}: homefire {shlex.join(args)}: {exc}") from None
