"""The config file: named endpoints, so `hf.connect("work")` and `homefire chat -m work` reach
a configured server.

TOML at `$HOMEFIRE_CONFIG`, else `homefire/config.toml` in the user config folder, with one
table per endpoint:

    [endpoints.work]
    provider = "lmstudio"                 # any scheme hf.connect knows
    base_url = "http://gpu-box:1234"
    model = "qwen2.5-7b-instruct"
    api_key_env = "LMSTUDIO_TOKEN"        # the key is read from this environment variable
    context_window = 8192
    timeouts = { connect = 2, first_token = 120 }
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homefire.errors import InvalidParameterError
from homefire.http.urls import url_problem
from homefire.providers import _registry

if TYPE_CHECKING:
    from homefire.http.config import Timeouts


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a model is served: the provider's scheme, its base URL and the model, if any."""

    provider: str
    base_url: str | None = None
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


CONFIG_ENV = "HOMEFIRE_CONFIG"


def config_path() -> Path:
    """The config file: `$HOMEFIRE_CONFIG`, which must name a file, else the user's default
    (which need not exist)."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        path = Path(override)
        try:
            is_dir, exists = path.is_dir(), path.exists()
        except OSError as exc:  # a name too long for the file system, say
            raise InvalidParameterError(
                CONFIG_ENV, f"{override!r} cannot be used as the config file ({exc.strerror})"
            ) from None
        if is_dir:
            raise InvalidParameterError(
                CONFIG_ENV,
                f"{override!r} is a folder; point it at the TOML file itself "
                f"(e.g. {path / 'config.toml'})",
            )
        if not exists:
            raise InvalidParameterError(
                CONFIG_ENV,
                f"{override!r} does not exist; create it, or unset {CONFIG_ENV} to use "
                f"{_default_path()}",
            )
        return path
    return _default_path()


def _default_path() -> Path:
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
    except OSError as exc:
        raise InvalidParameterError("config", f"{path} cannot be read ({exc.strerror})") from None
    endpoints = data.get("endpoints", {})
    if not isinstance(endpoints, dict) or not all(isinstance(v, dict) for v in endpoints.values()):
        raise InvalidParameterError(
            "config", f"{path}: [endpoints.NAME] must be tables (see homefire.connect's docs)"
        )
    return endpoints


def from_config(name: str, entry: Mapping[str, Any], path: Path) -> Endpoint:
    options = dict(entry)
    provider = options.pop("provider", None)
    if not isinstance(provider, str) or _registry.find(provider) is None:
        known = ", ".join(_registry.builtin_schemes())
        raise InvalidParameterError(
            "config",
            f"endpoint {name!r} in {path}: provider must be one of {known}, got {provider!r}",
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
    base_url = options.pop("base_url", None)
    if base_url is not None:
        problem = url_problem(base_url) if isinstance(base_url, str) else "it is not a string"
        if problem:
            raise InvalidParameterError(
                "config", f"endpoint {name!r} in {path}: base_url {base_url!r}: {problem}"
            )
    return Endpoint(
        provider=provider.lower(),
        base_url=base_url,
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
