"""Tiny random-weight GGUF models that llama.cpp really loads and runs, written in milliseconds.

They carry a real byte-level BPE vocabulary (GPT-2 style: every byte is a token, plus a few
merges and ChatML control tokens), so both in-process engines tokenize, decode and generate with
them. The weights are random: the text they produce is noise, but every buffer llama.cpp
allocates for them is real, which is what tests of loading, memory and templates need.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter, LlamaFileType, TokenType
from gguf.gguf_writer import GGUFValue
from gguf.quants import quantize

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
_MERGE_PAIRS = (
    ("Ġ", "t"), ("h", "e"), ("i", "n"), ("e", "r"), ("a", "n"), ("Ġ", "a"), ("o", "n"),
    ("r", "e"), ("Ġ", "s"), ("e", "n"), ("Ġ", "w"), ("o", "r"), ("Ġt", "he"), ("a", "t"),
)  # fmt: skip
_WEIGHT_TYPES = {
    "F32": (GGMLQuantizationType.F32, LlamaFileType.ALL_F32),
    "F16": (GGMLQuantizationType.F16, LlamaFileType.MOSTLY_F16),
    "Q8_0": (GGMLQuantizationType.Q8_0, LlamaFileType.MOSTLY_Q8_0),
    "Q4_0": (GGMLQuantizationType.Q4_0, LlamaFileType.MOSTLY_Q4_0),
}
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def value(data: object, kind: GGUFValueType, item: GGUFValueType | None = None) -> GGUFValue:
    """A metadata value for `write_tiny_model(metadata=...)`; arrays name their `item` type."""
    return GGUFValue(data, kind, item)


def byte_tokens() -> list[str]:
    """GPT-2's printable stand-in for each of the 256 bytes, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    shifted = 0
    out = []
    for byte in range(256):
        if byte in printable:
            out.append(chr(byte))
        else:
            out.append(chr(256 + shifted))
            shifted += 1
    return out


def tiny_vocab(vocab_size: int) -> tuple[list[str], list[int], list[str]]:
    """Tokens, their types and merges: bytes, merged pairs, control tokens, then padding."""
    tokens = byte_tokens()
    merges = []
    for left, right in _MERGE_PAIRS:
        merges.append(f"{left} {right}")
        tokens.append(left + right)
    types = [int(TokenType.NORMAL)] * len(tokens)
    tokens += SPECIAL_TOKENS
    types += [int(TokenType.CONTROL)] * len(SPECIAL_TOKENS)
    if vocab_size < len(tokens):
        raise ValueError(f"vocab_size must be at least {len(tokens)}")
    for i in range(vocab_size - len(tokens)):
        tokens.append(f"<|pad_{i}|>")
        types.append(int(TokenType.UNUSED))
    return tokens, types, merges


def write_tiny_model(
    path: str | Path,
    *,
    arch: str = "llama",
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_head_kv: int = 2,
    n_ff: int = 128,
    vocab_size: int = 320,
    context_length: int = 256,
    tied_output: bool = True,
    sliding_window: int | None = None,
    chat_template: str | None = CHATML_TEMPLATE,
    weight_type: str = "F32",
    head_dim: int | None = None,
    name: str = "tiny",
    seed: int = 0,
    metadata: Mapping[str, GGUFValue | None] | None = None,
) -> Path:
    """Write a tiny `llama` (or `gemma2`, sliding-window) model; return its path.

    `weight_type` applies to the 2-D weight matrices (F32, F16, Q8_0, Q4_0); norms stay F32.
    For gemma2, `sliding_window` sets the window of its even layers (llama.cpp's rule) and the
    output is always tied to the token embeddings. `metadata` replaces entries after they are
    made (None removes one): the way to write a damaged or hostile file.
    """
    if arch not in ("llama", "gemma2"):
        raise ValueError(f"unsupported tiny architecture {arch!r}")
    path = Path(path)
    rng = np.random.default_rng(seed)
    head_dim = head_dim or n_embd // n_head
    qtype, file_type = _WEIGHT_TYPES[weight_type]
    tokens, types, merges = tiny_vocab(vocab_size)

    writer = GGUFWriter(path, arch)
    writer.add_name(name)
    writer.add_context_length(context_length)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(file_type)
    writer.add_vocab_size(vocab_size)
    if arch == "gemma2":
        writer.add_sliding_window(sliding_window or context_length)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|im_start|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    if chat_template is not None:
        writer.add_chat_template(chat_template)

    def matrix(name: str, rows: int, cols: int) -> None:
        data = rng.normal(0.0, 0.02, size=(rows, cols)).astype(np.float32)
        if qtype == GGMLQuantizationType.F32:
            writer.add_tensor(name, data)
        elif qtype == GGMLQuantizationType.F16:
            writer.add_tensor(name, data.astype(np.float16))
        else:
            writer.add_tensor(name, quantize(data, qtype), raw_dtype=qtype)

    def norm(name: str) -> None:
        writer.add_tensor(name, np.ones(n_embd, dtype=np.float32))

    matrix("token_embd.weight", vocab_size, n_embd)
    norm("output_norm.weight")
    if not tied_output and arch == "llama":
        matrix("output.weight", vocab_size, n_embd)
    for i in range(n_layer):
        norm(f"blk.{i}.attn_norm.weight")
        matrix(f"blk.{i}.attn_q.weight", n_head * head_dim, n_embd)
        matrix(f"blk.{i}.attn_k.weight", n_head_kv * head_dim, n_embd)
        matrix(f"blk.{i}.attn_v.weight", n_head_kv * head_dim, n_embd)
        matrix(f"blk.{i}.attn_output.weight", n_embd, n_head * head_dim)
        norm(f"blk.{i}.ffn_norm.weight")
        matrix(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        matrix(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        matrix(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
        if arch == "gemma2":
            norm(f"blk.{i}.post_attention_norm.weight")
            norm(f"blk.{i}.post_ffw_norm.weight")

    for key, value in (metadata or {}).items():
        if value is None:
            writer.kv_data[0].pop(key, None)
        else:
            writer.kv_data[0][key] = value
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
