"""Xinference's management dialect: running models, launch, instances, progress, cluster.

Pure functions, no I/O. Inference is OpenAI-compatible (see `openai`); what differs is the
lifecycle: a model is *launched* under a uid (possibly on another node of the cluster) and
only running models are listed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homefire.errors import ProtocolError
from homefire.progress import Progress
from homefire.types import ModelInfo


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One node of an Xinference cluster: `node_type` is "Supervisor" or "Worker", `address`
    its `host:port` (a worker's is what `ModelInfo.nodes` names); the sizes are bytes, None
    where the node does not say."""

    node_type: str
    address: str
    gpu_count: int = 0
    gpu_vram_total: int = 0
    gpu_vram_available: int | None = None
    cpu_count: int | None = None
    memory_total: int | None = None
    memory_available: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_worker(self) -> bool:
        return self.node_type.lower() == "worker"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _model(uid: str, item: Mapping[str, Any], nodes: list[str]) -> ModelInfo:
    ability = item.get("model_ability")
    quant = item.get("quantization")
    return ModelInfo(
        id=uid,
        loaded=True,
        context_length=_count(item.get("context_length")),
        max_context_length=_count(item.get("context_length")),
        quantization=quant if isinstance(quant, str) else None,
        capabilities=[a for a in ability if isinstance(a, str)]
        if isinstance(ability, list)
        else [],
        nodes=nodes,
        raw=item,
    )


def parse_models(body: Any, placements: Mapping[str, list[str]] | None = None) -> list[ModelInfo]:
    """`GET /v1/models`: the running models only, each under its uid, with the workers
    `placements` (see `parse_placements`) says serve it."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise ProtocolError("Xinference's /v1/models answer has no `data` list")
    out = []
    for item in data:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise ProtocolError(f"malformed model entry from Xinference: {item!r}")
        uid = item["id"]
        out.append(_model(uid, item, list((placements or {}).get(uid, []))))
    return out


def parse_describe(uid: str, body: Any, nodes: list[str] | None = None) -> ModelInfo:
    """`GET /v1/models/{uid}`: one running model's description, served by `nodes`."""
    if not isinstance(body, Mapping):
        raise ProtocolError("Xinference's model description is not a JSON object")
    return _model(uid, body, list(nodes or []))


def parse_placements(body: Any) -> dict[str, list[str]]:
    """`GET /v1/models/instances`: each model uid and the workers its replicas run on.

    A worker is named by its `host:port` as the cluster info lists it (the model's own
    `address` in `/v1/models` is the port of its process on that worker, not the worker).
    """
    if not isinstance(body, list):
        raise ProtocolError("Xinference's instances answer is not a list")
    placements: dict[str, list[str]] = {}
    for item in body:
        if not isinstance(item, Mapping) or not isinstance(item.get("model_uid"), str):
            raise ProtocolError(f"malformed model instance from Xinference: {item!r}")
        workers = placements.setdefault(item["model_uid"], [])
        replicas = item.get("replica_statuses")
        for replica in replicas if isinstance(replicas, list) else []:
            worker = replica.get("worker_address") if isinstance(replica, Mapping) else None
            if isinstance(worker, str) and worker not in workers:
                workers.append(worker)
    return placements


