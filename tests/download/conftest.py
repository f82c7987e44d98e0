from __future__ import annotations

from collections.abc import Iterator

import pytest
from loopback_files import FileServer


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer()
    try:
        yield server
    finally:
        server.close()
