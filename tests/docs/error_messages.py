"""The errors of the troubleshooting page, each brought about for real.

Each scenario makes homefire fail the way a user meets it (nothing listening, a wrong key,
a model that is not there, a prompt too long, ...) against a real component or a faithful
fake, and returns what was raised (or warned). The page shows each message exactly as it
came; addresses, ports and paths that differ from run to run are shown as the reader's
(`Scene.shown_as`). `tests/docs/test_troubleshooting.py` compares the two.
"""

from __future__ import annotations

import socket
import sys
import threading
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import homefire as hf
from fakes._server import FakeServer, Reply, sse
from fakes.xinference import FakeXinference
from standins import MODEL_FILE, StandIns

Outcome = BaseException | Warning
WARNINGS = (hf.ContextTruncatedWarning, hf.GPUUnavailableWarning)
"""The warnings homefire gives, shown on the page like the errors."""


@dataclass
class Scene:
    """What a scenario may use, and how its run-to-run details are shown on the page."""

    request: pytest.FixtureRequest
    workdir: Path
    standins: StandIns
    stack: ExitStack
    replacements: dict[str, str] = field(default_factory=dict)

    def shown_as(self, real: str, shown: str) -> str:
        """Use `real` (an address, a path), shown on the page as `shown`."""
        self.replacements[real] = shown
        return real

    def normalise(self, text: str) -> str:
        for real in sorted(self.replacements, key=len, reverse=True):
            text = text.replace(real, self.replacements[real])
        return text

    def model_path(self) -> str:
        return self.shown_as(str(self.workdir / MODEL_FILE), f"/home/me/models/{MODEL_FILE}")

    def standin(self, name: str, shown: str) -> str:
        """The base URL of provider `name`'s stand-in, shown as `shown`."""
        address = self.standins.get(name).address
        self.shown_as(address, shown)
        return f"http://{address}"

    def server(self, shown: str = "127.0.0.1:8080") -> Any:
        """The real llama.cpp server (SmolLM2), its address shown as `shown`."""
        server = self.request.getfixturevalue("smollm2_server")
        self.shown_as(server.base_url.removeprefix("http://"), shown)
        return server

    def fake(self, server: FakeServer, shown: str) -> str:
        server.start()
        self.stack.callback(server.stop)
        self.shown_as(f"127.0.0.1:{server.port}", shown)
        return server.base_url

    def _socket(self, shown: str) -> socket.socket:
        sock = self.stack.enter_context(socket.socket())
        sock.bind(("127.0.0.1", 0))
        self.shown_as(f"127.0.0.1:{sock.getsockname()[1]}", shown)
        return sock

    def nothing_listening(self, shown: str) -> str:
        """A URL whose port is held but not listening: connections are refused."""
        return f"http://127.0.0.1:{self._socket(shown).getsockname()[1]}"

    def listener(self, shown: str, handle: Callable[[socket.socket], None]) -> str:
        """A URL where each connection is handed to `handle` (to hang up, or to stall)."""
        sock = self._socket(shown)
        sock.listen()

        def accept() -> None:
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                handle(conn)

        threading.Thread(target=accept, daemon=True).start()
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


SCENARIOS: dict[str, Callable[[Scene], Any]] = {}


def scenario(name: str) -> Callable[[Callable[[Scene], Any]], Callable[[Scene], Any]]:
    def register(function: Callable[[Scene], Any]) -> Callable[[Scene], Any]:
        SCENARIOS[name] = function
        return function

    return register