def build_launch_body(
    model_name: str,
    *,
    model_uid: str | None = None,
    model_engine: str = "llama.cpp",
    model_format: str | None = None,
    model_size_in_billions: int | str | None = None,
    quantization: str | None = None,
    n_gpu: int | str | None = "auto",
    replica: int = 1,
    n_ctx: int | None = None,
    worker_ip: str | None = None,
    gpu_idx: list[int] | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`POST /v1/models`; `engine_options` pass through as engine kwargs (e.g. n_parallel).

    `worker_ip` pins the model to one worker and `gpu_idx` to GPUs there; left out, the
    supervisor places each replica on whichever worker has room.
    """
    body: dict[str, Any] = {
        "model_name": model_name,
        "model_type": "LLM",
        "model_engine": model_engine,
        "replica": replica,
    }
    optional = {
        "model_uid": model_uid,
        "model_format": model_format,
        "model_size_in_billions": model_size_in_billions,
        "quantization": quantization,
        "n_gpu": n_gpu,
        "n_ctx": n_ctx,
        "worker_ip": worker_ip,
        "gpu_idx": gpu_idx,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    body.update(engine_options or {})
    return body


def parse_launch(body: Any) -> str:
    if not isinstance(body, Mapping) or not isinstance(body.get("model_uid"), str):
        raise ProtocolError(f"Xinference's launch answer has no model_uid: {body!r}")
    return str(body["model_uid"])


def parse_instance_status(body: Any) -> str | None:
    """`GET /v1/models/instances?model_uid=x` summed up over every instance listed.

    ERROR when any failed, READY only when all are, else the first other state (CREATING,
    TERMINATING); None when the uid has no instance at all.
    """
    if not isinstance(body, list):
        raise ProtocolError("Xinference's instances answer is not a list")
    statuses = [
        str(item["status"])
        for item in body
        if isinstance(item, Mapping) and isinstance(item.get("status"), str)
    ]
    if not statuses:
        return None
    if "ERROR" in statuses:
        return "ERROR"
    return next((s for s in statuses if s != "READY"), "READY")


def parse_progress(body: Any) -> Progress:
    """`GET /v1/models/{uid}/progress`: a 0..1 fraction and the stage name."""
    if not isinstance(body, Mapping):
        raise ProtocolError("Xinference's progress answer is not a JSON object")
    value = body.get("progress")
    fraction = float(value) if isinstance(value, int | float) else None
    stage = body.get("stage")
    return Progress(
        status=stage if isinstance(stage, str) else "launching",
        completed=fraction,
        total=1.0 if fraction is not None else None,
        done=fraction is not None and fraction >= 1.0,
    )


def parse_cluster_info(body: Any) -> list[NodeInfo]:
    """`GET /v1/cluster/info[?detailed=true]`: every node, supervisor first; never assume there
    is one worker. Memory and CPU figures come only with `detailed=true`."""
    if not isinstance(body, list):
        raise ProtocolError("Xinference's cluster info is not a list")
    nodes = []
    for item in body:
        if not isinstance(item, Mapping):
            raise ProtocolError(f"malformed cluster node from Xinference: {item!r}")
        nodes.append(
            NodeInfo(
                node_type=str(item.get("node_type", "unknown")),
                address=str(item.get("ip_address", "")),
                gpu_count=_count(item.get("gpu_count")) or 0,
                gpu_vram_total=_count(item.get("gpu_vram_total")) or 0,
                gpu_vram_available=_count(item.get("gpu_vram_available")),
                cpu_count=_count(item.get("cpu_count")),
                memory_total=_count(item.get("mem_total")),
                memory_available=_count(item.get("mem_available")),
                raw=item,
            )
        )
    return nodes


# The supervisor's words when a node it forwards to does not answer: a refused connection to
# the node, or the node closing it (xoscar's `ServerClosed`).
_UNREACHABLE = (
    re.compile(r"Connect call failed \('([^']+)', (\d+)\)"),
    re.compile(r"Remote server (\S+:\d+) closed"),
)


def unreachable_node(message: str) -> str | None:
    """The `host:port` of the cluster node an error message says does not answer, if any."""
    for pattern in _UNREACHABLE:
        found = pattern.search(message)
        if found:
            return ":".join(found.groups())
    return None


def build_register_body(family: Mapping[str, Any], *, persist: bool = False) -> dict[str, Any]:
    """`POST /v1/model_registrations/LLM`: the model family travels as a JSON *string*."""
    return {"model": json.dumps(dict(family)), "persist": persist}
