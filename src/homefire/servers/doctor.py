"""Diagnose an LLM endpoint step by step: the troubleshooting guide as code.

Checks run in order (reachable, which server, ready, auth, model present, loaded, context,
a test generation) and stop at the first failure, since later checks depend on earlier
ones. Every failure carries its cause and the fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NoReturn

from homefire._bridge import run_sync
from homefire.errors import (
    AuthenticationError,
    HomefireError,
    InvalidParameterError,
    ServerNotRunningError,
)
from homefire.llm.base import LLM
from homefire.protocols.fingerprint import Identity, ServerKind
from homefire.providers import _registry
from homefire.servers.config import Endpoint, config_path, from_config, load_config
from homefire.servers.specs import build, parse_spec
from homefire.types import ModelInfo

Status = Literal["ok", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    cause: str = ""
    fix: str = ""


class _Stop(Exception):
    """A check failed; the ones after it cannot run."""


@dataclass
class _Target:
    spec: str
    endpoint: Endpoint
    expected: str | None


def _target(spec: str, model: str | None, api_key: str | None) -> _Target:
    endpoint = parse_spec(spec)
    expected = endpoint.provider if endpoint is not None else None
    if endpoint is None and not spec.lower().startswith(("http://", "https://")):
        path = config_path()
        entry = load_config(path).get(spec)
        if entry is None:
            raise InvalidParameterError(
                "target",
                f"{spec!r} is neither a URL, a provider spec (ollama:MODEL, "
                f"lmstudio://host:port/MODEL) nor an endpoint named in {path}",
            )
        endpoint = from_config(spec, entry, path)
        expected = endpoint.provider
    if endpoint is None:
        endpoint = Endpoint("", spec.rstrip("/"))
    row = _registry.find(endpoint.provider) if endpoint.provider else None
    if endpoint.base_url is None and row is not None and row.default_base_url is not None:
        endpoint = Endpoint(
            endpoint.provider, row.default_base_url, endpoint.model, endpoint.options
        )
    if endpoint.base_url is None:
        raise InvalidParameterError(
            "target", f"{spec!r} runs in-process; doctor checks servers (pass a URL or spec)"
        )
    options = dict(endpoint.options)
    if api_key is not None:
        options["api_key"] = api_key
    return _Target(
        spec,
        Endpoint(endpoint.provider, endpoint.base_url, model or endpoint.model, options),
        expected,
    )


def _same(expected: str, found: ServerKind) -> bool:
    """Whether the server found is one the spec's provider can talk to."""
    if expected == "openai":
        return True  # every server here speaks the OpenAI-compatible API
    row = _registry.find(expected)
    return row is not None and str(found) in row.kinds


def _aliases(name: str) -> set[str]:
    return {name, name if ":" in name else f"{name}:latest"}