def outcome(name: str, scene: Scene) -> Outcome:
    """Run scenario `name`; what it raised or warned (it must do one of the two)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            SCENARIOS[name](scene)
        except hf.HomefireError as exc:
            return exc
    ours = [w.message for w in caught if isinstance(w.message, WARNINGS)]
    if not ours:
        raise AssertionError(f"scenario {name!r} neither raised nor warned")
    return ours[0]


def shown(error: Outcome, scene: Scene) -> str:
    """The last line of the traceback (or the warning) as a user sees it."""
    cls = type(error)
    return scene.normalise(f"{cls.__module__}.{cls.__qualname__}: {error}")


# --- reaching the server ------------------------------------------------------------------


@scenario("connection-refused")
def _refused(scene: Scene) -> None:
    url = scene.nothing_listening("127.0.0.1:11434")
    hf.Ollama("llama3.2", base_url=url).chat("Hi")


@scenario("wrong-port")
def _wrong_port(scene: Scene) -> None:
    url = scene.standin("lmstudio", "127.0.0.1:1234")
    hf.Ollama("llama3.2", base_url=url).chat("Hi")


@scenario("html-answer")
def _html(scene: Scene) -> None:
    sign_in = "<!doctype html><html><body>Sign in</body></html>"
    page = FakeServer()
    answer = Reply(200, sign_in, content_type="text/html")
    page.route("POST", "/v1/chat/completions", lambda r: answer)
    url = scene.fake(page, "127.0.0.1:8080")
    hf.Llamafile(base_url=url).chat("Hi")


@scenario("port-in-use")
def _port_in_use(scene: Scene) -> None:
    from homefire.servers.serve import run

    sock = scene._socket("127.0.0.1:8080")
    sock.listen()
    run(scene.model_path(), port=sock.getsockname()[1])


@scenario("router-down")
def _router_down(scene: Scene) -> None:
    desk = hf.Llamafile(base_url=scene.nothing_listening("192.168.1.20:8080"))
    laptop = hf.Llamafile(base_url=scene.nothing_listening("127.0.0.1:8081"))
    with hf.Router({"desk": desk, "laptop": laptop}) as router:
        router.chat("Hi")


# --- keys and models ----------------------------------------------------------------------


@scenario("no-api-key")
def _no_key(scene: Scene) -> None:
    server = scene.server()
    hf.Llamafile(base_url=server.base_url).chat("Hi")


@scenario("model-not-found")
def _model_not_found(scene: Scene) -> None:
    url = scene.standin("ollama", "127.0.0.1:11434")
    hf.Ollama("llama3.1", base_url=url).chat("Hi")


@scenario("not-supported")
def _not_supported(scene: Scene) -> None:
    hf.Llamafile(base_url="http://127.0.0.1:8080").load("other.gguf")


@scenario("server-feature-off")
def _feature_off(scene: Scene) -> None:
    server = scene.server()
    hf.Llamafile(base_url=server.base_url, api_key=server.api_key).embed(["first text"])


# --- context ------------------------------------------------------------------------------


@scenario("context-overflow-server")
def _overflow_server(scene: Scene) -> None:
    server = scene.server()
    hf.Llamafile(base_url=server.base_url, api_key=server.api_key).chat("word " * 3000)


@scenario("context-overflow-in-process")
def _overflow_in_process(scene: Scene) -> None:
    with hf.LlamaCPP(n_threads=2, context_window=256) as llm:
        llm.chat("word " * 300)


@scenario("ollama-truncated")
def _ollama_truncated(scene: Scene) -> None:
    url = scene.standin("ollama", "127.0.0.1:11434")
    hf.Ollama("llama3.2", base_url=url, context_window=64).chat("word " * 100)


@scenario("ollama-truncated-warning")
def _ollama_truncated_warning(scene: Scene) -> None:
    url = scene.standin("ollama", "127.0.0.1:11434")
    llm = hf.Ollama("llama3.2", base_url=url, context_window=64, on_truncation="warn")
    llm.chat("word " * 100)


# --- memory -------------------------------------------------------------------------------


@scenario("nothing-fits")
def _nothing_fits(scene: Scene) -> None:
    small = hf.detect_hardware().with_overrides(gpu_memory=[], ram=16 * 1024**2)
    hf.LlamaCPP(MODEL_FILE, n_gpu_layers="auto", context_window="auto", hardware=small)


@scenario("gpu-unavailable")
def _gpu_unavailable(scene: Scene) -> None:
    with hf.LlamaCPP(n_threads=2, context_window=256, n_gpu_layers=-1):
        pass


@scenario("engine-refused")
def _engine_refused(scene: Scene) -> None:
    hf.LlamaCPP(scene.model_path(), n_threads=2, context_window=50_000_000)


# --- slow or broken answers ---------------------------------------------------------------


@scenario("first-token-timeout")
def _first_token(scene: Scene) -> None:
    held: list[socket.socket] = []
    url = scene.listener("127.0.0.1:8080", held.append)
    scene.stack.callback(lambda: [conn.close() for conn in held])
    hf.Llamafile(base_url=url, timeouts=hf.Timeouts(first_token=1)).chat("Hi")


def _loading_server(scene: Scene) -> str:
    """A llama.cpp server that stays in its loading state."""
    busy = FakeServer()
    body = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    busy.route("POST", "/v1/chat/completions", lambda r: Reply(503, body))
    return scene.fake(busy, "127.0.0.1:8080")


@scenario("load-timeout")
def _load_timeout(scene: Scene) -> None:
    url = _loading_server(scene)
    hf.Llamafile(base_url=url, timeouts=hf.Timeouts(load=1)).chat("Hi")


@scenario("loading")
def _loading(scene: Scene) -> None:
    url = _loading_server(scene)
    hf.Llamafile(base_url=url, retry=hf.RetryPolicy(attempts=1)).chat("Hi")


@scenario("hung-up")
def _hung_up(scene: Scene) -> None:
    def hang_up(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.close()

    url = scene.listener("127.0.0.1:8080", hang_up)
    hf.Llamafile(base_url=url, retry=hf.RetryPolicy(attempts=1)).chat("Hi")


@scenario("stream-cut")
def _stream_cut(scene: Scene) -> None:
    events = [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in ("Once", " upon")]
    cut = FakeServer()
    cut.route(
        "POST",
        "/v1/chat/completions",
        lambda r: Reply(200, stream=sse(events, done=False), content_type="text/event-stream"),
    )
    url = scene.fake(cut, "127.0.0.1:8080")
    for _ in hf.Llamafile(base_url=url).stream_chat("Tell me a story"):
        pass


@scenario("worker-lost")
def _worker_lost(scene: Scene) -> None:
    cluster = FakeXinference()
    cluster.ready.add("my-model-1")
    url = scene.fake(cluster, "127.0.0.1:9997")
    cluster.lost_worker = "192.168.1.21:30001"
    hf.Xinference("my-model-1", base_url=url).describe()


@scenario("closed")
def _closed(scene: Scene) -> None:
    llm = hf.LlamaCPP(n_threads=2, context_window=256)
    llm.close()
    llm.chat("Hi")


# --- model files, templates, downloads ----------------------------------------------------


@scenario("missing-file")
def _missing(scene: Scene) -> None:
    hf.LlamaCPP("models/qwen2.5-7b-instruct-q4_k_m.gguf")


@scenario("not-gguf")
def _not_gguf(scene: Scene) -> None:
    page = scene.workdir / "downloaded.gguf"
    page.write_text("<!DOCTYPE html><html><body>Sign in to download</body></html>")
    hf.LlamaCPP(scene.shown_as(str(page), "/home/me/models/downloaded.gguf"))


@scenario("template-refuses")
def _template(scene: Scene) -> None:
    template = "{{ raise_exception('System role not supported') }}"
    with hf.LlamaCPP(n_threads=2, context_window=256, chat_template=template) as llm:
        llm.chat([hf.system("Be brief."), hf.user("Hi")])


@scenario("download-missing")
def _download_missing(scene: Scene) -> None:
    url = scene.fake(FakeServer(), "127.0.0.1:8000")
    hf.download_model(f"{url}/models/model.gguf", cache_dir=scene.workdir / "cache")


@scenario("checksum")
def _checksum(scene: Scene) -> None:
    files = FakeServer()
    gguf = b"GGUF" + bytes(60)
    binary = "application/octet-stream"
    files.route("GET", "/models/model.gguf", lambda r: Reply(200, gguf, content_type=binary))
    url = scene.fake(files, "127.0.0.1:8000")
    cache = scene.workdir / "cache"
    hf.download_model(f"{url}/models/model.gguf", sha256="9f2c" * 16, cache_dir=cache)


@scenario("missing-engine")
def _missing_engine(scene: Scene) -> None:
    patch = scene.stack.enter_context(pytest.MonkeyPatch.context())
    patch.setitem(sys.modules, "xllamacpp", None)  # what an import finds when it is absent
    hf.LlamaCPP()


# --- arguments and answers ----------------------------------------------------------------


@scenario("unknown-option")
def _unknown_option(scene: Scene) -> None:
    with hf.LlamaCPP(n_threads=2, context_window=256) as llm:
        llm.chat("Hi", temprature=0)  # type: ignore[call-arg]


@scenario("schema-not-met")
def _schema(scene: Scene) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        country: str

    scripted = scene.request.getfixturevalue("scripted")
    scripted(['{"name": "Paris"}', '{"name": "Paris"}']).structured("Name a city in France.", City)
