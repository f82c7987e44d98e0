"""Every provider homefire knows, one row each: the one place that says a provider's scheme,
class, label, usual address, how to start its server and where its API key comes from.

The face (`hf.Ollama`), `connect`, `discover` and `doctor` read this table; nothing else
repeats these facts. Importing it imports no provider: a row names its class as a string.

Other packages add providers through the entry-point group `homefire.providers`: the entry
point's name is the scheme (`hf.connect("<scheme>://host:port/model")`), its object an
`hf.LLM` subclass that takes `base_url=` and `model=`. Its label, usual port, start hint
and key variable come from the class attributes `label`, `default_port`, `start_hint` and
`api_key_env` when it has them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homefire.errors import InvalidParameterError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from homefire.llm.base import LLM

ENTRY_POINT_GROUP = "homefire.providers"


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider: what it is called, where its server usually is, how to reach it."""

    scheme: str
    target: str
    """`module:Class`, imported only when the provider is used."""
    label: str
    """How messages name the server ("LM Studio")."""
    port: int | None = None
    """The port its server listens on by default; None for in-process providers."""
    host: str = "127.0.0.1"
    api_root: str = ""
    """The path its base URL ends in, for servers addressed at their API root (`/v1`)."""
    start: str = "start the server"
    """What to run to start its server (a sentence fragment)."""
    api_key_env: str | None = None
    """The environment variable its API key is read from when none is passed."""
    aliases: tuple[str, ...] = ()
    """Other schemes that name it."""
    kinds: tuple[str, ...] = ()
    """The server kinds (`protocols.fingerprint.ServerKind`) it talks to."""
    public: bool = True
    """Whether the face exports the class (`hf.<Class>`)."""

    @property
    def class_name(self) -> str:
        return self.target.rpartition(":")[2]

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def default_base_url(self) -> str | None:
        if self.port is None:
            return None
        return f"http://{self.host}:{self.port}{self.api_root}"

    @property
    def start_hint(self) -> str:
        """What to tell a user when nothing answers at the provider's address."""
        return f"{self.start} (or pass the base URL it listens on)"

    def load(self) -> type[LLM]:
        """The provider class (importing its module)."""
        cls: type[LLM] = getattr(importlib.import_module(self.module), self.class_name)
        return cls


IN_PROCESS = "llamacpp"

BUILTIN: tuple[Provider, ...] = (
    Provider(
        "llamacpp",
        "homefire.providers.llamacpp.model:LlamaCPP",
        "in-process llama.cpp",
        start="pass a .gguf file: llamacpp:/path/model.gguf",
    ),
    Provider(
        "llamafile",
        "homefire.providers.llamafile:Llamafile",
        "llama.cpp server",
        port=8080,
        start=(
            "start one with `homefire serve MODEL.gguf --port 8080`, "
            "`llama-server -m MODEL.gguf --port 8080` or `./MODEL.llamafile --server`"
        ),
        aliases=("llamacpp-server",),
        kinds=("llamacpp", "llamafile"),
    ),
    Provider(
        "lmstudio",
        "homefire.providers.lmstudio:LMStudio",
        "LM Studio",
        port=1234,
        host="localhost",
        start="start LM Studio's server with `lms server start`",
        api_key_env="LMSTUDIO_API_TOKEN",
        kinds=("lmstudio",),
    ),
    Provider(
        "localai",
        "homefire.providers.localai:LocalAI",
        "LocalAI",
        port=8080,
        host="localhost",
        start="start it with `local-ai run`",
        api_key_env="LOCALAI_API_KEY",
        kinds=("localai",),
    ),
    Provider(
        "xinference",
        "homefire.providers.xinference:Xinference",
        "Xinference",
        port=9997,
        start="start it with `xinference-local`",
        api_key_env="XINFERENCE_API_KEY",
        kinds=("xinference",),
    ),
    Provider(
        "ollama",
        "homefire.providers.ollama:Ollama",
        "Ollama",
        port=11434,
        start="start it with `ollama serve`",
        kinds=("ollama",),
    ),
    Provider(
        "openai",
        "homefire.providers.openai_like:OpenAILike",
        "OpenAI-compatible server",
        port=8000,
        api_root="/v1",
        start="start the server (for vLLM: `vllm serve MODEL`)",
        aliases=("vllm",),
        kinds=("vllm", "openai"),
    ),
)

_BY_SCHEME: dict[str, Provider] = {
    name: row for row in BUILTIN for name in (row.scheme, *row.aliases)
}


def builtin_schemes() -> list[str]:
    """Every scheme homefire itself knows, aliases included."""
    return list(_BY_SCHEME)


def find(scheme: str) -> Provider | None:
    """The provider a scheme names (built in or installed by another package), or None."""
    scheme = scheme.lower()
    row = _BY_SCHEME.get(scheme)
    return row if row is not None else _installed().get(scheme)


def get(scheme: str) -> Provider:
    """`find`, raising InvalidParameterError that lists the known schemes."""
    row = find(scheme)
    if row is None:
        known = ", ".join([*builtin_schemes(), *_installed()])
        raise InvalidParameterError("spec", f"unknown provider {scheme!r}; use one of {known}")
    return row


def for_class(cls: type[Any]) -> Provider | None:
    """The row of a provider class, or of the nearest registered class it derives from."""
    row = _match(cls, BUILTIN)
    return row if row is not None else _match(cls, tuple(_installed().values()))


def _match(cls: type[Any], rows: tuple[Provider, ...]) -> Provider | None:
    targets = {row.target: row for row in rows}
    for klass in cls.__mro__:
        row = targets.get(f"{klass.__module__}:{klass.__qualname__}")
        if row is not None:
            return row
    return None


def for_kind(kind: str) -> Provider:
    """The provider that talks to a server of this fingerprinted kind."""
    for row in BUILTIN:
        if kind in row.kinds:
            return row
    return _BY_SCHEME["openai"]


def usual_ports() -> tuple[int, ...]:
    """The ports local LLM servers listen on by default, for discovery."""
    return tuple(sorted({row.port for row in BUILTIN if row.port is not None}))


def public_classes() -> dict[str, str]:
    """Class name -> module of every provider the face exports."""
    return {row.class_name: row.module for row in BUILTIN if row.public}


_installed_cache: dict[str, Provider] | None = None


def _installed() -> dict[str, Provider]:
    """Providers other packages registered (read once, on the first scheme we do not know)."""
    global _installed_cache
    if _installed_cache is None:
        import importlib.metadata

        found: dict[str, Provider] = {}
        for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            name = point.name.lower()
            if name not in _BY_SCHEME:
                found[name] = _from_entry_point(name, point)
        _installed_cache = found
    return _installed_cache


def _from_entry_point(scheme: str, point: EntryPoint) -> Provider:
    """A row for an installed provider, its facts read from the class's attributes."""
    from homefire.llm.base import LLM

    cls = point.load()
    if not (isinstance(cls, type) and issubclass(cls, LLM)):
        raise InvalidParameterError(
            "spec",
            f"the provider {scheme!r} installed as {point.value} is not an hf.LLM subclass; "
            "fix or uninstall the package that registers it",
        )
    port = getattr(cls, "default_port", None)
    return Provider(
        scheme,
        f"{cls.__module__}:{cls.__qualname__}",
        label=str(getattr(cls, "label", cls.__name__)),
        port=port if isinstance(port, int) else None,
        start=str(getattr(cls, "start_hint", f"start the {scheme} server")),
        api_key_env=getattr(cls, "api_key_env", None),
        public=False,
    )
