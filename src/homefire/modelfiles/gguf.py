"""Read a GGUF model file's header: metadata, tensor table and integrity, in a fraction of a
second (a few hundred milliseconds for the largest vocabularies).

The parser walks the header itself over a read-only memory map instead of using
`gguf.GGUFReader`, which materializes every vocabulary string as numpy arrays (about 2 s for a
small model) and trusts the counts it reads. Here every count and length is checked against
the bytes that remain before anything is read or allocated, the rules follow llama.cpp's own
loader (so a file that passes here does not fail there for a header reason), and a damaged
file always ends in `ModelFileError`, never a crash, a hang or a huge allocation. The
vocabulary and the hyperparameters are checked too, for what llama.cpp asserts on (which ends
the whole process): tokens that repeat, arrays of the wrong length, special token ids outside
the vocabulary, impossible expert counts, non-finite numbers.
"""

from __future__ import annotations

import array
import math
import mmap
import os
import stat
import struct
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from homefire.errors import InvalidParameterError, MissingDependencyError, ModelFileError

__all__ = ["ArrayInfo", "MetadataValue", "ModelFile", "TensorInfo", "read_model_file"]

_MAGIC: Final = b"GGUF"
_SUPPORTED_VERSIONS: Final = (2, 3)
_DEFAULT_ALIGNMENT: Final = 32
_MAX_DIMS: Final = 4
_MAX_LAYERS: Final = 512  # llama.cpp's LLAMA_MAX_LAYERS; more has been used to corrupt memory
_MAX_TENSOR_NAME: Final = 63  # llama.cpp's GGML_MAX_NAME is 64, including the final NUL
_KEEP_ARRAY_LEN: Final = 4096  # longer metadata arrays (vocabularies) are summarized, not kept
_HEADER: Final = struct.Struct("<4sIQQ")
_U64: Final = struct.Struct("<Q")
_U32: Final = struct.Struct("<I")

# GGUF metadata value types: code -> (struct format of one element, its size in bytes).
_STRING: Final = 8
_ARRAY: Final = 9
_SCALARS: Final[dict[int, tuple[str, int]]] = {
    0: ("B", 1),
    1: ("b", 1),
    2: ("H", 2),
    3: ("h", 2),
    4: ("I", 4),
    5: ("i", 4),
    6: ("f", 4),
    7: ("?", 1),
    10: ("Q", 8),
    11: ("q", 8),
    12: ("d", 8),
}
_TYPE_NAMES: Final = {
    0: "uint8",
    1: "int8",
    2: "uint16",
    3: "int16",
    4: "uint32",
    5: "int32",
    6: "float32",
    7: "bool",
    8: "string",
    10: "uint64",
    11: "int64",
    12: "float64",
}

_TOKENS: Final = "tokenizer.ggml.tokens"
_TOKEN_TYPES: Final = "tokenizer.ggml.token_type"
_SCORES: Final = "tokenizer.ggml.scores"
_TOKEN_UNKNOWN: Final = 2
_TOKEN_CONTROL: Final = 3
_SPECIAL_TOKEN_KEYS: Final = tuple(
    (f"tokenizer.ggml.{key}_token_id", name)
    for key, name in (
        ("bos", "beginning-of-text"),
        ("eos", "end-of-text"),
        ("eot", "end-of-turn"),
        ("eom", "end-of-message"),
        ("unknown", "unknown"),
        ("seperator", "separator"),  # llama.cpp's spelling of the key
        ("padding", "padding"),
        ("mask", "mask"),
        ("cls", "classifier"),
        ("fim_pre", "fill-in-the-middle prefix"),
        ("fim_suf", "fill-in-the-middle suffix"),
        ("fim_mid", "fill-in-the-middle middle"),
        ("fim_pad", "fill-in-the-middle padding"),
        ("fim_rep", "fill-in-the-middle repository"),
        ("fim_sep", "fill-in-the-middle separator"),
        ("prefix", "prefix"),
        ("suffix", "suffix"),
        ("middle", "middle"),
    )
)
# Tokens llama.cpp makes control tokens by their text, whatever type the file gives them
# (the ends of turns and the fill-in-the-middle markers it recognizes).
_TREATED_AS_CONTROL: Final = frozenset(
    t.encode()
    for t in (
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<｜end▁of▁sentence｜>",
        "<end_of_utterance>", "<|eom_id|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "</s>", "<eos>", "<turn|>", "<|tool_response>", "<|fim_prefix|>", "<fim-prefix>",
        "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|fim_suffix|>", "<fim-suffix>",
        "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|fim_middle|>", "<fim-middle>",
        "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|fim_pad|>", "<fim-pad>",
        "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
        "<reponame>", "<|file_sep|>",
    )
)  # fmt: skip
# llama.cpp's own bounds on hyperparameters it asserts on (LLAMA_MAX_EXPERTS).
_MAX_EXPERTS: Final = 512
_ROPE_SCALING_TYPES: Final = ("none", "linear", "yarn", "longrope")

