"""Tell local LLM servers apart from the answers to a few public GET requests.

Servers imitate each other (LocalAI fakes Ollama's routes, llama.cpp answers `/api/tags`,
LM Studio answers every unknown route with 200), so a 200 proves nothing: each rule checks a
field only the real server sends, in an order where imitators are ruled out first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ServerKind(StrEnum):
    LMSTUDIO = "lmstudio"
    LOCALAI = "localai"
    XINFERENCE = "xinference"
    LLAMAFILE = "llamafile"
    LLAMACPP = "llamacpp"
    OLLAMA = "ollama"
    VLLM = "vllm"
    OPENAI = "openai"

    def __str__(self) -> str:
        return self.value


LABELS = {
    ServerKind.LMSTUDIO: "LM Studio",
    ServerKind.LOCALAI: "LocalAI",
    ServerKind.XINFERENCE: "Xinference",
    ServerKind.LLAMAFILE: "llamafile",
    ServerKind.LLAMACPP: "llama.cpp server",
    ServerKind.OLLAMA: "Ollama",
    ServerKind.VLLM: "vLLM",
    ServerKind.OPENAI: "OpenAI-compatible server",
}

# Every route the rules below read; probe them all at once.
PROBE_PATHS = (
    "/lmstudio-greeting",
    "/.well-known/localai.json",
    "/v1/cluster/auth",
    "/v1/models",
    "/props",
    "/health",
    "/api/version",
    "/",
)


@dataclass(frozen=True, slots=True)
class Probe:
    """One GET's answer: status, lower-cased headers and the body (parsed JSON when it was)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True, slots=True)
class Identity:
    kind: ServerKind
    needs_auth: bool = False
    version: str | None = None
    variant: str | None = None

    @property
    def label(self) -> str:
        extra = f" ({self.variant})" if self.variant else ""
        return f"{LABELS[self.kind]}{extra}"


def _json(probes: Mapping[str, Probe], path: str) -> Mapping[str, Any] | None:
    probe = probes.get(path)
    if probe is None or probe.status != 200 or not isinstance(probe.body, Mapping):
        return None
    return probe.body


def _owned_by(probes: Mapping[str, Probe]) -> set[str]:
    body = _json(probes, "/v1/models")
    data = body.get("data") if body else None
    if not isinstance(data, list):
        return set()
    return {str(m.get("owned_by")) for m in data if isinstance(m, Mapping) and "owned_by" in m}


def _server_header(probes: Mapping[str, Probe]) -> str:
    for probe in probes.values():
        value = probe.headers.get("server", "")
        if value:
            return value.lower()
    return ""


def _needs_auth(probes: Mapping[str, Probe]) -> bool:
    return any(p.status in (401, 403) for p in probes.values())


def identify(probes: Mapping[str, Probe]) -> Identity | None:
    """The server behind these answers (keys are PROBE_PATHS), or None if none looks like one."""
    auth = _needs_auth(probes)
    if (greeting := _json(probes, "/lmstudio-greeting")) and greeting.get("lmstudio") is True:
        return Identity(ServerKind.LMSTUDIO, needs_auth=auth)
    well_known = _json(probes, "/.well-known/localai.json")
    if well_known and isinstance(well_known.get("endpoints"), Mapping):
        version = well_known.get("version")
        return Identity(
            ServerKind.LOCALAI,
            needs_auth=auth,
            version=version if isinstance(version, str) else None,
        )
    if (cluster := _json(probes, "/v1/cluster/auth")) and isinstance(cluster.get("auth"), bool):
        return Identity(ServerKind.XINFERENCE, needs_auth=cluster["auth"] or auth)
    server = _server_header(probes)
    owners = _owned_by(probes)
    if server.startswith("llamafile") or "llamafile" in owners:
        return Identity(ServerKind.LLAMAFILE, needs_auth=auth, variant="v2")
    if "llama.cpp" in server or "llamacpp" in owners:
        return _llamacpp(probes, auth)
    ollama = _json(probes, "/api/version")
    root = probes.get("/")
    if (
        ollama
        and isinstance(ollama.get("version"), str)
        and root is not None
        and isinstance(root.body, str)
        and "Ollama is running" in root.body
    ):
        return Identity(ServerKind.OLLAMA, needs_auth=auth, version=ollama["version"])
    models = _json(probes, "/v1/models")
    data = models.get("data") if models else None
    if "vllm" in owners or (
        isinstance(data, list)
        and any(isinstance(m, Mapping) and "max_model_len" in m for m in data)
    ):
        return Identity(ServerKind.VLLM, needs_auth=auth)
    if isinstance(data, list):
        return Identity(ServerKind.OPENAI, needs_auth=auth)
    if auth:
        return Identity(ServerKind.OPENAI, needs_auth=True)
    return None


def _llamacpp(probes: Mapping[str, Probe], auth: bool) -> Identity:
    props = _json(probes, "/props") or {}
    health = _json(probes, "/health") or {}
    if "user_name" in props or "assistant_name" in props or "slots_idle" in health:
        return Identity(ServerKind.LLAMAFILE, needs_auth=auth, variant="classic")
    if props.get("role") == "router":
        return Identity(ServerKind.LLAMACPP, needs_auth=auth, variant="router")
    build = props.get("build_info")
    return Identity(
        ServerKind.LLAMACPP, needs_auth=auth, version=build if isinstance(build, str) else None
    )
