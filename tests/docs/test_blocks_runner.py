"""The block runner reads pages the way they are written: fences, marks, includes, addresses."""

from __future__ import annotations

from pathlib import Path

import pytest
from blocks import PageRunner, extract

from standins import StandIns, substitute, usual_addresses

PAGE = """# A page

Some text.

<!-- test: server=ollama raises=ModelNotFoundError -->
```python
llm = hf.Ollama("x", base_url="http://127.0.0.1:11434")
```

??? example "nested"

    ```python
    --8<-- "examples/ollama.py"
    ```

```sh
homefire bench model.gguf \\
  --concurrency 1,2   # a comment
homefire plan model.gguf
```
"""


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "page.md"
    path.write_text(PAGE, encoding="utf-8")
    return path


@pytest.mark.unit
def test_blocks_their_lines_and_marks(page: Path) -> None:
    first, included, shell = extract(page)
    assert (first.lang, first.line, first.marks) == (
        "python",
        6,
        {"server": "ollama", "raises": "ModelNotFoundError"},
    )
    assert first.code.startswith("llm = hf.Ollama(")
    assert first.servers() == {"ollama": usual_addresses("ollama")}
    assert included.included == "examples/ollama.py" and included.marks == {}
    assert shell.commands() == [
        (17, "homefire bench model.gguf    --concurrency 1,2   # a comment"),
        (19, "homefire plan model.gguf"),
    ]


@pytest.mark.unit
def test_an_address_given_in_a_mark_is_added(tmp_path: Path) -> None:
    path = tmp_path / "p.md"
    path.write_text("<!-- test: server=llamafile@gpu-box:8080 -->\n```python\npass\n```\n")
    [block] = extract(path)
    assert block.servers() == {"llamafile": (*usual_addresses("llamafile"), "gpu-box:8080")}


@pytest.mark.unit
def test_an_unclosed_fence_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.md"
    path.write_text("```python\nprint(1)\n")
    with pytest.raises(ValueError, match="never closed"):
        extract(path)


@pytest.mark.unit
def test_addresses_are_replaced_only_whole() -> None:
    text = 'a("http://127.0.0.1:11434") b("127.0.0.1:114345") c("x127.0.0.1:11434")'
    replaced, count = substitute(text, usual_addresses("ollama"), "127.0.0.1:5")
    assert count == 1
    assert replaced.startswith('a("http://127.0.0.1:5")')


@pytest.mark.unit
def test_a_marked_block_that_names_no_address_is_refused(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.md"
    path.write_text("<!-- test: server=ollama -->\n```python\nprint('no address')\n```\n")
    runner = PageRunner(StandIns(request), tmp_path, monkeypatch)
    with pytest.raises(AssertionError, match="names 'ollama' but none of its addresses"):
        runner.run(extract(path))


@pytest.mark.unit
def test_a_block_that_should_raise_and_does_not_fails(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.md"
    path.write_text("<!-- test: raises=NotSupportedError -->\n```python\nx = 1\n```\n")
    runner = PageRunner(StandIns(request), tmp_path, monkeypatch)
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        runner.run(extract(path))