_HINT_DAMAGED: Final = "The file is damaged or not a GGUF model: download or convert it again"
_HINT_TRUNCATED: Final = (
    "The file is incomplete (an interrupted download?) or damaged: download it again"
)


@dataclass(frozen=True, slots=True)
class ArrayInfo:
    """A metadata array too long to keep in memory (a vocabulary, merges, scores)."""

    element_type: str
    length: int


Scalar = int | float | bool | str
MetadataValue = Scalar | tuple[Scalar, ...] | ArrayInfo


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One entry of the tensor table; `offset` is absolute in the file."""

    name: str
    type_name: str
    ggml_type: int
    shape: tuple[int, ...]
    n_elements: int
    n_bytes: int
    offset: int


@dataclass(frozen=True)
class ModelFile:
    """What a GGUF file says about its model; per-layer values are tuples of block_count items."""

    path: Path
    file_size: int
    gguf_version: int
    architecture: str
    name: str | None
    context_length: int | None
    chat_template: str | None
    bos_token: str | None
    eos_token: str | None
    block_count: int | None
    embedding_length: int | None
    feed_forward_length: int | None
    head_count: int | None
    head_count_kv: int | None
    head_count_per_layer: tuple[int, ...]
    head_count_kv_per_layer: tuple[int, ...]
    key_length: int | None
    value_length: int | None
    sliding_window: int | None
    sliding_window_pattern: tuple[bool, ...] | int | None
    expert_count: int | None
    expert_used_count: int | None
    vocab_size: int | None
    tokenizer_model: str | None
    file_type: int | None
    quantization: str
    parameter_count: int
    tensor_bytes: int
    alignment: int
    data_offset: int
    tensors: tuple[TensorInfo, ...] = field(repr=False, compare=False)
    metadata: Mapping[str, MetadataValue] = field(repr=False, compare=False)
    control_tokens: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """The texts llama.cpp reads as control tokens when it parses special tokens (`<|im_start|>`):
    in a prompt, only the chat template may write them."""

    @property
    def bits_per_weight(self) -> float:
        """Average stored bits per parameter over all tensors (what quantization really costs)."""
        return 8 * self.tensor_bytes / self.parameter_count if self.parameter_count else 0.0

    def key(self, suffix: str) -> MetadataValue | None:
        """The architecture-scoped value `{architecture}.{suffix}`, e.g. `key("block_count")`."""
        return self.metadata.get(f"{self.architecture}.{suffix}")


def read_model_file(path: str | os.PathLike[str]) -> ModelFile:
    """Read and check a GGUF file's header; raise `ModelFileError` naming the file and problem."""
    try:
        file = Path(path)
    except TypeError:
        raise InvalidParameterError("path", f"must be a path, got {path!r}") from None
    shown = str(file)
    check_regular_file(file, shown)
    try:
        with file.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise ModelFileError(shown, "the file is empty", _HINT_TRUNCATED)
            if size < _HEADER.size:
                raise ModelFileError(
                    shown, f"only {size} bytes, too short for a GGUF header", _HINT_DAMAGED
                )
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _Parser(file, buf, size).parse()
    except ModelFileError:
        raise
    except ImportError:
        raise MissingDependencyError("gguf", "reading GGUF model files", extra="planner") from None
    except _BadFile as exc:
        raise ModelFileError(shown, exc.problem, exc.hint) from None
    except OSError as exc:
        raise ModelFileError(
            shown, f"cannot be read ({exc.strerror or exc})", "Check its permissions"
        ) from exc
    except Exception as exc:  # a hostile header must never escape as anything else
        raise ModelFileError(
            shown,
            f"the GGUF header could not be parsed ({type(exc).__name__}: {exc})",
            _HINT_DAMAGED,
        ) from exc


