"""Whatever address or path a user types, every command answers with one `error: ...` line and
exit code 1 or 2, never a traceback; and the library raises nothing but `HomefireError`.

Addresses are built from the mistakes people make (a port out of range or with a letter in
it, an IPv4 address past 255, an unclosed IPv6 bracket, no host, non-ASCII and very long
names) mixed with arbitrary text. Nothing listens at any of them: hosts are loopback, names
that cannot resolve, or malformed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import homefire as hf
from homefire.cli._app import app
from homefire.servers.doctor import Doctor

pytestmark = pytest.mark.unit

_HOSTS = st.sampled_from(
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "999.1.1.1",
        "1.2.3.4.5",
        "[::1",
        "::1",
        "",
        "ü.invalid",
        "ドメイン.invalid",
        "a" * 70 + ".invalid",
        ("x" * 60 + ".") * 6 + "invalid",
        "a..b",
        "%41",
        "local host",
        "-h",
        "user@",
        "[zz]",
        "١٢",
    ]
) | st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
_PORTS = st.sampled_from(
    ["", ":", ":99999", ":8o8o", ":abc", ":0", ":65536", ":-1", ":+80", ":١٢", ":1:2", ":9"]
) | st.integers(0, 200_000).map(lambda p: f":{p}")
_SCHEMES = st.sampled_from(
    ["http://", "https://", "HTTP://", "", "ollama://", "lmstudio://", "openai://", "ollama:"]
)
_TAILS = st.sampled_from(["", "/", "/v1", "/model", "/m.gguf", "?q=1", "#x", "/ü", "/" + "m" * 300])

ADDRESSES = (
    st.builds(lambda s, h, p, t: f"{s}{h}{p}{t}", _SCHEMES, _HOSTS, _PORTS, _TAILS)
    | st.text(max_size=40)
).filter(lambda a: a.strip() not in ("", "-") and not a.startswith("-"))
PATHS = st.sampled_from(
    [
        "/nonexistent/model.gguf",
        "missing.gguf",
        "/",
        ".",
        "/dev/null",
        "a" * 300 + ".gguf",
        "/tmp/" + "b" * 300 + "/m.gguf",
        "ü.gguf",
        "notes.txt",
    ]
) | st.text(max_size=30).filter(lambda p: p.strip() not in ("", "-") and not p.startswith("-"))

# Every command that takes an address or a path, as a user types it.
COMMANDS = {
    "chat": lambda a: ["chat", "-m", a, "hi"],
    "complete": lambda a: ["complete", "-m", a, "hi"],
    "models": lambda a: ["models", a],
    "load": lambda a: ["load", a, "some-model"],
    "unload": lambda a: ["unload", a, "some-model"],
    "pull": lambda a: ["pull", a, "some-model"],
    "discover": lambda a: ["discover", a, "--timeout", "0.2", "-p", "9"],
    "doctor": lambda a: ["doctor", a],
    "bench": lambda a: ["bench", a, "-p", "8", "-n", "2", "-r", "1", "--no-warmup"],
}
PATH_COMMANDS = {
    **COMMANDS,
    "inspect": lambda p: ["inspect", p],
    "plan": lambda p: ["plan", p],
}

_FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def invoke(args: list[str], cache: Path) -> Result:
    """Run the command as a user would, with downloads kept in `cache`."""
    env = {"HOMEFIRE_CONFIG": None, "HOMEFIRE_DEBUG": None, "HOMEFIRE_CACHE_DIR": str(cache)}
    return CliRunner().invoke(app, args, env=env)


def assert_one_clean_error(result: Result, args: list[str]) -> None:
    """Exit 1 or 2; `error: ...` first on stderr (doctor's failed checks report on stdout)."""
    assert result.exit_code in (1, 2), (args, result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        repr(result.exception),
    )
    assert "Traceback" not in result.output, (args, result.output)
    assert "unexpected" not in result.output, (args, result.output)
    if args[0] == "doctor" and result.stdout.startswith("homefire doctor:"):
        assert "[FAIL]" in result.stdout, (args, result.output)
        return
    first = result.stderr.splitlines()[0] if result.stderr else ""
    assert first.startswith("error: "), (args, result.output)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_malformed_addresses_give_one_error_line(name: str, tmp_path: Path) -> None:
    @_FUZZ
    @given(ADDRESSES)
    def check(address: str) -> None:
        args = COMMANDS[name](address)
        assert_one_clean_error(invoke(args, tmp_path), args)

    check()


@pytest.mark.parametrize("name", list(PATH_COMMANDS))
def test_bad_paths_give_one_error_line(name: str, tmp_path: Path) -> None:
    @_FUZZ
    @given(PATHS)
    def check(path: str) -> None:
        args = PATH_COMMANDS[name](path)
        assert_one_clean_error(invoke(args, tmp_path), args)

    check()


@pytest.mark.parametrize(
    "address",
    [
        "http://localhost:99999",
        "http://localhost:8o8o",
        "localhost:abc",
        "http://999.1.1.1:8080",
        "http://[::1",
        "http://",
        "lmstudio://localhost:abc/model",
    ],
)
def test_the_usual_typos_say_what_is_wrong(address: str, tmp_path: Path) -> None:
    result = invoke(["models", address], tmp_path)
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: invalid value for ENDPOINT: "), first
    assert "refused" not in first and "listening" not in first


def test_port_99999_is_out_of_range_not_refused(tmp_path: Path) -> None:
    result = invoke(["chat", "-m", "http://127.0.0.1:99999", "hi"], tmp_path)
    assert result.stderr == (
        "error: invalid value for --model: 'http://127.0.0.1:99999' is not a server address: "
        "the port 99999 is out of range (1-65535)\n"
    )


# --- the library: nothing but HomefireError leaves a public call -----------------------------


def _library_calls(address: str) -> list[tuple[str, object]]:
    return [
        ("connect", lambda: hf.connect(address)),
        ("Ollama", lambda: hf.Ollama(base_url=address)),
        ("OpenAILike", lambda: hf.OpenAILike(base_url=address)),
        ("Embedding", lambda: hf.Embedding(base_url=address)),
        ("discover", lambda: hf.discover([address], ports=[9], probe_timeout=0.2)),
        ("Doctor", lambda: Doctor(address, probe_timeout=0.2).run()),
        ("read_model_file", lambda: hf.read_model_file(address)),
        ("plan", lambda: hf.plan(address)),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(ADDRESSES | PATHS)
def test_library_calls_raise_only_homefire_errors(address: str) -> None:
    for name, call in _library_calls(address):
        try:
            made = call()  # type: ignore[operator]
        except hf.HomefireError:
            continue
        except Exception as exc:
            pytest.fail(f"{name}({address!r}) raised {type(exc).__name__}: {exc}")
        close = getattr(made, "close", None)
        if callable(close):
            close()
