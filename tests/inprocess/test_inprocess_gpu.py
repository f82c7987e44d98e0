"""GPU layers asked of an engine build that cannot offload are said, never dropped in silence.

Whether a build can offload is read from the engine libraries themselves here: on a machine
with a GPU build the request takes effect and nothing is said.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import homefire as hf

pytestmark = pytest.mark.integration


def _build_offloads(engine: str) -> bool:
    if engine == "xllamacpp":
        import xllamacpp

        kinds = xllamacpp.ggml_backend_dev_type
        gpus = {kinds.GGML_BACKEND_DEVICE_TYPE_GPU, kinds.GGML_BACKEND_DEVICE_TYPE_IGPU}
        return any(device["type"] in gpus for device in xllamacpp.get_device_info())
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def test_gpu_layers_a_build_cannot_honour_warn_and_show_in_metadata(
    engine: str, smollm2_path: Path
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llm = hf.LlamaCPP(
            smollm2_path, engine=engine, n_gpu_layers=-1, n_threads=2, context_window=512
        )
    try:
        said = [w for w in caught if issubclass(w.category, hf.GPUUnavailableWarning)]
        extra = llm.metadata.extra
        if _build_offloads(engine):
            assert not said and "gpu_warning" not in extra
            return
        (warning,) = said
        message = str(warning.message)
        assert "n_gpu_layers=-1" in message and "pip install" in message
        assert warning.filename == __file__
        assert extra["gpu_offload"] is False and extra["gpu_warning"] == message
    finally:
        llm.close()


def test_no_gpu_layers_say_nothing(engine: str, smollm2_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", hf.GPUUnavailableWarning)
        llm = hf.LlamaCPP(smollm2_path, engine=engine, n_threads=2, context_window=512)
    assert "gpu_warning" not in llm.metadata.extra
    llm.close()