def check_regular_file(file: Path, shown: str) -> None:
    """Refuse what is not a readable regular file, naming why (a pipe or a device would block
    or never end; a name the file system cannot hold is not a missing file)."""
    try:
        mode = file.stat().st_mode
    except FileNotFoundError:
        raise ModelFileError(shown, "no such file", "Check the path") from None
    except ValueError:  # a NUL character in the path
        raise ModelFileError(shown, "the path holds a NUL character", "Check the path") from None
    except OSError as exc:
        raise ModelFileError(
            shown, f"the path cannot be used ({exc.strerror or exc})", "Check the path"
        ) from None
    if stat.S_ISDIR(mode):
        raise ModelFileError(shown, "is a directory, not a model file", "Pass the .gguf file")
    if not stat.S_ISREG(mode):
        raise ModelFileError(shown, "is not a regular file", "Pass the .gguf file")


class _BadFile(Exception):
    def __init__(self, problem: str, hint: str = _HINT_DAMAGED) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


def _truncated(what: str) -> _BadFile:
    return _BadFile(f"the file ends in the middle of {what}", _HINT_TRUNCATED)


class _Parser:
    """One pass over the header; `pos` only moves forward and never past `size`."""

    def __init__(self, path: Path, buf: mmap.mmap, size: int) -> None:
        self.path = path
        self.buf = buf
        self.size = size
        self.pos = 0
        self.metadata: dict[str, MetadataValue] = {}
        self.string_arrays: dict[str, tuple[int, int]] = {}  # key -> (offset, length)
        self.arrays: dict[str, tuple[int, int, int]] = {}  # key -> (element type, offset, length)

    # --- primitives -------------------------------------------------------------------

    def _need(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            raise _truncated(what)

    def _u32(self, what: str) -> int:
        self._need(4, what)
        (value,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(value)

    def _u64(self, what: str) -> int:
        self._need(8, what)
        (value,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return int(value)

    def _string(self, what: str) -> str:
        length = self._u64(what)
        self._need(length, what)
        raw = self.buf[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    # --- sections ---------------------------------------------------------------------

    def parse(self) -> ModelFile:
        magic, version, n_tensors, n_kv = _HEADER.unpack_from(self.buf, 0)
        if magic != _MAGIC:
            raise _BadFile(f"not a GGUF file (it starts with {magic!r}, not b'GGUF')")
        if version & 0xFFFF == 0 and version:
            raise _BadFile("big-endian GGUF files are not supported", "Use a little-endian file")
        if version not in _SUPPORTED_VERSIONS:
            raise _BadFile(
                f"GGUF version {version} is not supported (only versions 2 and 3)",
                "Convert the model again with a current llama.cpp",
            )
        self.pos = _HEADER.size
        remaining = self.size - self.pos
        if n_kv > remaining // 13:  # smallest entry: key length, 1-byte key, type, 1-byte value
            raise _BadFile(
                f"the header claims {n_kv} metadata entries, more than the file holds",
                _HINT_TRUNCATED,
            )
        if n_tensors > remaining // 25:  # smallest tensor entry: name, dims, type, offset
            raise _BadFile(
                f"the header claims {n_tensors} tensors, more than the file holds", _HINT_TRUNCATED
            )
        for _ in range(n_kv):
            self._read_kv()
        alignment = self.metadata.get("general.alignment", _DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0:
            raise _BadFile("general.alignment is not a positive integer")
        if alignment & (alignment - 1):
            raise _BadFile(f"general.alignment {alignment} is not a power of two")
        if alignment < _DEFAULT_ALIGNMENT:  # ggml asserts that tensor data is 32-byte aligned
            raise _BadFile(
                f"general.alignment {alignment} is less than the {_DEFAULT_ALIGNMENT} bytes "
                "llama.cpp needs"
            )
        infos = [self._read_tensor_info() for _ in range(n_tensors)]
        data_offset = -(-self.pos // alignment) * alignment
        tensors = self._place_tensors(infos, data_offset, alignment)
        return self._model(tensors, alignment, data_offset, int(version))

    def _read_kv(self) -> None:
        key = self._string("a metadata key")
        if not key:
            raise _BadFile("a metadata key is empty")
        if key in self.metadata:
            raise _BadFile(f"metadata key {key!r} appears twice")
        type_code = self._u32(f"the type of {key!r}")
        if type_code == _ARRAY:
            self.metadata[key] = self._read_array(key)
        else:
            self.metadata[key] = self._read_scalar(key, type_code)

    def _read_scalar(self, key: str, type_code: int) -> Scalar:
        if type_code == _STRING:
            return self._string(f"the value of {key!r}")
        spec = _SCALARS.get(type_code)
        if spec is None:
            raise _BadFile(f"metadata key {key!r} has unknown value type {type_code}")
        fmt, width = spec
        self._need(width, f"the value of {key!r}")
        (value,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += width
        return value  # type: ignore[no-any-return]

    def _read_array(self, key: str) -> MetadataValue:
        what = f"the array {key!r}"
        type_code = self._u32(what)
        length = self._u64(what)
        if type_code == _STRING:
            if length > (self.size - self.pos) // 8:
                raise _BadFile(f"array {key!r} claims {length} strings, more than the file holds")
            start = self.pos
            self.pos = _skip_strings(self.buf, start, length, self.size, what)
            self.string_arrays[key] = (start, length)
            self.arrays[key] = (_STRING, start, length)
            if length <= _KEEP_ARRAY_LEN:
                return tuple(_strings(self.buf, start, length))
            return ArrayInfo("string", length)
        spec = _SCALARS.get(type_code)
        if spec is None:
            problem = "nested arrays" if type_code == _ARRAY else f"unknown type {type_code}"
            raise _BadFile(f"array {key!r} has {problem}, which GGUF readers do not accept")
        fmt, width = spec
        if length > (self.size - self.pos) // width:
            raise _BadFile(f"array {key!r} claims {length} items, more than the file holds")
        start = self.pos
        self.arrays[key] = (type_code, start, length)
        self.pos += length * width
        if length <= _KEEP_ARRAY_LEN:
            return struct.unpack_from(f"<{length}{fmt}", self.buf, start)
        return ArrayInfo(_TYPE_NAMES[type_code], length)

    def _read_tensor_info(self) -> tuple[str, tuple[int, ...], int, int]:
        name = self._string("a tensor name")
        if len(name.encode()) > _MAX_TENSOR_NAME:
            raise _BadFile(f"tensor name {name[:80]!r} is longer than {_MAX_TENSOR_NAME} bytes")
        n_dims = self._u32(f"the shape of tensor {name!r}")
        if n_dims > _MAX_DIMS:
            raise _BadFile(f"tensor {name!r} has {n_dims} dimensions (at most {_MAX_DIMS})")
        shape = tuple(self._u64(f"the shape of tensor {name!r}") for _ in range(n_dims))
        ggml_type = self._u32(f"the type of tensor {name!r}")
        offset = self._u64(f"the offset of tensor {name!r}")
        return name, shape, ggml_type, offset

    def _place_tensors(
        self, infos: list[tuple[str, tuple[int, ...], int, int]], data_offset: int, alignment: int
    ) -> tuple[TensorInfo, ...]:
        sizes = _quant_sizes()
        seen: set[str] = set()
        expected = 0
        tensors = []
        for name, shape, ggml_type, offset in infos:
            if name in seen:
                raise _BadFile(f"tensor {name!r} appears twice")
            seen.add(name)
            if ggml_type not in sizes:
                raise _BadFile(
                    f"tensor {name!r} has unknown type {ggml_type}",
                    "Upgrade the 'gguf' package, or use a file with a supported quantization",
                )
            type_name, block, type_size = sizes[ggml_type]
            n_elements = 1
            for dim in shape:
                n_elements *= dim
            if n_elements >= 2**63:
                raise _BadFile(f"tensor {name!r} has an impossible shape {shape}")
            if shape and shape[0] % block:
                raise _BadFile(
                    f"tensor {name!r} rows of {shape[0]} are not a multiple of the "
                    f"{type_name} block size {block}"
                )
            n_bytes = n_elements // block * type_size
            if offset != expected:
                raise _BadFile(f"tensor {name!r} is at data offset {offset}, expected {expected}")
            end = data_offset + offset + n_bytes
            if end > self.size:
                raise _BadFile(
                    f"tensor {name!r} needs bytes up to {end} but the file has {self.size}",
                    _HINT_TRUNCATED,
                )
            expected += -(-n_bytes // alignment) * alignment
            tensors.append(
                TensorInfo(
                    name, type_name, ggml_type, shape, n_elements, n_bytes, data_offset + offset
                )
            )
        return tuple(tensors)

    # --- the model view ---------------------------------------------------------------

    def _model(
        self, tensors: tuple[TensorInfo, ...], alignment: int, data_offset: int, version: int
    ) -> ModelFile:
        meta = self.metadata
        arch = meta.get("general.architecture")
        if not isinstance(arch, str) or not arch:
            raise _BadFile("general.architecture is missing", "This is not a model file")

        def arch_int(suffix: str) -> int | None:
            return _as_int(meta.get(f"{arch}.{suffix}"))

        blocks = arch_int("block_count")
        if blocks is not None and not 0 < blocks <= min(len(tensors), _MAX_LAYERS):
            raise _BadFile(
                f"{arch}.block_count is {blocks}, impossible for a file with {len(tensors)} "
                f"tensors (llama.cpp allows at most {_MAX_LAYERS} layers)"
            )
        n_embd = arch_int("embedding_length")
        heads = _per_layer(meta.get(f"{arch}.attention.head_count"), blocks)
        kv_raw = meta.get(f"{arch}.attention.head_count_kv")
        heads_kv = _per_layer(kv_raw, blocks) if kv_raw is not None else heads
        head = max(heads, default=None)
        key_length = arch_int("attention.key_length")
        if key_length is None and n_embd and head:
            key_length = n_embd // head
        value_length = arch_int("attention.value_length") or key_length
        pattern = meta.get(f"{arch}.attention.sliding_window_pattern")
        file_type = _as_int(meta.get("general.file_type"))
        _check_hyperparameters(meta, arch)
        control_tokens = self._check_vocabulary()
        params = sum(t.n_elements for t in tensors)
        return ModelFile(
            path=self.path,
            file_size=self.size,
            gguf_version=version,
            architecture=arch,
            name=_as_str(meta.get("general.name")),
            context_length=arch_int("context_length"),
            chat_template=_as_str(meta.get("tokenizer.chat_template")),
            bos_token=self._token(meta.get("tokenizer.ggml.bos_token_id")),
            eos_token=self._token(meta.get("tokenizer.ggml.eos_token_id")),
            block_count=blocks,
            embedding_length=n_embd,
            feed_forward_length=_max_int(meta.get(f"{arch}.feed_forward_length")),
            head_count=head,
            head_count_kv=max(heads_kv, default=None),
            head_count_per_layer=heads,
            head_count_kv_per_layer=heads_kv,
            key_length=key_length,
            value_length=value_length,
            sliding_window=arch_int("attention.sliding_window"),
            sliding_window_pattern=_pattern(pattern),
            expert_count=arch_int("expert_count"),
            expert_used_count=arch_int("expert_used_count"),
            vocab_size=arch_int("vocab_size") or self._vocab_size(tensors),
            tokenizer_model=_as_str(meta.get("tokenizer.ggml.model")),
            file_type=file_type,
            quantization=_quantization(file_type, tensors),
            parameter_count=params,
            tensor_bytes=sum(t.n_bytes for t in tensors),
            alignment=alignment,
            data_offset=data_offset,
            tensors=tensors,
            metadata=MappingProxyType(meta),
            control_tokens=control_tokens,
        )

    def _check_vocabulary(self) -> tuple[str, ...]:
        """Refuse the vocabularies llama.cpp aborts on (or silently mangles); return the texts
        of its control tokens."""
        meta = self.metadata
        model = meta.get("tokenizer.ggml.model")
        where = self.arrays.get(_TOKENS)
        if where is None:
            if _TOKENS in meta:
                raise _BadFile(f"{_TOKENS} is not an array")
            return ()
        kind, start, count = where
        if kind != _STRING:
            raise _BadFile(f"{_TOKENS} holds {_TYPE_NAMES.get(kind, kind)} values, not strings")
        raw = _raw_strings(self.buf, start, count)
        ids: dict[bytes, int] = {}
        for index, text in enumerate(raw):
            text = text or f"[EMPTY_{index}]".encode()  # llama.cpp's name for an empty token
            first = ids.setdefault(text, index)
            if first != index:
                raise _BadFile(
                    f"the vocabulary has the token {text[:60].decode(errors='replace')!r} twice "
                    f"(ids {first} and {index}); llama.cpp stops the process on such a file"
                )
        types = self._parallel_array(_TOKEN_TYPES, count, (5,))
        self._parallel_array(_SCORES, count, (5, 6))
        for key, name in _SPECIAL_TOKEN_KEYS:
            value = meta.get(key)
            if value is None:
                continue
            token = _as_int(value)
            if token is None or not 0 <= token < count:
                raise _BadFile(
                    f"the {name} token id {value!r} ({key}) is not in the vocabulary of "
                    f"{count} tokens"
                )
        if model == "llama":
            _check_byte_tokens(ids)
        control = [
            text
            for text, kind in zip(raw, types or (), strict=False)
            if kind in (_TOKEN_UNKNOWN, _TOKEN_CONTROL)
        ]
        control += [t for t in _TREATED_AS_CONTROL if t in ids]
        return tuple(sorted({t.decode("utf-8", "replace") for t in control if t}))

    def _parallel_array(self, key: str, count: int, kinds: tuple[int, ...]) -> list[int] | None:
        """An array that must have one item per token (their types, their scores)."""
        where = self.arrays.get(key)
        if where is None:
            if key in self.metadata:
                raise _BadFile(f"{key} is not an array")
            return None
        kind, start, length = where
        if kind not in kinds:
            allowed = " or ".join(_TYPE_NAMES[k] for k in kinds)
            raise _BadFile(f"{key} holds {_TYPE_NAMES.get(kind, kind)} values, not {allowed}")
        if length != count:
            raise _BadFile(
                f"{key} has {length} items for {count} tokens; the vocabulary arrays must be "
                "the same length"
            )
        if key != _TOKEN_TYPES:
            return None
        values = array.array("i", self.buf[start : start + 4 * length])
        if sys.byteorder == "big":
            values.byteswap()
        return values.tolist()

    def _token(self, token_id: MetadataValue | None) -> str | None:
        index = _as_int(token_id)
        where = self.string_arrays.get("tokenizer.ggml.tokens")
        if index is None or where is None or not 0 <= index < where[1]:
            return None
        pos = _skip_strings(self.buf, where[0], index, self.size, "the token list")
        return _strings(self.buf, pos, 1)[0]

    def _vocab_size(self, tensors: tuple[TensorInfo, ...]) -> int | None:
        where = self.string_arrays.get("tokenizer.ggml.tokens")
        if where is not None:
            return where[1]
        embd = next((t for t in tensors if t.name == "token_embd.weight"), None)
        return embd.shape[-1] if embd is not None and len(embd.shape) == 2 else None


def _raw_strings(buf: mmap.mmap, pos: int, count: int) -> list[bytes]:
    """The strings of an array whose bounds were already checked, as bytes."""
    unpack = _U64.unpack_from
    out = []
    for _ in range(count):
        (length,) = unpack(buf, pos)
        pos += 8
        out.append(buf[pos : pos + length])
        pos += length
    return out


def _check_byte_tokens(ids: Mapping[bytes, int]) -> None:
    """A SentencePiece vocabulary spells bytes it has no token for with <0xXX> tokens;
    llama.cpp stops the process when one it needs is missing."""
    for byte in range(256):
        if f"<0x{byte:02X}>".encode() not in ids and bytes([byte]) not in ids:
            raise _BadFile(
                f"the SentencePiece vocabulary has no token for the byte 0x{byte:02X} "
                f"(<0x{byte:02X}>); llama.cpp stops the process on text that needs it"
            )


def _check_hyperparameters(meta: Mapping[str, MetadataValue], arch: str) -> None:
    """Refuse the hyperparameters llama.cpp asserts on (it stops the process) or that would
    make it compute nonsense: expert counts, the RoPE scaling type, non-finite numbers."""

    def count(suffix: str) -> int:
        value = meta.get(f"{arch}.{suffix}", 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _BadFile(f"{arch}.{suffix} is {value!r}, not a count")
        return value

    experts, used = count("expert_count"), count("expert_used_count")
    groups, groups_used = count("expert_group_count"), count("expert_group_used_count")
    if experts > _MAX_EXPERTS:
        raise _BadFile(f"{arch}.expert_count is {experts} (llama.cpp allows {_MAX_EXPERTS})")
    if used > experts or (experts > 0) != (used > 0):
        raise _BadFile(
            f"{arch}.expert_used_count is {used} for {experts} experts (it must be between 1 "
            "and the expert count, or 0 without experts)"
        )
    if groups and not (groups < experts and experts % groups == 0 and 0 < groups_used < groups):
        raise _BadFile(
            f"{arch}.expert_group_count {groups} (with {groups_used} used) does not divide "
            f"{experts} experts into groups"
        )
    if meta.get(f"{arch}.context_length") == 0:
        raise _BadFile(f"{arch}.context_length is 0")
    scaling = meta.get(f"{arch}.rope.scaling.type")
    if scaling is not None and scaling not in _ROPE_SCALING_TYPES:
        raise _BadFile(
            f"{arch}.rope.scaling.type is {scaling!r} (llama.cpp knows "
            f"{', '.join(_ROPE_SCALING_TYPES)})"
        )
    for key, value in meta.items():
        if not key.startswith(f"{arch}."):
            continue
        numbers = value if isinstance(value, tuple) else (value,)
        for number in numbers:
            if isinstance(number, float) and not math.isfinite(number):
                raise _BadFile(f"{key} is {number}, not a finite number")
            if "epsilon" in key and isinstance(number, int | float) and number < 0:
                raise _BadFile(f"{key} is {number}; an epsilon cannot be negative")


def _skip_strings(buf: mmap.mmap, pos: int, count: int, size: int, what: str) -> int:
    unpack = _U64.unpack_from
    try:
        for _ in range(count):
            pos += 8 + unpack(buf, pos)[0]
    except (struct.error, OverflowError):  # a length ran past the end of the file
        raise _truncated(what) from None
    if pos > size:
        raise _truncated(what)
    return int(pos)


def _strings(buf: mmap.mmap, pos: int, count: int) -> list[str]:
    out = []
    for _ in range(count):
        (length,) = _U64.unpack_from(buf, pos)
        out.append(buf[pos + 8 : pos + 8 + length].decode("utf-8", errors="replace"))
        pos += 8 + length
    return out


def _quant_sizes() -> dict[int, tuple[str, int, int]]:
    """ggml type id -> (name, block size, bytes per block), from the gguf package's table."""
    from gguf.constants import GGML_QUANT_SIZES

    return {int(t): (t.name, block, size) for t, (block, size) in GGML_QUANT_SIZES.items()}


def _quantization(file_type: int | None, tensors: tuple[TensorInfo, ...]) -> str:
    """The file type's name (Q4_K_M...), else the type holding most bytes of 2-D weights."""
    from gguf.constants import LlamaFileType

    if file_type is not None and file_type in LlamaFileType._value2member_map_:
        name = LlamaFileType(file_type).name
        if name != "GUESSED":
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
    weights: Counter[str] = Counter()
    for t in tensors:
        if len(t.shape) >= 2:
            weights[t.type_name] += t.n_bytes
    return weights.most_common(1)[0][0] if weights else "unknown"


def _as_int(value: MetadataValue | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _as_str(value: MetadataValue | None) -> str | None:
    return value if isinstance(value, str) else None


def _max_int(value: MetadataValue | None) -> int | None:
    if isinstance(value, tuple):
        ints = [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
        return max(ints, default=None)
    return _as_int(value)


def _per_layer(value: MetadataValue | None, blocks: int | None) -> tuple[int, ...]:
    """A per-layer count: arrays as stored, a scalar repeated for every block."""
    if isinstance(value, tuple):
        return tuple(int(v) for v in value if isinstance(v, int | float))
    single = _as_int(value)
    if single is None:
        return ()
    return (single,) * (blocks or 1)


def _pattern(value: MetadataValue | None) -> tuple[bool, ...] | int | None:
    if isinstance(value, tuple):
        return tuple(bool(v) for v in value)
    return _as_int(value)
