"""`homefire discover|models|load|unload|pull|doctor` against fakes and nothing at all."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeOllama
from homefire.cli._app import app

pytestmark = pytest.mark.unit


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _address(url: str) -> str:
    return url.removeprefix("http://")


def test_discover_lists_servers_and_models(
    fake_ollama: FakeOllama, fake_lmstudio: FakeLMStudio
) -> None:
    result = run("discover", _address(fake_ollama.base_url), fake_lmstudio.base_url)
    assert result.exit_code == 0, result.output
    assert f"{fake_ollama.base_url}  Ollama 0.12.3" in result.output
    assert f"{fake_lmstudio.base_url}  LM Studio" in result.output
    assert "    smollm2:135m" in result.output


def test_discover_with_nothing_running(refusing_url: str) -> None:
    result = run("discover", "127.0.0.1", "-p", refusing_url.rpartition(":")[2])
    assert result.exit_code == 1
    assert "no LLM server found" in result.output


def test_models_load_unload_on_lmstudio(fake_lmstudio: FakeLMStudio) -> None:
    spec = f"lmstudio://{_address(fake_lmstudio.base_url)}"
    listed = run("models", spec)
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.output.splitlines()
    assert header.split() == ["MODEL", "LOADED", "CONTEXT", "MAX", "QUANT", "SIZE", "CAPABILITIES"]
    assert any(r.startswith("qwen2.5-7b-instruct") and "Q4_K_M" in r for r in rows)
    loaded = run("load", spec, "qwen2.5-7b-instruct", "-c", "8192")
    assert loaded.exit_code == 0, loaded.output
    assert "loaded qwen2.5-7b-instruct with a context of 8192" in loaded.output
    assert fake_lmstudio.loaded["qwen2.5-7b-instruct"].context_length == 8192
    for setting in (["--gpu", "0.5"], ["--ttl", "60"]):  # LM Studio's API takes neither
        refused = run("load", spec, "qwen2.5-7b-instruct", *setting)
        assert refused.exit_code == 1 and "lms load" in refused.output, refused.output
    assert "yes" in run("models", spec).output
    assert run("unload", spec, "qwen2.5-7b-instruct").exit_code == 0
    assert not fake_lmstudio.loaded


def test_pull_on_ollama(fake_ollama: FakeOllama) -> None:
    spec = f"ollama://{_address(fake_ollama.base_url)}"
    result = run("pull", spec, "tinyllama")
    assert result.exit_code == 0, result.output
    assert "pulled tinyllama" in result.output
    failed = run("pull", spec, "nothing-like-this")
    assert failed.exit_code == 1
    assert "file does not exist" in failed.output


def test_load_where_the_server_cannot(fake_localai: FakeLocalAI) -> None:
    result = run("load", fake_localai.base_url, "smollm2", "-c", "4096")
    assert result.exit_code == 1
    assert "context_size" in result.output


# --- doctor: each failure names its cause and its fix ---------------------------------------


def test_doctor_nothing_running(refusing_url: str) -> None:
    result = run("doctor", refusing_url)
    assert result.exit_code == 1
    assert f"[FAIL] reachable  nothing listens at {refusing_url}" in result.output
    assert "cause: the connection was refused" in result.output
    assert "fix:" in result.output and "homefire discover" in result.output


def test_doctor_wrong_port_points_at_the_server() -> None:
    # the spec names Ollama, but LM Studio's port: the server check says so
    lmstudio = FakeLMStudio().start()
    try:
        result = run("doctor", f"ollama://{_address(lmstudio.base_url)}/smollm2:135m")
    finally:
        lmstudio.stop()
    assert result.exit_code == 1
    assert "[FAIL] server     LM Studio answers, not Ollama" in result.output
    assert "Ollama listens on 11434 by default" in result.output


def test_doctor_wrong_api_key() -> None:
    server = FakeLocalAI(api_keys=["right"]).start()
    try:
        missing = run("doctor", server.base_url, "-m", "smollm2")
        wrong = run("doctor", server.base_url, "-m", "smollm2", "--api-key", "wrong")
        right = run("doctor", server.base_url, "-m", "smollm2", "--api-key", "right")
    finally:
        server.stop()
    assert "[FAIL] auth       the server requires an API key" in missing.output
    assert "[FAIL] auth       the server refused the API key" in wrong.output
    assert "fix:   pass the right key with --api-key" in wrong.output
    assert "[  ok] auth       key accepted" in right.output


def test_doctor_unloaded_model_and_context(fake_lmstudio: FakeLMStudio) -> None:
    spec = f"lmstudio://{_address(fake_lmstudio.base_url)}"
    unloaded = run("doctor", f"{spec}/qwen2.5-7b-instruct", "-c", "4096")
    assert unloaded.exit_code == 1
    assert "[FAIL] loaded     qwen2.5-7b-instruct is not loaded" in unloaded.output
    assert f"$ homefire load {spec} qwen2.5-7b-instruct -c 4096\n" in unloaded.output
    run("load", spec, "qwen2.5-7b-instruct", "-c", "8192")
    mismatch = run("doctor", f"{spec}/qwen2.5-7b-instruct", "-c", "4096")
    assert "[FAIL] context    8192 tokens in effect, 4096 requested" in mismatch.output
    healthy = run("doctor", f"{spec}/qwen2.5-7b-instruct", "-c", "8192")
    assert healthy.exit_code == 0, healthy.output
    assert "[  ok] generate" in healthy.output and "tokens/s" in healthy.output


def test_doctor_missing_model(fake_ollama: FakeOllama) -> None:
    result = run("doctor", f"ollama://{_address(fake_ollama.base_url)}/llama3.2")
    assert "[FAIL] model      'llama3.2' is not on the server" in result.output
    assert "homefire pull" in result.output


def test_chat_model_option_takes_endpoint_specs(fake_ollama: FakeOllama) -> None:
    spec = f"ollama://{_address(fake_ollama.base_url)}/smollm2:135m"
    result = run("chat", "--model", spec, "-c", "512", "hello there")
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("hello there")
    sent = fake_ollama.last("/api/chat").json()
    assert sent["options"]["num_ctx"] == 512
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert run("chat", "--model", spec, "--system", "", "hi").exit_code == 0
    assert [m["role"] for m in fake_ollama.last("/api/chat").json()["messages"]] == ["user"]
