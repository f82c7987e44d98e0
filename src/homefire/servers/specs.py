"""Endpoint specs: what a string names (a provider scheme and address, a URL whose server is
found by fingerprint, a configured name), and the provider it builds.

    "lmstudio://host:port/model"   a provider scheme, server address and model
    "ollama:llama3.2"              a provider at its default address
    "llamacpp:/path/model.gguf"    the model file, in-process
    "http://host:port"             any server: its type is detected by fingerprint
    "work"                         an endpoint named in the config file (`servers.config`)

The schemes are the provider registry's (`providers._registry`), including those other
packages register.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from homefire.errors import InvalidParameterError
from homefire.http.urls import check_base_url, url_problem
from homefire.llm.base import LLM
from homefire.providers import _registry
from homefire.servers.config import Endpoint, config_path, from_config, load_config

__all__ = ["Endpoint", "build", "parse_spec", "resolve"]


def parse_spec(spec: str) -> Endpoint | None:
    """The endpoint a scheme spec names; None for a bare URL or a config name."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidParameterError("spec", f"must be a non-empty string, got {spec!r}")
    scheme, sep, rest = spec.partition(":")
    scheme = scheme.lower()
    if not sep or scheme in ("http", "https"):
        return None
    if scheme == _registry.IN_PROCESS:
        if not rest:
            raise InvalidParameterError("spec", 'name the model file: "llamacpp:/path/model.gguf"')
        return Endpoint(scheme, model=rest)
    row = _registry.find(scheme)
    if row is None:
        if not rest.startswith("//") and len(scheme) == 1:
            return None  # a Windows path such as C:\models, not a scheme
        known = ", ".join(_registry.builtin_schemes())
        raise InvalidParameterError(
            "spec",
            f"unknown provider {scheme!r} in {spec!r}; use one of {known}, or write a "
            "server's address as http://HOST:PORT",
        )
    if not rest.startswith("//"):
        return Endpoint(row.scheme, model=rest or None)
    address = rest[2:].partition("/")[0]
    if not address:
        raise InvalidParameterError("spec", f"{spec!r} has no host:port after '{scheme}://'")
    problem = url_problem(f"http://{address}")
    if problem:
        raise InvalidParameterError("spec", f"{spec!r} has a bad address: {problem}")
    parts = urlsplit("http:" + rest)
    path = parts.path.strip("/")
    root = row.api_root.strip("/")
    if root and (path == root or path.startswith(root + "/")):
        return Endpoint(row.scheme, f"http://{parts.netloc}/{root}", path[len(root) + 1 :] or None)
    if not root and (path == "v1" or path.startswith("v1/")):
        path = path[3:]  # the server's OpenAI-compatible root, which the provider adds itself
    return Endpoint(row.scheme, f"http://{parts.netloc}", path or None)


def resolve(spec: str) -> Endpoint:
    """The endpoint for any spec: scheme, configured name or (probed) bare URL."""
    endpoint = parse_spec(spec)
    if endpoint is not None:
        return endpoint
    if spec.lower().startswith(("http://", "https://")):
        from homefire.servers.discover import identify_url

        root = check_base_url(spec, name="spec").removesuffix("/v1")
        identity = identify_url(root)
        return Endpoint(_registry.for_kind(identity.kind).scheme, root)
    path = config_path()
    entry = load_config(path).get(spec)
    if entry is None:
        raise InvalidParameterError(
            "spec",
            f"{spec!r} is not a provider spec (like 'ollama:llama3.2' or "
            f"'lmstudio://host:1234/model'), a URL, or an endpoint named in {path}",
        )
    return from_config(spec, entry, path)


def build(endpoint: Endpoint, **kwargs: Any) -> LLM:
    """Create the provider for an endpoint; keyword arguments override the endpoint's."""
    options = {**endpoint.options, **kwargs}
    cls: Any = _registry.get(endpoint.provider).load()
    if endpoint.provider == _registry.IN_PROCESS:
        options.setdefault("model_path", endpoint.model)
    else:
        if endpoint.base_url is not None:
            options.setdefault("base_url", endpoint.base_url)
        if endpoint.model is not None:
            options.setdefault("model", endpoint.model)
    llm: LLM = cls(**options)
    return llm
