"""Untrusted input stays harmless: hostile chat templates run nothing, the listener is closed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jinja2
import pytest
from inprocess_helpers import require

import homefire as hf
from tinymodels import write_tiny_model

pytestmark = pytest.mark.integration

PAYLOADS = {
    "globals": "{{ cycler.__init__.__globals__.os.popen('touch MARKER').close() }}",
    "subclasses": (
        "{% for c in ''.__class__.__mro__[1].__subclasses__() %}"
        "{% if c.__name__ == 'Popen' %}{{ c(['touch', 'MARKER']).wait() }}{% endif %}"
        "{% endfor %}"
    ),
}


def _payload(kind: str, marker: Path) -> str:
    return PAYLOADS[kind].replace("MARKER", str(marker))


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_payload_really_runs_outside_the_sandbox(kind: str, tmp_path: Path) -> None:
    """Proves the payloads are live: an ordinary Jinja environment creates the file."""
    marker = tmp_path / "pwned"
    import subprocess  # the subclass walk finds Popen only once it has been imported

    assert subprocess.Popen.__name__ == "Popen"
    jinja2.Environment().from_string(_payload(kind, marker)).render()
    assert marker.exists()


@pytest.fixture(scope="module")
def hostile_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("hostile")
    models = {}
    for kind in PAYLOADS:
        marker = folder / f"pwned-{kind}"
        path = write_tiny_model(folder / f"{kind}.gguf", chat_template=_payload(kind, marker))
        models[kind] = (path, marker)
    return models


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_hostile_template_in_the_file_runs_nothing(
    engine: str, kind: str, hostile_models: dict[str, tuple[Path, Path]]
) -> None:
    path, marker = hostile_models[kind]
    llm = hf.LlamaCPP(path, engine=engine, n_threads=2)
    try:
        for call in (llm.chat, lambda m: list(llm.stream_chat(m))):
            with pytest.raises(hf.ChatTemplateError, match="unsafe") as info:
                call([hf.user("hi")])
            assert str(path) in str(info.value)
        assert not marker.exists()
    finally:
        llm.close()
    assert not marker.exists()


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_hostile_template_argument_runs_nothing(
    kind: str, tmp_path: Path, tiny_model: Path
) -> None:
    marker = tmp_path / "pwned"
    llm = hf.LlamaCPP(tiny_model, n_threads=2, chat_template=_payload(kind, marker))
    try:
        with pytest.raises(hf.ChatTemplateError, match="chat_template="):
            llm.chat([hf.user("hi")])
    finally:
        llm.close()
    assert not marker.exists()


@pytest.fixture(scope="module")
def listening(smollm2_path: Path) -> Iterator[str]:
    require("xllamacpp")
    llm = hf.LlamaCPP(smollm2_path, n_threads=2, context_window=512, n_parallel=1)
    from homefire.providers.llamacpp.xllamacpp import XLlamaCppEngine

    engine = llm._engine
    assert isinstance(engine, XLlamaCppEngine)
    yield engine.listening_address
    llm.close()


@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("POST", "/v1/completions"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/completion"),
        ("POST", "/tokenize"),
        ("GET", "/props"),
        ("GET", "/slots"),
        ("GET", "/metrics"),
        ("GET", "/v1/models"),
    ],
)
def test_engine_listener_refuses_requests_without_our_key(
    listening: str, method: str, route: str
) -> None:
    assert listening.startswith("http://127.0.0.1:")
    body = {"prompt": "hi", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
    for headers in ({}, {"Authorization": "Bearer guess"}):
        response = httpx.request(
            method,
            listening + route,
            json=body if method == "POST" else None,
            headers=headers,
            timeout=10,
        )
        assert response.status_code == 401, response.text


def test_engine_listener_allows_no_cross_origin_page(listening: str) -> None:
    origin = "http://evil.example"
    preflight = httpx.options(
        listening + "/v1/completions",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.headers.get("access-control-allow-origin") not in (origin, "*")
    assert preflight.headers.get("access-control-allow-credentials") != "true"
