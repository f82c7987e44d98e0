"""read_model_file: the facts of good files, and a clear ModelFileError for every bad one."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from homefire import ModelFile, ModelFileError, read_model_file
from homefire.modelfiles.gguf import ArrayInfo
from tinymodels import write_tiny_model

pytestmark = pytest.mark.unit


# --- a hand-made GGUF writer, so each header field can be broken on purpose ---------------


def _str(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _kv_u32(key: str, value: int) -> bytes:
    return _str(key) + struct.pack("<II", 4, value)


def _kv_str(key: str, value: str) -> bytes:
    return _str(key) + struct.pack("<I", 8) + _str(value)


def _tensor(name: str, shape: tuple[int, ...], ggml_type: int = 0, offset: int = 0) -> bytes:
    dims = b"".join(struct.pack("<Q", d) for d in shape)
    return _str(name) + struct.pack("<I", len(shape)) + dims + struct.pack("<IQ", ggml_type, offset)


def _gguf(
    kvs: list[bytes] | None = None,
    tensors: list[bytes] | None = None,
    *,
    data: bytes = b"\0" * 64,
    version: int = 3,
    n_kv: int | None = None,
    n_tensors: int | None = None,
) -> bytes:
    kvs = [_kv_str("general.architecture", "llama")] if kvs is None else kvs
    tensors = [_tensor("blk.0.attn_norm.weight", (16,))] if tensors is None else tensors
    head = b"GGUF" + struct.pack(
        "<IQQ",
        version,
        len(tensors) if n_tensors is None else n_tensors,
        len(kvs) if n_kv is None else n_kv,
    )
    body = head + b"".join(kvs) + b"".join(tensors)
    body += b"\0" * (-len(body) % 32)
    return body + data


@pytest.fixture
def write(tmp_path: Path):
    def _write(content: bytes, name: str = "model.gguf") -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return _write


def _error(path: Path) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        read_model_file(path)
    assert str(path) in str(info.value)
    return info.value


# --- good files ------------------------------------------------------------------------


def test_smollm2_facts(smollm2_path: Path) -> None:
    m = read_model_file(smollm2_path)
    assert isinstance(m, ModelFile)
    assert (m.architecture, m.block_count, m.context_length) == ("llama", 30, 8192)
    assert (m.embedding_length, m.head_count, m.head_count_kv) == (576, 9, 3)
    assert (m.key_length, m.value_length, m.vocab_size) == (64, 64, 49152)
    assert (m.bos_token, m.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert m.chat_template is not None and "<|im_start|>" in m.chat_template
    assert m.quantization == "Q4_1"
    assert m.parameter_count == 134_515_008
    assert m.file_size == smollm2_path.stat().st_size
    assert 5.5 < m.bits_per_weight < 6.0
    assert len(m.tensors) == 272
    last = m.tensors[-1]
    assert last.offset + last.n_bytes <= m.file_size
    assert m.metadata["tokenizer.ggml.tokens"] == ArrayInfo("string", 49152)
    assert m.key("attention.head_count") == 9


def test_tiny_model_roundtrip(tmp_path: Path) -> None:
    path = write_tiny_model(
        tmp_path / "t.gguf", n_layer=3, n_embd=128, n_head=8, n_head_kv=2, n_ff=256,
        vocab_size=400, context_length=1024, tied_output=False, weight_type="Q8_0",
    )  # fmt: skip
    m = read_model_file(path)
    assert (m.block_count, m.embedding_length, m.head_count, m.head_count_kv) == (3, 128, 8, 2)
    assert m.head_count_kv_per_layer == (2, 2, 2)
    assert (m.context_length, m.vocab_size, m.feed_forward_length) == (1024, 400, 256)
    assert m.key_length == 16
    assert m.quantization == "Q8_0"
    assert any(t.name == "output.weight" for t in m.tensors)


def test_sliding_window_model(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "g.gguf", arch="gemma2", sliding_window=64, n_layer=4)
    m = read_model_file(path)
    assert (m.architecture, m.sliding_window) == ("gemma2", 64)


# --- bad input -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "nope.gguf").problem


def test_directory(tmp_path: Path) -> None:
    assert "directory" in _error(tmp_path).problem


def test_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    assert "regular file" in _error(fifo).problem


def test_empty_file(write) -> None:
    assert "empty" in _error(write(b"")).problem


def test_random_bytes(write) -> None:
    assert "not a GGUF file" in _error(write(os.urandom(4096))).problem


def test_too_short(write) -> None:
    assert "too short" in _error(write(b"GGUF\3\0")).problem


@pytest.mark.parametrize(("version", "words"), [(1, "version 1"), (99, "version 99")])
def test_unsupported_version(write, version: int, words: str) -> None:
    assert words in _error(write(_gguf(version=version))).problem


def test_big_endian_file(write) -> None:
    assert "big-endian" in _error(write(_gguf(version=3 << 24))).problem


def test_hand_made_file_reads(write) -> None:
    m = read_model_file(write(_gguf([_kv_str("general.architecture", "llama")])))
    assert m.tensors[0].name == "blk.0.attn_norm.weight"
    assert m.tensors[0].n_bytes == 64


def test_absurd_counts(write) -> None:
    assert "metadata entries" in _error(write(_gguf(n_kv=2**60))).problem
    assert "tensors" in _error(write(_gguf(n_tensors=2**40))).problem


def test_absurd_string_length(write) -> None:
    key = struct.pack("<Q", 2**62) + b"general.architecture"
    assert "ends in the middle" in _error(write(_gguf([key]))).problem


def test_absurd_array_length(write) -> None:
    entry = _str("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2**50)
    assert "more than the file holds" in _error(write(_gguf([entry]))).problem
    numbers = _str("x.values") + struct.pack("<IIQ", 9, 4, 2**50)
    assert "more than the file holds" in _error(write(_gguf([numbers]))).problem


def test_nested_array(write) -> None:
    entry = _str("x.nested") + struct.pack("<IIQ", 9, 9, 1)
    assert "nested arrays" in _error(write(_gguf([entry]))).problem


def test_unknown_value_type(write) -> None:
    entry = _str("x.weird") + struct.pack("<I", 77) + b"\0" * 8
    assert "unknown value type" in _error(write(_gguf([entry]))).problem


def test_duplicate_key(write) -> None:
    kv = _kv_str("general.architecture", "llama")
    assert "twice" in _error(write(_gguf([kv, kv]))).problem


def test_missing_architecture(write) -> None:
    assert "general.architecture" in _error(write(_gguf([_kv_u32("x.y", 1)]))).problem


def test_bad_alignment(write) -> None:
    kvs = [_kv_str("general.architecture", "llama"), _kv_u32("general.alignment", 48)]
    assert "power of two" in _error(write(_gguf(kvs))).problem


def test_unknown_tensor_type(write) -> None:
    tensors = [_tensor("blk.0.attn_norm.weight", (16,), ggml_type=1234)]
    assert "unknown type" in _error(write(_gguf(tensors=tensors))).problem


def test_too_many_dimensions(write) -> None:
    tensors = [_tensor("blk.0.x.weight", (1, 1, 1, 1, 1))]
    assert "dimensions" in _error(write(_gguf(tensors=tensors))).problem


def test_tensor_offset_out_of_order(write) -> None:
    tensors = [
        _tensor("blk.0.a.weight", (16,), offset=0),
        _tensor("blk.0.b.weight", (16,), offset=0),
    ]
    assert "expected 64" in _error(write(_gguf(tensors=tensors, data=b"\0" * 128))).problem


def test_tensor_data_beyond_end(write) -> None:
    tensors = [_tensor("blk.0.attn_norm.weight", (1_000_000,))]
    error = _error(write(_gguf(tensors=tensors)))
    assert "needs bytes up to" in error.problem
    assert "incomplete" in str(error)


def test_duplicate_tensor(write) -> None:
    tensors = [
        _tensor("blk.0.a.weight", (16,), offset=0),
        _tensor("blk.0.a.weight", (16,), offset=64),
    ]
    assert "appears twice" in _error(write(_gguf(tensors=tensors, data=b"\0" * 128))).problem


def test_block_count_beyond_llamacpp_limit(write) -> None:
    kvs = [_kv_str("general.architecture", "llama"), _kv_u32("llama.block_count", 100_000)]
    assert "block_count" in _error(write(_gguf(kvs))).problem


def test_truncated_tiny_model(tmp_path: Path, write) -> None:
    full = write_tiny_model(tmp_path / "full.gguf").read_bytes()
    for cut in (30, 200, len(full) // 3, len(full) - 1):
        error = _error(write(full[:cut], name=f"cut{cut}.gguf"))
        assert "incomplete" in str(error) or "ends in the middle" in error.problem


@pytest.mark.allowed_skip
def test_unreadable_file(write) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    path = write(_gguf())
    path.chmod(0)
    assert "cannot be read" in _error(path).problem


@pytest.mark.unit
def test_missing_gguf_package_is_reported_as_a_missing_dependency(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    import homefire as hf

    monkeypatch.setitem(sys.modules, "gguf", None)
    monkeypatch.setitem(sys.modules, "gguf.constants", None)
    with pytest.raises(hf.MissingDependencyError, match="gguf"):
        hf.read_model_file(smollm2_path)
