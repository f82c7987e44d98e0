"""The fakes answer as their real servers do, asked directly (no homefire in between).

Each real server refuses what it does not take in its own way: LM Studio's REST v1 routes
refuse an unknown key (400 `unrecognized_keys`), the Go and C++ servers refuse a value of the
wrong type and ignore keys they do not know, Xinference refuses a model it does not have.
A fake stricter than its server would hide homefire sending too much; a looser one would let
homefire send what the real server refuses. Both directions are held here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakes.llamacpp import FakeLlamaRouter, FakeLlamaServer
from fakes.lmstudio import FakeLMStudio
from fakes.localai import FakeLocalAI
from fakes.ollama import FakeOllama
from fakes.xinference import FakeXinference

pytestmark = pytest.mark.unit

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def _post(http: httpx.Client, url: str, body: Any) -> httpx.Response:
    return http.post(url, json=body)


def test_lm_studio_load_refuses_what_only_lms_load_takes(
    fake_lmstudio: FakeLMStudio, http: httpx.Client
) -> None:
    url = fake_lmstudio.base_url + "/api/v1/models/load"
    for extra in ({"gpu": 1.0}, {"ttl": 600}, {"gpu": "max", "ttl": 60}):
        refused = _post(http, url, {"model": "qwen2.5-7b-instruct", **extra})
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request", "unrecognized_keys")
        keys = ", ".join(f"'{k}'" for k in extra)
        assert error["message"] == f"Unrecognized key(s) in object: {keys}"
    assert not fake_lmstudio.loaded
    documented = {
        "model": "qwen2.5-7b-instruct",
        "context_length": 8192,
        "eval_batch_size": 256,
        "flash_attention": False,
        "num_experts": 2,
        "offload_kv_cache_to_gpu": True,
        "echo_load_config": True,
    }
    answer = _post(http, url, documented).json()
    assert answer["status"] == "loaded" and answer["load_config"]["context_length"] == 8192
    refused = _post(http, fake_lmstudio.base_url + "/api/v1/models/unload", {"model": "x"})
    assert refused.json()["error"]["code"] == "unrecognized_keys"


def test_lm_studio_inference_takes_ttl_and_ignores_the_unknown(
    fake_lmstudio: FakeLMStudio, http: httpx.Client
) -> None:
    body = {"model": "qwen2.5-7b-instruct", "messages": HI, "ttl": 60, "no_such_field": 1}
    for path in ("/v1/chat/completions", "/api/v0/chat/completions"):
        assert _post(http, fake_lmstudio.base_url + path, body).status_code == 200
    assert fake_lmstudio.loaded["qwen2.5-7b-instruct"].ttl == 60


def test_lm_studio_sends_its_optional_fields_only_sometimes(
    fake_lmstudio: FakeLMStudio, http: httpx.Client
) -> None:
    _post(
        http,
        fake_lmstudio.base_url + "/v1/chat/completions",
        {"model": "qwen2.5-7b-instruct", "messages": HI},
    )
    v0 = {m["id"]: m for m in http.get(fake_lmstudio.base_url + "/api/v0/models").json()["data"]}
    assert "loaded_context_length" in v0["qwen2.5-7b-instruct"]
    assert "capabilities" not in v0["nomic-embed-text"]
    fake_lmstudio.v0_reports_loaded_context = False
    v0 = {m["id"]: m for m in http.get(fake_lmstudio.base_url + "/api/v0/models").json()["data"]}
    assert "loaded_context_length" not in v0["qwen2.5-7b-instruct"]


def test_localai_refuses_a_mistyped_field_and_ignores_the_unknown(
    fake_localai: FakeLocalAI, http: httpx.Client
) -> None:
    url = fake_localai.base_url + "/v1/chat/completions"
    refused = _post(http, url, {"model": "smollm2", "messages": HI, "max_tokens": "lots"})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith(
        "code=400, message=failed parsing request body"
    )
    accepted = _post(http, url, {"model": "smollm2", "messages": HI, "no_such_field": 1})
    assert accepted.status_code == 200
    missing = _post(http, url, {"model": "nope", "messages": HI})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (
        'model "nope" not found. To see available models, call GET /v1/models'
    )


def test_ollama_refuses_a_mistyped_field_and_ignores_the_unknown(
    fake_ollama: FakeOllama, http: httpx.Client
) -> None:
    url = fake_ollama.base_url + "/api/chat"
    refused = _post(http, url, {"model": "smollm2:135m", "messages": "Hi", "stream": False})
    assert refused.status_code == 400
    assert refused.json()["error"] == (
        "json: cannot unmarshal string into Go struct field ChatRequest.messages "
        "of type []api.Message"
    )
    body = {"model": "smollm2:135m", "messages": HI, "stream": False, "no_such_field": 1}
    assert _post(http, url, body).status_code == 200
    assert http.post(url).json() == {"error": "missing request body"}
    assert _post(http, url, {"messages": HI}).json() == {"error": "model is required"}


def test_llama_cpp_refuses_a_mistyped_field_and_ignores_the_unknown(http: httpx.Client) -> None:
    for fake in (FakeLlamaRouter().start(), FakeLlamaServer().start()):
        try:
            url = fake.base_url + "/v1/chat/completions"
            refused = _post(http, url, {"model": "smollm2", "messages": HI, "max_tokens": "lots"})
            assert refused.status_code == 400
            assert refused.json()["error"]["message"] == (
                "Field 'max_tokens': [json.exception.type_error.302] type must be number, "
                "but is string"
            )
            body = {"model": "smollm2", "messages": HI, "no_such_field": 1}
            assert _post(http, url, body).status_code == 200
        finally:
            fake.stop()


def test_xinference_refuses_a_model_it_does_not_have(http: httpx.Client) -> None:
    fake = FakeXinference().start()
    try:
        body = {
            "model_uid": "x",
            "model_name": "no-such-model-xyz",
            "model_type": "LLM",
            "model_engine": "llama.cpp",
            "model_format": "ggufv2",
            "quantization": "Q4_1",
        }
        refused = _post(http, fake.base_url + "/v1/models", body)
        assert refused.status_code == 400
        assert refused.json()["detail"].endswith(
            "Model not found, name: no-such-model-xyz, format: ggufv2, size: None, "
            "quantization: Q4_1"
        )
        # unknown keys are engine arguments, passed through
        accepted = {**body, "model_name": "smollm2-custom", "n_ctx": 256, "no_such_field": 1}
        assert _post(http, fake.base_url + "/v1/models", accepted).status_code == 200
    finally:
        fake.stop()