class Doctor:
    """Runs the checks against one endpoint; `run()` returns them in order."""

    def __init__(
        self,
        spec: str,
        *,
        model: str | None = None,
        context_length: int | None = None,
        api_key: str | None = None,
        probe_timeout: float = 2.0,
        report: Callable[[Check], None] | None = None,
    ) -> None:
        self.target = _target(spec, model, api_key)
        self.context_length = context_length
        self.probe_timeout = probe_timeout
        self.checks: list[Check] = []
        self._report = report

    def _add(self, check: Check) -> None:
        self.checks.append(check)
        if self._report is not None:
            self._report(check)

    def _fail(self, name: str, detail: str, *, cause: str, fix: str) -> NoReturn:
        self._add(Check(name, "fail", detail, cause=cause, fix=fix))
        raise _Stop

    def run(self) -> list[Check]:
        llm: LLM | None = None
        try:
            identity = self._reachable_and_which()
            endpoint = self.target.endpoint
            provider = self.target.expected or _registry.for_kind(identity.kind).scheme
            llm = build(Endpoint(provider, self._url, endpoint.model, endpoint.options))
            self._ready(llm)
            models = self._auth(llm)
            info = self._model(models)
            if info is not None:
                self._loaded(info)
                self._context(info)
            self._generate(llm)
        except _Stop:
            pass
        finally:
            if llm is not None:
                llm.close()
        return self.checks

    @property
    def _url(self) -> str:
        assert self.target.endpoint.base_url is not None
        return self.target.endpoint.base_url

    # --- the checks -------------------------------------------------------------------------

    def _reachable_and_which(self) -> Identity:
        from homefire.servers.discover import adiscover, aidentify

        url = self._url
        try:
            identity = run_sync(aidentify(url, probe_timeout=self.probe_timeout))
        except ServerNotRunningError:
            host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
            nearby = run_sync(adiscover([host], probe_timeout=0.5, with_models=False))
            elsewhere = ", ".join(f"{s.label} at {s.base_url}" for s in nearby)
            expected = self.target.expected
            row = _registry.find(expected) if expected else None
            start = row.start if row is not None else "start the server"
            fix = (
                f"it may be on another port: found {elsewhere}; point the spec there"
                if elsewhere
                else f"{start}, or check the host and port (`homefire discover` lists servers)"
            )
            self._fail(
                "reachable",
                f"nothing listens at {url}",
                cause="the connection was refused: no server runs on that host and port",
                fix=fix,
            )
        except HomefireError as exc:
            self._fail(
                "reachable",
                f"{url} did not answer",
                cause=str(exc),
                fix="check the host, the port and any firewall in between",
            )
        self._add(Check("reachable", "ok", f"{url} answers"))
        if identity is None:
            self._fail(
                "server",
                "the answers do not look like any LLM server homefire knows",
                cause=f"{url} serves something else (no /v1/models, no known fingerprint)",
                fix="check the port; `homefire discover` lists the LLM servers running here",
            )
        expected = self.target.expected
        if expected and not _same(expected, identity.kind):
            row = _registry.find(expected)
            wanted = row.label if row is not None else expected
            port = row.port if row is not None else None
            hint = f" ({wanted} listens on {port} by default)" if port else ""
            self._fail(
                "server",
                f"{identity.label} answers, not {wanted}",
                cause=f"the spec names {expected!r} but another server listens at {url}",
                fix=f"use {_registry.for_kind(identity.kind).scheme}:// in the spec, or the "
                f"port of the server you meant{hint}",
            )
        version = f" {identity.version}" if identity.version else ""
        self._add(Check("server", "ok", f"{identity.label}{version}"))
        return identity

    def _ready(self, llm: LLM) -> None:
        try:
            ready = llm.health()
        except AuthenticationError:
            ready = True  # the auth check below says what to do
        except HomefireError as exc:
            self._fail(
                "ready",
                "the server is not ready",
                cause=str(exc),
                fix="look at the server's log; restart it if it is stuck",
            )
        if not ready:
            self._fail(
                "ready",
                "the server is up but still starting or loading",
                cause="its readiness route answers 503 (busy / loading)",
                fix="wait a moment and run doctor again (or call wait_until_ready())",
            )
        self._add(Check("ready", "ok", "ready"))

    def _auth(self, llm: LLM) -> list[ModelInfo]:
        sent = bool(self.target.endpoint.options.get("api_key"))
        try:
            models = llm.models()
        except AuthenticationError as exc:
            which = "the right key" if sent else "the server's key"
            self._fail(
                "auth",
                "the server refused the API key" if sent else "the server requires an API key",
                cause=str(exc),
                fix=f"pass {which} with --api-key (or api_key=, or api_key_env in the config file)",
            )
        self._add(Check("auth", "ok", "key accepted" if sent else "no key needed"))
        return models

    def _model(self, models: list[ModelInfo]) -> ModelInfo | None:
        model = self.target.endpoint.model
        if model is None:
            names = ", ".join(m.id for m in models[:5]) or "none"
            self._add(Check("model", "skip", f"no model named (the server has: {names})"))
            return None
        info = next((m for m in models if m.id in _aliases(model)), None)
        if info is None:
            names = ", ".join(m.id for m in models[:8]) or "none"
            self._fail(
                "model",
                f"{model!r} is not on the server",
                cause=f"the server has: {names}",
                fix=f"pick one of those, or get it with `homefire pull {self._endpoint_spec()} "
                f"{model}` (Xinference: `homefire load` launches a registered model)",
            )
        self._add(Check("model", "ok", f"{model} is present"))
        return info

    def _loaded(self, info: ModelInfo) -> None:
        if not info.loaded:
            context = f" -c {self.context_length}" if self.context_length else ""
            self._fail(
                "loaded",
                f"{info.id} is not loaded",
                cause="the model is downloaded but not in memory; the first request would "
                "load it (slowly) with the server's default settings",
                fix=f"homefire load {self._endpoint_spec()} {info.id}{context}",
            )
        self._add(Check("loaded", "ok", f"{info.id} is loaded"))

    def _context(self, info: ModelInfo) -> None:
        wanted = self.context_length
        actual = info.context_length
        if wanted is None:
            self._add(Check("context", "ok", f"{actual or 'unknown'} tokens in effect"))
            return
        if actual != wanted:
            spec = self._endpoint_spec()
            self._fail(
                "context",
                f"{actual or 'unknown'} tokens in effect, {wanted} requested",
                cause="the model was loaded with another context length",
                fix=f"homefire unload {spec} {info.id} && "
                f"homefire load {spec} {info.id} -c {wanted}",
            )
        self._add(Check("context", "ok", f"{actual} tokens in effect, as requested"))

    def _generate(self, llm: LLM) -> None:
        if self.target.endpoint.model is None and not isinstance(getattr(llm, "model", None), str):
            self._add(Check("generate", "skip", "no model named to test (pass --model)"))
            return
        start = time.perf_counter()
        try:
            answer = llm.chat("Reply with the word OK.", max_tokens=8, temperature=0.0)
        except HomefireError as exc:
            self._fail(
                "generate",
                "the test generation failed",
                cause=str(exc),
                fix="read the cause above; the server's log has details",
            )
        elapsed = (time.perf_counter() - start) * 1000
        speed = ""
        if answer.timings is not None and answer.timings.tokens_per_second:
            speed = f", {answer.timings.tokens_per_second:.1f} tokens/s"
        self._add(
            Check("generate", "ok", f"{answer.text.strip()[:40]!r} in {elapsed:.0f} ms{speed}")
        )

    def _endpoint_spec(self) -> str:
        spec = self.target.spec
        model = self.target.endpoint.model
        if model and spec.endswith("/" + model):
            return spec[: -len(model) - 1]
        if model and spec.endswith(":" + model):
            return spec[: -len(model)]
        return spec
