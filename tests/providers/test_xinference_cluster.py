"""hf.Xinference against a real cluster: a supervisor and two workers, each on its own
loopback address. Nodes, launching on a named worker and where the supervisor chooses,
which worker serves a model, terminating, and a worker killed while it holds a model.

The tests share one cluster and run in file order: the last one kills a worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import homefire as hf
from xinference_support import XinferenceCluster, smollm2_family

pytestmark = [pytest.mark.integration, pytest.mark.slow]

B, C = "127.0.0.2", "127.0.0.3"
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "enum": ["Paris", "Rome", "Oslo"]}},
    "required": ["city"],
    "additionalProperties": False,
}
FORGET_TIMEOUT = 120.0  # the supervisor drops a dead worker after ~5 failed checks 5 s apart


@pytest.fixture(scope="module")
def llm(xinference_cluster: XinferenceCluster, smollm2_path: Path) -> Iterator[hf.Xinference]:
    client = hf.Xinference(base_url=xinference_cluster.url, context_window=512)
    client.register_model(smollm2_family(smollm2_path))
    yield client
    client.close()


def launch(llm: hf.Xinference, uid: str, **where: Any) -> str:
    return llm.launch(
        "smollm2-homefire",
        model_uid=uid,
        model_format="ggufv2",
        model_size_in_billions="0_135",
        quantization="Q4_1",
        engine_options={"n_parallel": 1},
        timeout=240,
        **where,
    )


def city(model: hf.LLM) -> Any:
    """A chat constrained to one of three cities, parsed."""
    answer = model.chat("What is the capital of France?", json_schema=CITY, max_tokens=24)
    return json.loads(answer.text)["city"]


def replica(llm: hf.Xinference, uid: str) -> hf.Xinference:
    return hf.Xinference(uid, base_url=llm.base_url)


async def test_nodes_are_the_supervisor_and_a_worker_on_each_address(
    llm: hf.Xinference, xinference_cluster: XinferenceCluster
) -> None:
    nodes = llm.nodes()
    assert [(n.node_type, n.address) for n in nodes if not n.is_worker] == [
        ("Supervisor", xinference_cluster.supervisor)
    ]
    workers = [n for n in nodes if n.is_worker]
    assert sorted(n.address for n in workers) == sorted(xinference_cluster.workers.values())
    for worker in workers:
        assert worker.node_type == "Worker" and worker.gpu_count >= 0
        assert worker.cpu_count is not None and worker.cpu_count > 0
        assert worker.memory_total is not None and worker.memory_total > 0
    assert [n.address for n in await llm.anodes()] == [n.address for n in nodes]


@pytest.mark.parametrize("host", [B, C])
def test_a_model_launched_on_a_named_worker_runs_there(
    llm: hf.Xinference, xinference_cluster: XinferenceCluster, host: str
) -> None:
    uid = launch(llm, f"on-{host}", worker_ip=host)
    assert llm.describe(uid).nodes == [xinference_cluster.workers[host]]
    assert city(replica(llm, uid)) in {"Paris", "Rome", "Oslo"}


async def test_the_supervisor_places_a_model_it_is_not_told_where_to(
    llm: hf.Xinference, xinference_cluster: XinferenceCluster
) -> None:
    uid = launch(llm, "placed")
    placed = await llm.adescribe(uid)
    assert len(placed.nodes) == 1 and placed.nodes[0] in xinference_cluster.workers.values()
    model = replica(llm, uid)
    answer = await model.achat("What is the capital of France?", json_schema=CITY, max_tokens=24)
    assert json.loads(answer.text)["city"] in {"Paris", "Rome", "Oslo"}
    pieces = [p async for p in model.astream_chat("Say hi.", max_tokens=4)]
    assert pieces[-1].finish_reason in ("stop", "length")
    await model.aclose()


def test_models_say_which_worker_serves_each(
    llm: hf.Xinference, xinference_cluster: XinferenceCluster
) -> None:
    where = {m.id: m.nodes for m in llm.models()}
    workers = xinference_cluster.workers
    assert where[f"on-{B}"] == [workers[B]] and where[f"on-{C}"] == [workers[C]]
    assert where["placed"] == llm.describe("placed").nodes


def test_every_node_listens_only_on_loopback(xinference_cluster: XinferenceCluster) -> None:
    """Each node's processes, models included, listen on its own address; the llama.cpp
    engine inside each model process also opens one listener on 127.0.0.1. Never 0.0.0.0."""
    listeners = xinference_cluster.listeners()
    assert set(listeners) == {"supervisor", f"worker-{B}", f"worker-{C}"}
    for name, addresses in listeners.items():
        host = "127.0.0.1" if name == "supervisor" else name.removeprefix("worker-")
        ips = {address.rsplit(":", 1)[0] for address in addresses}
        assert host in ips and ips <= {host, "127.0.0.1"}, (name, addresses)
    assert xinference_cluster.url.removeprefix("http://") in listeners["supervisor"]
    assert xinference_cluster.supervisor in listeners["supervisor"]
    for host in (B, C):
        assert xinference_cluster.workers[host] in listeners[f"worker-{host}"]


async def test_terminate_frees_the_model_on_its_worker(llm: hf.Xinference) -> None:
    await llm.aterminate("placed")
    assert "placed" not in {m.id for m in llm.models()}
    with pytest.raises(hf.ModelNotFoundError, match="launch"):
        llm.describe("placed")
    with pytest.raises(hf.ModelNotFoundError):
        llm.terminate("placed")


def test_a_killed_worker_fails_its_models_clearly_and_the_rest_keeps_answering(
    llm: hf.Xinference, xinference_cluster: XinferenceCluster
) -> None:
    lost_worker = xinference_cluster.workers[C]
    lost, survivor = replica(llm, f"on-{C}"), replica(llm, f"on-{B}")
    xinference_cluster.kill_worker(C)
    assert xinference_cluster.listeners()[f"worker-{C}"] == set()

    # until its health checks fail, the supervisor still lists the worker and its model
    for call in (
        lambda: lost.chat("hi", max_tokens=4),
        lambda: list(lost.stream_chat("hi", max_tokens=4)),
        lambda: llm.describe(f"on-{C}"),
        lambda: llm.terminate(f"on-{C}"),
    ):
        with pytest.raises(hf.WorkerLostError, match="Restart the worker") as info:
            call()
        assert info.value.worker == lost_worker and info.value.status == 500
    router = hf.Router([lost, survivor], strategy="fallback")
    assert city(survivor) in {"Paris", "Rome", "Oslo"}
    # the lost model's error comes before any answer, so a router passes the request on
    assert city(router) in {"Paris", "Rome", "Oslo"}
    assert [(s.failed, s.answered) for s in router.status()] == [(1, 0), (0, 1)]
    router.close()

    # then it forgets the worker and every model it held; the rest of the cluster answers on
    end = time.monotonic() + FORGET_TIMEOUT
    while lost_worker in {n.address for n in llm.nodes()}:
        assert time.monotonic() < end, f"the supervisor still lists {lost_worker}"
        time.sleep(1.0)
    assert {n.address for n in llm.nodes() if n.is_worker} == {xinference_cluster.workers[B]}
    assert {m.id: m.nodes for m in llm.models()} == {f"on-{B}": [xinference_cluster.workers[B]]}
    with pytest.raises(hf.ModelNotFoundError, match="worker left the cluster"):
        lost.chat("hi", max_tokens=4)
    assert city(survivor) in {"Paris", "Rome", "Oslo"}
    llm.terminate(f"on-{B}")
    assert llm.models() == []
    lost.close()
    survivor.close()
