"""Diagnose an LLM endpoint step by step: the troubleshooting guide as code.

Checks run in order (reachable, which server, ready, auth, model present, loaded, context,
a test generation) and stop at the first failure, since later checks depend on earlier
ones. Every failure carries its cause and the fix; where the fix is something to run, it is
a `homefire` command that works on that kind of server (`Check.commands`), written with the
spec the doctor was given, and ending with the doctor run that shows it worked.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NoReturn
from urllib.parse import urlsplit

from homefire._bridge import run_sync
from homefire.errors import (
    AuthenticationError,
    HomefireError,
    InvalidParameterError,
    ServerNotRunningError,
)
from homefire.http.urls import check_base_url
from homefire.llm.base import LLM
from homefire.protocols.fingerprint import Identity, ServerKind
from homefire.providers import _registry
from homefire.servers.config import Endpoint, config_path, from_config, load_config
from homefire.servers.specs import build, parse_spec
from homefire.types import ModelInfo

Status = Literal["ok", "fail", "skip"]

# Stands in a suggested command for the API key, which the doctor does not know.
KEY = "KEY"

# What each server lets a client do to its models (the rest is done where it is started).
_PULLS = {"ollama", "lmstudio", "localai"}
_LOADS = {"ollama", "lmstudio", "localai", "xinference"}
_LOADS_WITH_CONTEXT = {"ollama", "lmstudio", "xinference"}
_RELOADS_FOR_CONTEXT = {"lmstudio", "xinference"}  # unload first: a load adds an instance


@dataclass(frozen=True, slots=True)
class Check:
    """One check: its status and what it found; for a failure, why and what to do.

    `fix` says what to do; `commands` are the shell commands that do it, in the order to
    run them, the last one checking again. `KEY` in one stands for the server's API key.
    """

    name: str
    status: Status
    detail: str
    cause: str = ""
    fix: str = ""
    commands: tuple[str, ...] = ()


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
                "spec",
                f"{spec!r} is neither a URL, a provider spec (ollama:MODEL, "
                f"lmstudio://host:port/MODEL) nor an endpoint named in {path}",
            )
        endpoint = from_config(spec, entry, path)
        expected = endpoint.provider
    if endpoint is None:
        endpoint = Endpoint("", check_base_url(spec, name="spec"))
    row = _registry.find(endpoint.provider) if endpoint.provider else None
    if endpoint.base_url is None and row is not None and row.default_base_url is not None:
        endpoint = Endpoint(
            endpoint.provider, row.default_base_url, endpoint.model, endpoint.options
        )
    if endpoint.base_url is None:
        raise InvalidParameterError(
            "spec", f"{spec!r} runs in-process; doctor checks servers (pass a URL or spec)"
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


def _command(*words: str | int) -> str:
    return " ".join(shlex.quote(str(w)) if w != KEY else KEY for w in ("homefire", *words))


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
        self._model = model
        self._provider = self.target.expected or ""
        self._report = report

    def _add(self, check: Check) -> None:
        self.checks.append(check)
        if self._report is not None:
            self._report(check)

    def _fail(
        self, name: str, detail: str, *, cause: str, fix: str, commands: tuple[str, ...] = ()
    ) -> NoReturn:
        self._add(Check(name, "fail", detail, cause=cause, fix=fix, commands=commands))
        raise _Stop

    def run(self) -> list[Check]:
        llm: LLM | None = None
        try:
            identity = self._reachable_and_which()
            endpoint = self.target.endpoint
            self._provider = self.target.expected or _registry.for_kind(identity.kind).scheme
            options = dict(endpoint.options)
            if self._provider == "ollama" and self.context_length is not None:
                # Ollama sizes the context per request: ask for the one being checked, or
                # the test generation would reload the model at Ollama's default
                options.setdefault("context_window", self.context_length)
            llm = build(Endpoint(self._provider, self._url, endpoint.model, options))
            self._ready(llm)
            models = self._auth(llm)
            info = self._model_check(llm, models)
            if info is not None:
                self._loaded(info)
                self._context(llm, info)
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

    # --- the commands a fix suggests ------------------------------------------------------

    def _again(self, spec: str | None = None, *, context: int | None = None) -> str:
        """This doctor run, to repeat once the fix is done (`spec`: at another address)."""
        words: list[str | int] = ["doctor", spec or self.target.spec]
        if self._model is not None:
            words += ["-m", self._model]
        wanted = context or self.context_length
        if wanted is not None:
            words += ["-c", wanted]
        if self.target.endpoint.options.get("api_key"):
            words += ["--api-key", KEY]
        return _command(*words)

    def _key_words(self) -> list[str]:
        return ["--api-key", KEY] if self.target.endpoint.options.get("api_key") else []

    def _endpoint_spec(self) -> str:
        """The spec without its model, as `homefire load|unload|pull SPEC MODEL` take it."""
        spec = self.target.spec
        model = self.target.endpoint.model
        if model and spec.endswith("/" + model):
            return spec[: -len(model) - 1]
        if model and spec.endswith(":" + model):
            return spec[: -len(model)]
        return spec

    def _lifecycle(self, verb: str, model: str, *extra: str | int) -> str:
        return _command(verb, self._endpoint_spec(), model, *extra, *self._key_words())

    @staticmethod
    def _fix(text: str, commands: list[str]) -> tuple[str, tuple[str, ...]]:
        return text, tuple(commands)

    # --- the checks -------------------------------------------------------------------------

    def _reachable_and_which(self) -> Identity:
        from homefire.servers.discover import adiscover, aidentify

        url = self._url
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        try:
            identity = run_sync(aidentify(url, probe_timeout=self.probe_timeout))
        except ServerNotRunningError:
            nearby = run_sync(adiscover([host], probe_timeout=0.5, with_models=False))
            if nearby:
                found = nearby[0]
                fix, commands = self._fix(
                    f"it may be on another port: {found.label} answers at {found.base_url}; "
                    "check that one",
                    [self._again(found.base_url)],
                )
            else:
                expected = self.target.expected
                row = _registry.find(expected) if expected else None
                start = row.start if row is not None else "start the server"
                fix, commands = self._fix(
                    f"{start}; or look for it on another host or port",
                    [_command("discover", host)],
                )
            self._fail(
                "reachable",
                f"nothing listens at {url}",
                cause="the connection was refused: no server runs on that host and port",
                fix=fix,
                commands=commands,
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
            fix, commands = self._fix(
                "check the port; this lists the LLM servers on that host",
                [_command("discover", host)],
            )
            self._fail(
                "server",
                "the answers do not look like any LLM server homefire knows",
                cause=f"{url} serves something else (no /v1/models, no known fingerprint)",
                fix=fix,
                commands=commands,
            )
        expected = self.target.expected
        if expected and not _same(expected, identity.kind):
            row = _registry.find(expected)
            wanted = row.label if row is not None else expected
            port = row.port if row is not None else None
            hint = f" ({wanted} listens on {port} by default)" if port else ""
            fix, commands = self._fix(
                f"name the server that answers, or use the port of the one you meant{hint}",
                [self._again(self._respelled(_registry.for_kind(identity.kind)))],
            )
            self._fail(
                "server",
                f"{identity.label} answers, not {wanted}",
                cause=f"the spec names {expected!r} but another server listens at {url}",
                fix=fix,
                commands=commands,
            )
        version = f" {identity.version}" if identity.version else ""
        self._add(Check("server", "ok", f"{identity.label}{version}"))
        return identity

    def _respelled(self, row: _registry.Provider) -> str:
        """The spec naming the server that really answers, at the same address and model."""
        parts = urlsplit(self._url)
        model = self.target.endpoint.model if self._model is None else None
        tail = f"{row.api_root}/{model}" if model else ""
        return f"{row.scheme}://{parts.netloc}{tail}"

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
            fix, commands = self._fix("wait until it has loaded, then check again", [self._again()])
            self._fail(
                "ready",
                "the server is up but still starting or loading",
                cause="its readiness route answers 503 (busy / loading)",
                fix=fix,
                commands=commands,
            )
        self._add(Check("ready", "ok", "ready"))

    def _auth(self, llm: LLM) -> list[ModelInfo]:
        sent = bool(self.target.endpoint.options.get("api_key"))
        try:
            models = llm.models()
        except AuthenticationError as exc:
            which = "the right key" if sent else "the server's key"
            again = self._again()
            if not sent:
                again += f" --api-key {KEY}"
            fix, commands = self._fix(
                f"pass {which} with api_key= (or api_key_env in the config file)", [again]
            )
            self._fail(
                "auth",
                "the server refused the API key" if sent else "the server requires an API key",
                cause=str(exc),
                fix=fix,
                commands=commands,
            )
        self._add(Check("auth", "ok", "key accepted" if sent else "no key needed"))
        return models

    def _model_check(self, llm: LLM, models: list[ModelInfo]) -> ModelInfo | None:
        model = self.target.endpoint.model
        if model is None:
            names = ", ".join(m.id for m in models[:5]) or "none"
            self._add(Check("model", "skip", f"no model named (the server has: {names})"))
            return None
        info = next((m for m in models if m.id in _aliases(model)), None)
        if info is None:
            names = ", ".join(m.id for m in models[:8]) or "none"
            fix, commands = self._missing(llm, model, models)
            self._fail(
                "model",
                f"{model!r} is not on the server",
                cause=f"the server has: {names}",
                fix=fix,
                commands=commands,
            )
        self._add(Check("model", "ok", f"{model} is present"))
        return info

    def _missing(
        self, llm: LLM, model: str, models: list[ModelInfo]
    ) -> tuple[str, tuple[str, ...]]:
        """How to get a model the server does not have."""
        if self._provider == "localai":
            offered = _gallery_name(llm, model)
            if offered is None:
                return "install it from LocalAI's gallery (homefire pull SPEC GALLERY@NAME)", ()
            return self._fix(
                "install it from LocalAI's gallery",
                [self._lifecycle("pull", offered), self._again()],
            )
        if self._provider in _PULLS:
            return self._fix("download it", [self._lifecycle("pull", model), self._again()])
        if self._provider == "xinference":
            return self._fix(
                "launch it (a built-in or registered model)",
                [self._lifecycle("load", model), self._again()],
            )
        if not models:
            return "start the server with the model you want", ()
        first = models[0].id
        restart = ""
        if self._provider == "llamafile":
            restart = f" (or start it again with yours: homefire serve MODEL.gguf {self._where()})"
        return self._fix(
            f"this server serves the model it was started with; use that one{restart}",
            [self._model_again(first)],
        )

    def _model_again(self, model: str) -> str:
        """The doctor run for another model on the same server."""
        words: list[str | int] = ["doctor", self._endpoint_spec(), "-m", model]
        if self.context_length is not None:
            words += ["-c", self.context_length]
        return _command(*words, *self._key_words())

    def _where(self) -> str:
        """`serve` flags for this server's address: its port, and host unless loopback."""
        parts = urlsplit(self._url)
        words = f"--port {parts.port or 80}"
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            words += f" --host {parts.hostname}"
        return words

    def _loaded(self, info: ModelInfo) -> None:
        if info.loaded:
            self._add(Check("loaded", "ok", f"{info.id} is loaded"))
            return
        wanted = self.context_length
        if self._provider in _LOADS:
            context: tuple[str | int, ...] = ()
            if wanted is not None and self._provider in _LOADS_WITH_CONTEXT:
                context = ("-c", wanted)
            fix, commands = self._fix(
                "load it", [self._lifecycle("load", info.id, *context), self._again()]
            )
        else:
            fix, commands = "the server loads it when a request names it", ()
        self._fail(
            "loaded",
            f"{info.id} is not loaded",
            cause="the model is downloaded but not in memory; the first request would "
            "load it (slowly) with the server's default settings",
            fix=fix,
            commands=commands,
        )

    def _context(self, llm: LLM, info: ModelInfo) -> None:
        wanted = self.context_length
        actual = info.context_length
        if wanted is None:
            self._add(Check("context", "ok", f"{actual or 'unknown'} tokens in effect"))
            return
        if actual == wanted:
            self._add(Check("context", "ok", f"{actual} tokens in effect, as requested"))
            return
        fix, commands = self._context_fix(llm, info, wanted)
        self._fail(
            "context",
            f"{actual or 'unknown'} tokens in effect, {wanted} requested",
            cause="the model was loaded with another context length"
            if actual
            else "the server does not say which context the model was loaded with",
            fix=fix,
            commands=commands,
        )

    def _context_fix(self, llm: LLM, info: ModelInfo, wanted: int) -> tuple[str, tuple[str, ...]]:
        """How to get `wanted` tokens of context on this kind of server."""
        provider = self._provider
        if provider in _RELOADS_FOR_CONTEXT:
            return self._fix(
                "load it again with that context",
                [
                    self._lifecycle("unload", info.id),
                    self._lifecycle("load", info.id, "-c", wanted),
                    self._again(),
                ],
            )
        if provider == "ollama":
            return self._fix(
                "load it with that context, and ask for it on every request "
                "(context_window=, or Ollama reloads it at its default)",
                [self._lifecycle("load", info.id, "-c", wanted), self._again()],
            )
        if provider == "localai":
            return self._fix(
                f"set `context_size: {wanted}` in the model's YAML file, then restart its backend",
                [
                    self._lifecycle("unload", info.id),
                    self._lifecycle("load", info.id),
                    self._again(),
                ],
            )
        if provider == "llamafile":
            return self._fix(
                "a llama.cpp server keeps the context it was started with; stop it, then "
                "start it again with that context",
                [self._serve_again(llm, wanted), self._again()],
            )
        return (
            "restart the server with that context (vLLM: --max-model-len; others: see its "
            "documentation)",
            (),
        )

    def _serve_again(self, llm: LLM, wanted: int) -> str:
        """`homefire serve` for the model file this llama.cpp server runs, with `wanted`."""
        props = getattr(llm, "props", None)
        model_path, slots = "MODEL.gguf", 1
        if callable(props):
            try:
                facts = props()
                model_path = facts.model_path or model_path
                slots = facts.total_slots or 1
            except HomefireError:
                pass
        words: list[str | int] = ["serve", model_path, *self._where().split(), "--ctx", wanted]
        if slots > 1:
            words += ["--parallel", slots]
        if self.target.endpoint.options.get("api_key"):
            words += ["--api-key", KEY]
        return _command(*words)

    def _generate(self, llm: LLM) -> None:
        if self.target.endpoint.model is None and not isinstance(getattr(llm, "model", None), str):
            self._add(Check("generate", "skip", "no model named to test (pass model=)"))
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


def _gallery_name(llm: LLM, model: str) -> str | None:
    """`gallery@name` for a LocalAI gallery model called `model`, if a gallery offers it."""
    gallery = getattr(llm, "gallery", None)
    if not callable(gallery):
        return None
    try:
        items = gallery()
    except HomefireError:
        return None
    for item in items:
        source = item.get("gallery")
        where = source.get("name") if isinstance(source, dict) else None
        if item.get("name") == model and isinstance(where, str):
            return f"{where}@{model}"
    return None
