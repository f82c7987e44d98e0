"""hf.Xinference against a real xinference-local: register SmolLM2, launch, chat, terminate."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import homefire as hf
from homefire.progress import Progress
from xinference_support import smollm2_family

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def launched(
    xinference_url: str, smollm2_path: Path
) -> Iterator[tuple[hf.Xinference, list[Progress]]]:
    llm = hf.Xinference(base_url=xinference_url, context_window=1024)
    llm.register_model(smollm2_family(smollm2_path))
    steps: list[Progress] = []
    uid = llm.launch(
        "smollm2-homefire",
        model_uid="smol",
        model_format="ggufv2",
        model_size_in_billions="0_135",
        quantization="Q4_1",
        engine_options={"n_parallel": 1},
        progress=steps.append,
        timeout=180,
    )
    assert uid == "smol"
    yield llm, steps
    with contextlib.suppress(hf.ModelNotFoundError):
        llm.terminate("smol")
    llm.close()


def test_launch_applies_the_context_window_and_lists_the_model(
    launched: tuple[hf.Xinference, list[Progress]],
) -> None:
    llm, _ = launched
    [info] = [m for m in llm.models() if m.id == "smol"]
    assert info.loaded
    assert info.context_length == 1024
    assert info.max_context_length == 8192
    assert info.quantization == "Q4_1"
    assert "chat" in info.capabilities
    assert llm.metadata.context_window == 1024
    # the server really runs with n_ctx=1024 (the family allows 8192): a longer prompt fails
    with pytest.raises(hf.APIStatusError, match="n_ctx=1024"):
        llm.chat("word " * 1500, max_tokens=4)


def test_chat_and_stream_through_homefire(launched: tuple[hf.Xinference, list[Progress]]) -> None:
    llm, _ = launched
    question = "What is the capital of France? Answer in one sentence."
    answer = llm.chat(question, temperature=0.0, max_tokens=32)
    assert answer.text.strip() and answer.finish_reason in ("stop", "length")
    pieces = list(llm.stream_chat(question, temperature=0.0, max_tokens=32))
    assert pieces[-1].finish_reason in ("stop", "length")
    assert "".join(p.delta or "" for p in pieces) == pieces[-1].text
    assert pieces[-1].text.strip()


async def test_async_chat_is_real(launched: tuple[hf.Xinference, list[Progress]]) -> None:
    llm, _ = launched
    answer = await llm.achat("Say hello.", max_tokens=8)
    assert answer.text
    pieces = [p async for p in llm.astream_chat("Say hello.", max_tokens=8)]
    assert pieces[-1].finish_reason is not None


def test_per_call_max_tokens_reaches_the_model(
    launched: tuple[hf.Xinference, list[Progress]],
) -> None:
    llm, _ = launched
    answer = llm.chat("Write a long story about a dragon.", max_tokens=3)
    assert answer.finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens <= 3


def test_nodes_lists_every_node(launched: tuple[hf.Xinference, list[Progress]]) -> None:
    llm, _ = launched
    nodes = llm.nodes()
    assert {n.node_type for n in nodes} >= {"Supervisor", "Worker"}
    [worker] = [n for n in nodes if n.is_worker]
    assert llm.describe("smol").nodes == [worker.address]


def test_unknown_uid_is_model_not_found(launched: tuple[hf.Xinference, list[Progress]]) -> None:
    llm, _ = launched
    with pytest.raises(hf.ModelNotFoundError):
        llm.describe("no-such-uid")
    with pytest.raises(hf.ModelNotFoundError):
        hf.Xinference("no-such-uid", base_url=llm.base_url).chat("hi")


def test_load_and_unload_are_launch_and_terminate(
    launched: tuple[hf.Xinference, list[Progress]],
) -> None:
    llm = hf.Xinference(base_url=launched[0].base_url)
    info = llm.load("smollm2-homefire", context_length=512)
    assert info.context_length == 512
    llm.unload(info.id)
    assert info.id not in {m.id for m in llm.models()}
    with pytest.raises(hf.ModelNotFoundError):
        llm.terminate(info.id)
