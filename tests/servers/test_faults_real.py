"""Faults injected for real against a llama.cpp server: kills, stalls, cuts, loading, bad starts."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from realserver import smollm2_path, start_real_server
from serving import serving

import homefire as hf
from homefire.servers.launch import LaunchedServer, launch

pytestmark = pytest.mark.integration

LONG = {"max_tokens": 200, "temperature": 0.0, "extra": {"ignore_eos": True}}


class Proxy:
    """A loopback TCP proxy that forwards `limit` bytes of each answer, then stalls or cuts."""

    def __init__(self, upstream_port: int, *, limit: int, cut: bool) -> None:
        self.upstream_port = upstream_port
        self.limit = limit
        self.cut = cut
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self.loop
        ).result(5)
        self.port: int = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def upstream() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
                await up_writer.drain()

        async def downstream() -> None:
            sent = 0
            while data := await up_reader.read(65536):
                if sent + len(data) >= self.limit:
                    writer.write(data[: self.limit - sent])
                    await writer.drain()
                    if self.cut:
                        writer.transport.abort()
                    else:
                        await asyncio.sleep(3600)
                    return
                writer.write(data)
                sent += len(data)
                await writer.drain()

        task = asyncio.ensure_future(upstream())
        try:
            await downstream()
        finally:
            task.cancel()
            up_writer.close()
            writer.close()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    async def _shutdown(self) -> None:
        """Close the listener and every open connection, so the server stops generating."""
        self.server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


ProxyFactory = Callable[..., Proxy]


@pytest.fixture
def proxy_factory(real_server: LaunchedServer) -> Iterator[ProxyFactory]:
    made: list[Proxy] = []
    port = int(real_server.base_url.rsplit(":", 1)[1])

    def make(*, limit: int, cut: bool) -> Proxy:
        proxy = Proxy(port, limit=limit, cut=cut)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


def _through(proxy: Proxy, server: LaunchedServer, **kwargs: object) -> hf.Llamafile:
    return hf.Llamafile(base_url=f"http://127.0.0.1:{proxy.port}", api_key=server.api_key, **kwargs)


def _read_then_kill(llm: hf.Llamafile, server: LaunchedServer) -> int:
    """Read a long stream, SIGKILL the server after 5 pieces, keep reading; pieces read."""
    received = 0
    for _ in llm.stream_chat("Tell me a long story.", **LONG):
        received += 1
        if received == 5:
            server.process.kill()
    return received


def test_killed_server_mid_stream_raises_interrupted_at_once() -> None:
    """The connection's end is noticed as it happens: waiting for the next chunk instead would
    end in a timeout (HomefireTimeoutError), not StreamInterruptedError."""
    server = start_real_server(context_window=1024)
    try:
        with pytest.raises(hf.StreamInterruptedError) as caught:
            _read_then_kill(server.llm(), server)
        assert "cut off" in str(caught.value)
    finally:
        server.stop()


def test_stall_between_chunks_fires_that_timeout(
    real_server: LaunchedServer, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(limit=3000, cut=False)
    llm = _through(proxy, real_server, timeouts=hf.Timeouts(between_chunks=1.0))
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        list(llm.stream_chat("Tell me a long story.", **LONG))
    assert caught.value.which == "between_chunks"


def test_stall_before_headers_fires_first_token(
    real_server: LaunchedServer, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(limit=0, cut=False)
    llm = _through(proxy, real_server, timeouts=hf.Timeouts(first_token=1.0))
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        llm.chat("Hi", max_tokens=2)
    assert caught.value.which == "first_token"


async def test_async_stall_fires_total_when_it_is_shorter(
    real_server: LaunchedServer, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(limit=3000, cut=False)
    llm = _through(proxy, real_server, timeouts=hf.Timeouts(between_chunks=30.0, total=1.5))
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        async for _ in llm.astream_chat("Tell me a long story.", **LONG):
            pass
    assert caught.value.which == "total"


def test_cut_connection_is_interrupted_not_success(
    real_server: LaunchedServer, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(limit=3000, cut=True)
    llm = _through(proxy, real_server)
    with pytest.raises(hf.StreamInterruptedError) as caught:
        list(llm.stream_chat("Tell me a long story.", **LONG))
    assert "cut off" in str(caught.value)
    with pytest.raises(hf.StreamInterruptedError):
        list(llm.stream_complete("Once upon a time", **LONG))


async def test_async_cut_connection_is_interrupted(
    real_server: LaunchedServer, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(limit=3000, cut=True)
    llm = _through(proxy, real_server)
    with pytest.raises(hf.StreamInterruptedError):
        async for _ in llm.astream_complete("Once upon a time", **LONG):
            pass


def test_port_answers_once_loaded_and_stops_cleanly() -> None:
    """`homefire serve` listens at once and is ready once its model is loaded. (The loading
    state in between lasts milliseconds here; homefire's handling of it is tested against a
    fake server held in that state: tests/providers/test_llamafile_loading.py.)"""
    env = {**os.environ, "HOMEFIRE_API_KEY": "k"}
    with serving(str(smollm2_path()), "--threads", "2", env=env, cli=False) as server:
        llm = hf.Llamafile(base_url=server.url, api_key="k")
        try:
            llm.wait_until_ready(timeout=60)
            state = llm.server_health()
            assert state.ready and llm.health() is True
        finally:
            llm.close()
        assert server.stop() == 0


def test_wait_until_ready_times_out_when_nothing_comes(refusing_url: str) -> None:
    llm = hf.Llamafile(base_url=refusing_url)
    with pytest.raises(hf.HomefireTimeoutError) as caught:
        llm.wait_until_ready(timeout=0.3)
    assert caught.value.which == "ready"


def test_launch_reports_a_server_that_dies_early(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(64))
    with pytest.raises(hf.ServerError, match="exited with code") as caught, launch(bad):
        pass
    assert "log" in str(caught.value)


def test_launch_stops_the_server_on_exit() -> None:
    with launch(smollm2_path(), context_window=256, n_threads=2) as server:
        assert server.running
        process = server.process
    assert process.poll() is not None
    with pytest.raises(hf.ServerNotRunningError):
        hf.Llamafile(base_url=server.base_url, retry=hf.RetryPolicy(attempts=1)).health()


def test_launch_lets_homefire_serve_pick_its_port_and_reads_which() -> None:
    """No port is guessed for homefire's own server: it binds one the system picks (so
    nothing can take it first) and launch() reads the address from its log."""
    with launch(smollm2_path(), context_window=256, n_threads=2) as server:
        args = [str(arg) for arg in server.process.args]  # type: ignore[union-attr]
        assert args[args.index("--port") + 1] == "0"
        port = int(server.base_url.rsplit(":", 1)[1])
        assert port > 0
        assert f"serving at {server.base_url} " in server.log_path.read_text()
        with server.llm() as llm:
            assert llm.health()


def test_launch_that_outlasts_its_ready_timeout_says_so_and_stops_the_server() -> None:
    with pytest.raises(hf.HomefireTimeoutError, match="longer ready_timeout") as caught:
        launch(smollm2_path(), context_window=256, n_threads=2, ready_timeout=0.05)
    assert caught.value.which == "ready"
    assert ":0" not in str(caught.value)
