"""The troubleshooting page shows every error homefire has, each with the message it really
has: each message block is compared with what its scenario raises (see error_messages.py).

After changing a message on purpose, rewrite the page's blocks from the code with
`HOMEFIRE_UPDATE_DOCS=1 pytest tests/docs/test_troubleshooting.py` and read the diff.
"""

from __future__ import annotations

import inspect
import os
from contextlib import ExitStack
from pathlib import Path

import pytest
from blocks import Block, extract
from error_messages import SCENARIOS, WARNINGS, Scene, outcome, shown

import homefire as hf
import homefire.errors
from standins import StandIns, working_folder

PAGE = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"
UPDATE = os.environ.get("HOMEFIRE_UPDATE_DOCS") == "1"


def message_blocks() -> dict[str, Block]:
    return {b.marks["message"]: b for b in extract(PAGE) if "message" in b.marks}


def error_classes() -> list[str]:
    """Every exception and warning class errors.py defines."""
    return [
        name
        for name, cls in inspect.getmembers(homefire.errors, inspect.isclass)
        if cls.__module__ == "homefire.errors" and issubclass(cls, BaseException)
    ]


@pytest.mark.unit
def test_every_error_class_has_a_message_on_the_page() -> None:
    named = {block.marks["error"] for block in message_blocks().values()}
    text = PAGE.read_text(encoding="utf-8")
    # The root is never raised itself: the page says how to catch everything with it.
    assert "hf.HomefireError" in text
    missing = set(error_classes()) - named - {"HomefireError"}
    assert not missing, f"the troubleshooting page shows no message of {sorted(missing)}"
    unknown = named - set(error_classes())
    assert not unknown, f"the page names errors homefire does not have: {sorted(unknown)}"


@pytest.mark.unit
def test_every_message_on_the_page_has_a_scenario_and_back() -> None:
    blocks = message_blocks()
    assert set(blocks) == set(SCENARIOS), (
        f"on the page only: {sorted(set(blocks) - set(SCENARIOS))}; "
        f"scenarios only: {sorted(set(SCENARIOS) - set(blocks))}"
    )
    for block in blocks.values():
        assert block.lang == "text", f"{block.where}: a message block is ```text"


def _rewrite(block: Block, text: str) -> None:
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    end = next(i for i in range(block.line, len(lines)) if lines[i].strip().startswith("```"))
    lines[block.line : end] = [text]
    PAGE.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_page_shows_the_real_message(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        workdir = working_folder(tmp_path, request.getfixturevalue("smollm2_path"))
        stack.enter_context(pytest.MonkeyPatch.context()).chdir(workdir)
        scene = Scene(request, workdir, StandIns(request), stack)
        error = outcome(name, scene)
        text = shown(error, scene)
    block = message_blocks()[name]
    assert type(error).__name__ == block.marks["error"], f"{block.where}: {text}"
    assert isinstance(error, (hf.HomefireError, *WARNINGS))
    if UPDATE and block.code.strip() != text:
        _rewrite(block, text)
        return
    assert block.code.strip() == text, f"{block.where} shows another message than homefire"
