"""`hf.connect(spec)`: one string (or a configured name) to a ready-to-use LLM.

Specs:
    "lmstudio://host:port/model"   a provider scheme, server address and model
    "ollama:llama3.2"              a provider at its default address
    "llamacpp:/path/model.gguf"    the model file, in-process
    "http://host:port"             any server: its type is detected by fingerprint
    "work"                         an endpoint named in the config file

The config file is TOML at `$HOMEFIRE_CONFIG`, else `homefire/config.toml` in the user
config folder, with one table per endpoint:

    [endpoints.work]
    provider = "lmstudio"                 # or ollama, localai, xinference, llamafile, openai
    base_url = "http://gpu-box:1234"
    model = "qwen2.5-7b-instruct"
    api_key_env = "LMSTUDIO_TOKEN"        # the key is read from this environment variable
    context_window = 8192
    timeouts = { connect = 2, first_token = 120 }

    [endpoints.team]                      # one LLM over several endpoints (see hf.Router)
    provider = "router"
    strategy = "least-busy"               # or round-robin, fallback
    backends = ["work", "http://127.0.0.1:8081", "ollama:llama3.2"]
"""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from homefire.errors import InvalidParameterError
from homefire.llm import LLM

if TYPE_CHECKING:
    from homefire.http.config import Timeouts

# scheme -> (module, class) of the provider that speaks to that server
PROVIDERS: dict[str, tuple[str, str]] = {
    "lmstudio": ("homefire.providers.lmstudio", "LMStudio"),
    "ollama": ("homefire.providers.ollama", "Ollama"),
    "localai": ("homefire.providers.localai", "LocalAI"),
    "xinference": ("homefire.providers.xinference", "Xinference"),
    "llamafile": ("homefire.providers.llamafile", "Llamafile"),
    "llamacpp-server": ("homefire.providers.llamafile", "Llamafile"),
    "vllm": ("homefire.providers.openai_like", "OpenAILike"),
    "openai": ("homefire.providers.openai_like", "OpenAILike"),
}
_IN_PROCESS = "llamacpp"
_KNOWN = ", ".join([*PROVIDERS, _IN_PROCESS])


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a model is served: the provider's scheme, its base URL and the model, if any."""

    provider: str
    base_url: str | None = None
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def config_path() -> Path:
    override = os.environ.get("HOMEFIRE_CONFIG")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("homefire")) / "config.toml"


