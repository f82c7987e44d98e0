"""hf.connect: provider specs, bare URLs identified by fingerprint, and configured names."""

from __future__ import annotations

from pathlib import Path

import pytest

import homefire as hf
from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeOllama
from homefire.servers.specs import Endpoint, parse_spec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ollama:llama3.2", Endpoint("ollama", None, "llama3.2")),
        ("ollama:", Endpoint("ollama", None, None)),
        (
            "lmstudio://localhost:1234/qwen/qwen3-8b",
            Endpoint("lmstudio", "http://localhost:1234", "qwen/qwen3-8b"),
        ),
        (
            "xinference://10.0.0.5:9997/my-qwen",
            Endpoint("xinference", "http://10.0.0.5:9997", "my-qwen"),
        ),
        ("llamafile://127.0.0.1:8080", Endpoint("llamafile", "http://127.0.0.1:8080", None)),
        ("openai://host:8000/v1/m", Endpoint("openai", "http://host:8000/v1", "m")),
        ("llamacpp:/models/a b.gguf", Endpoint("llamacpp", None, "/models/a b.gguf")),
        ("http://127.0.0.1:1234", None),
        ("work", None),
    ],
)
def test_parse_spec(spec: str, expected: Endpoint | None) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "bogus://x:1/m", "llamacpp:", "lmstudio://"])
def test_bad_specs_say_what_is_accepted(spec: str) -> None:
    with pytest.raises(hf.InvalidParameterError):
        hf.connect(spec)


def test_scheme_specs_build_the_right_provider(fake_ollama: FakeOllama) -> None:
    address = fake_ollama.base_url.removeprefix("http://")
    llm = hf.connect(f"ollama://{address}/smollm2:135m", context_window=256)
    assert isinstance(llm, hf.Ollama) and llm.model == "smollm2:135m"
    assert llm.chat("hi").text == "You said: hi"
    assert fake_ollama.last("/api/chat").json()["options"]["num_ctx"] == 256
    assert isinstance(hf.connect("lmstudio:qwen"), hf.LMStudio)
    assert hf.connect("xinference://127.0.0.1:9997/uid").model == "uid"  # type: ignore[attr-defined]


def test_bare_urls_are_identified(
    fake_ollama: FakeOllama, fake_lmstudio: FakeLMStudio, fake_localai: FakeLocalAI
) -> None:
    assert isinstance(hf.connect(fake_ollama.base_url, model="smollm2:135m"), hf.Ollama)
    assert isinstance(hf.connect(fake_lmstudio.base_url), hf.LMStudio)
    llm = hf.connect(fake_localai.base_url, model="smollm2")
    assert isinstance(llm, hf.LocalAI)
    assert llm.chat("x").text == "You said: x"


def test_bare_url_with_nothing_listening(refusing_url: str) -> None:
    with pytest.raises(hf.ServerNotRunningError):
        hf.connect(refusing_url)


async def test_bare_urls_are_identified_inside_a_running_loop(
    fake_ollama: FakeOllama, refusing_url: str
) -> None:
    llm = hf.connect(fake_ollama.base_url, model="smollm2:135m")
    assert isinstance(llm, hf.Ollama)
    assert [s.label for s in hf.discover([fake_ollama.base_url], with_models=False)] == ["Ollama"]
    with pytest.raises(hf.ServerNotRunningError):
        hf.connect(refusing_url)


def test_configured_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_localai: FakeLocalAI
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[endpoints.box]
provider = "localai"
base_url = "{fake_localai.base_url}"
model = "smollm2"
api_key_env = "BOX_KEY"
timeouts = {{ connect = 1.5, first_token = 30 }}

[endpoints.broken]
provider = "nonsense"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("HOMEFIRE_CONFIG", str(config))
    with pytest.raises(hf.InvalidParameterError, match="BOX_KEY"):
        hf.connect("box")
    monkeypatch.setenv("BOX_KEY", "k")
    llm = hf.connect("box")
    assert isinstance(llm, hf.LocalAI)
    assert llm.http.timeouts.connect == 1.5
    assert llm.chat("hi").text == "You said: hi"
    assert fake_localai.last("/v1/chat/completions").headers["authorization"] == "Bearer k"
    with pytest.raises(hf.InvalidParameterError, match="provider must be one of"):
        hf.connect("broken")
    with pytest.raises(hf.InvalidParameterError, match="not a provider spec"):
        hf.connect("unknown-name")


def test_bad_timeouts_in_the_config_file_name_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    monkeypatch.setenv("HOMEFIRE_CONFIG", str(config))
    entry = '[endpoints.x]\nprovider = "ollama"\nmodel = "a"\n[endpoints.x.timeouts]\n'
    config.write_text(entry + "read = 5\n", encoding="utf-8")
    with pytest.raises(hf.InvalidParameterError, match="unknown timeouts key") as caught:
        hf.connect("x")
    for named in ("read", "'x'", str(config), "connect", "first_token", "between_chunks"):
        assert named in str(caught.value)
    config.write_text(entry + "connect = -1\n", encoding="utf-8")
    with pytest.raises(hf.InvalidParameterError, match=r"timeouts\.connect") as caught:
        hf.connect("x")
    assert str(config) in str(caught.value)


def test_invalid_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[endpoints\n", encoding="utf-8")
    monkeypatch.setenv("HOMEFIRE_CONFIG", str(config))
    with pytest.raises(hf.InvalidParameterError, match="not valid TOML"):
        hf.connect("anything")