def load_config(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The named endpoints of the config file ({} when there is no file)."""
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidParameterError("config", f"{path} is not valid TOML: {exc}") from None
    endpoints = data.get("endpoints", {})
    if not isinstance(endpoints, dict) or not all(isinstance(v, dict) for v in endpoints.values()):
        raise InvalidParameterError(
            "config", f"{path}: [endpoints.NAME] must be tables (see homefire.connect's docs)"
        )
    return endpoints


def from_config(name: str, entry: Mapping[str, Any], path: Path) -> Endpoint:
    options = dict(entry)
    provider = options.pop("provider", None)
    if provider not in PROVIDERS and provider != _IN_PROCESS:
        raise InvalidParameterError(
            "config",
            f"endpoint {name!r} in {path}: provider must be one of {_KNOWN}, got {provider!r}",
        )
    key_env = options.pop("api_key_env", None)
    if key_env is not None:
        key = os.environ.get(str(key_env))
        if not key:
            raise InvalidParameterError(
                "config",
                f"endpoint {name!r} reads its API key from ${key_env}, which is not set; "
                f"export {key_env}=... first",
            )
        options["api_key"] = key
    timeouts = options.pop("timeouts", None)
    if timeouts is not None:
        options["timeouts"] = _timeouts(name, timeouts, path)
    return Endpoint(
        provider=str(provider),
        base_url=options.pop("base_url", None),
        model=options.pop("model", None),
        options=options,
    )


def _timeouts(name: str, table: Any, path: Path) -> Timeouts:
    """The [endpoints.NAME.timeouts] table as Timeouts; errors name the file and endpoint."""
    from homefire.http.config import Timeouts

    where = f"endpoint {name!r} in {path}"
    if not isinstance(table, dict):
        raise InvalidParameterError("config", f"{where}: timeouts must be a table")
    allowed = [f.name for f in fields(Timeouts)]
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise InvalidParameterError(
            "config",
            f"{where}: unknown timeouts key(s) {', '.join(unknown)}; "
            f"the keys are {', '.join(allowed)} (seconds)",
        )
    try:
        return Timeouts(**table)
    except InvalidParameterError as exc:
        raise InvalidParameterError("config", f"{where}: {exc}") from None


def parse_spec(spec: str) -> Endpoint | None:
    """The endpoint a scheme spec names; None for a bare URL or a config name."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidParameterError("spec", f"must be a non-empty string, got {spec!r}")
    scheme, sep, rest = spec.partition(":")
    scheme = scheme.lower()
    if not sep or scheme in ("http", "https"):
        return None
    if scheme == _IN_PROCESS:
        if not rest:
            raise InvalidParameterError("spec", 'name the model file: "llamacpp:/path/model.gguf"')
        return Endpoint(_IN_PROCESS, model=rest)
    if scheme not in PROVIDERS:
        raise InvalidParameterError(
            "spec", f"unknown provider {scheme!r} in {spec!r}; use one of {_KNOWN}"
        )
    if not rest.startswith("//"):
        return Endpoint(scheme, model=rest or None)
    parts = urlsplit("http:" + rest)
    if not parts.netloc:
        raise InvalidParameterError("spec", f"{spec!r} has no host:port after '{scheme}://'")
    path = parts.path.strip("/")
    if scheme in ("openai", "vllm") and (path == "v1" or path.startswith("v1/")):
        model = path[3:] or None
        return Endpoint(scheme, f"http://{parts.netloc}/v1", model)
    return Endpoint(scheme, f"http://{parts.netloc}", path or None)


def resolve(spec: str) -> Endpoint:
    """The endpoint for any spec: scheme, configured name or (probed) bare URL."""
    endpoint = parse_spec(spec)
    if endpoint is not None:
        return endpoint
    if spec.lower().startswith(("http://", "https://")):
        from homefire.discovery import identify_url

        identity = identify_url(spec)
        return Endpoint(scheme_for(identity.kind), spec.rstrip("/"))
    path = config_path()
    entry = load_config(path).get(spec)
    if entry is None:
        raise InvalidParameterError(
            "spec",
            f"{spec!r} is not a provider spec (like 'ollama:llama3.2' or "
            f"'lmstudio://host:1234/model'), a URL, or an endpoint named in {path}",
        )
    return from_config(spec, entry, path)


def scheme_for(kind: str) -> str:
    return {"llamacpp": "llamacpp-server"}.get(kind, kind)


def build(endpoint: Endpoint, **kwargs: Any) -> LLM:
    """Create the provider for an endpoint; keyword arguments override the endpoint's."""
    options = {**endpoint.options, **kwargs}
    if endpoint.provider == _IN_PROCESS:
        from homefire.providers.llamacpp import LlamaCPP

        return LlamaCPP(model_path=endpoint.model, **options)
    module, name = PROVIDERS[endpoint.provider]
    cls = getattr(importlib.import_module(module), name)
    if endpoint.base_url is not None:
        options.setdefault("base_url", endpoint.base_url)
    if endpoint.model is not None:
        options.setdefault("model", endpoint.model)
    llm: LLM = cls(**options)
    return llm


def connect(spec: str, **kwargs: Any) -> LLM:
    """The LLM a spec names (see the module docs); extra keyword arguments go to the provider
    (for a configured router: they override its table's keys)."""
    if parse_spec(spec) is None and not spec.lower().startswith(("http://", "https://")):
        path = config_path()
        entry = load_config(path).get(spec)
        if entry is not None and entry.get("provider") == "router":
            from homefire.router import router_from_config

            return router_from_config(spec, {**entry, **kwargs}, path)
    return build(resolve(spec), **kwargs)
