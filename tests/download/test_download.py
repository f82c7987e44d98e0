from __future__ import annotations

import hashlib
import os
import pty
import select
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loopback_files import FileServer, Route

import homefire as hf
from homefire.modelfiles.download import _safe_name, download_model

pytestmark = pytest.mark.unit

BODY = b"GGUF" + os.urandom(299_996)
DIGEST = hashlib.sha256(BODY).hexdigest()


def _only_file(folder: Path) -> Path:
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".lock" and not p.name.endswith(".part.json")
    ]
    assert len(files) == 1, files
    return files[0]


def test_downloads_into_the_cache_and_reports_progress(
    file_server: FileServer, tmp_path: Path
) -> None:
    file_server.add("/models/tiny.gguf", Route(BODY))
    seen: list[tuple[int, int | None]] = []
    path = download_model(
        file_server.url("/models/tiny.gguf"),
        cache_dir=tmp_path,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert path.name == "tiny.gguf"
    assert path.read_bytes() == BODY
    assert tmp_path in path.parents
    assert _only_file(tmp_path) == path
    assert seen[0] == (0, len(BODY))
    assert seen[-1] == (len(BODY), len(BODY))


def test_is_exported_lazily_from_the_package() -> None:
    assert hf.download_model is download_model


def test_verified_file_is_reused_without_asking_the_server(
    file_server: FileServer, tmp_path: Path
) -> None:
    route = file_server.add("/m.gguf", Route(BODY))
    url = file_server.url("/m.gguf")
    first = download_model(url, sha256=DIGEST.upper(), cache_dir=tmp_path, progress=False)
    second = download_model(url, sha256=DIGEST, cache_dir=tmp_path, progress=False)
    assert first == second
    assert len(route.range_headers) == 1


def test_wrong_checksum_deletes_the_file_and_raises(
    file_server: FileServer, tmp_path: Path
) -> None:
    file_server.add("/m.gguf", Route(BODY))
    with pytest.raises(hf.ChecksumMismatchError) as info:
        download_model(
            file_server.url("/m.gguf"), sha256="0" * 64, cache_dir=tmp_path, progress=False
        )
    assert info.value.actual == DIGEST
    assert "0" * 64 in str(info.value)
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".lock"] == []


def test_corrupted_cached_file_is_downloaded_again(file_server: FileServer, tmp_path: Path) -> None:
    route = file_server.add("/m.gguf", Route(BODY))
    url = file_server.url("/m.gguf")
    path = download_model(url, cache_dir=tmp_path, progress=False)
    path.write_bytes(b"garbage")
    again = download_model(url, sha256=DIGEST, cache_dir=tmp_path, progress=False)
    assert again.read_bytes() == BODY
    assert route.full_bodies == 2


def test_cut_connection_keeps_the_part_and_the_next_call_resumes(
    file_server: FileServer, tmp_path: Path
) -> None:
    route = file_server.add("/m.gguf", Route(BODY, cut_after=100_000))
    url = file_server.url("/m.gguf")
    with pytest.raises(hf.DownloadError, match="run the download again to resume") as info:
        download_model(url, sha256=DIGEST, cache_dir=tmp_path, progress=False)
    assert info.value.url == url
    part = _only_file(tmp_path)
    assert part.name == "m.gguf.part"
    assert part.stat().st_size == 100_000
    path = download_model(url, sha256=DIGEST, cache_dir=tmp_path, progress=False)
    assert route.range_headers == [None, "bytes=100000-"]
    assert path.read_bytes() == BODY
    assert not part.exists()


def test_server_without_ranges_restarts_cleanly(file_server: FileServer, tmp_path: Path) -> None:
    route = file_server.add("/m.gguf", Route(BODY, ranges=False, cut_after=100_000))
    url = file_server.url("/m.gguf")
    with pytest.raises(hf.DownloadError):
        download_model(url, cache_dir=tmp_path, progress=False)
    path = download_model(url, cache_dir=tmp_path, progress=False)
    assert route.range_headers == [None, "bytes=100000-"]
    assert route.full_bodies == 2
    assert path.read_bytes() == BODY


def test_complete_part_file_is_finished_without_a_body(
    file_server: FileServer, tmp_path: Path
) -> None:
    route = file_server.add("/m.gguf", Route(BODY, cut_after=len(BODY) - 1))
    url = file_server.url("/m.gguf")
    with pytest.raises(hf.DownloadError):
        download_model(url, cache_dir=tmp_path, progress=False)
    part = _only_file(tmp_path)
    part.write_bytes(BODY)
    path = download_model(url, sha256=DIGEST, cache_dir=tmp_path, progress=False)
    assert route.range_headers[-1] == f"bytes={len(BODY)}-"
    assert path.read_bytes() == BODY


def test_foreign_part_file_is_replaced(file_server: FileServer, tmp_path: Path) -> None:
    file_server.add("/m.gguf", Route(BODY, cut_after=10))
    url = file_server.url("/m.gguf")
    with pytest.raises(hf.DownloadError):
        download_model(url, cache_dir=tmp_path, progress=False)
    _only_file(tmp_path).write_bytes(b"x" * (len(BODY) + 5))
    path = download_model(url, sha256=DIGEST, cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == BODY


def test_stalled_server_hits_the_read_timeout(file_server: FileServer, tmp_path: Path) -> None:
    file_server.add("/m.gguf", Route(BODY, stall_after=70_000))  # stalls until the test ends
    with pytest.raises(hf.DownloadError, match=r"sent no data for 0\.5s"):
        download_model(file_server.url("/m.gguf"), cache_dir=tmp_path, progress=False, timeout=0.5)


def test_unreachable_server_is_a_download_error(tmp_path: Path, refusing_url: str) -> None:
    with pytest.raises(hf.DownloadError, match="could not connect"):
        download_model(f"{refusing_url}/m.gguf", cache_dir=tmp_path, progress=False, timeout=2)


@pytest.mark.parametrize(
    ("status", "words"), [(404, "HTTP 404"), (403, "access was refused"), (500, "HTTP 500")]
)
def test_http_errors_say_what_happened(
    file_server: FileServer, tmp_path: Path, status: int, words: str
) -> None:
    file_server.add("/m.gguf", Route(BODY, status=status))
    with pytest.raises(hf.DownloadError, match=words):
        download_model(file_server.url("/m.gguf"), cache_dir=tmp_path, progress=False)


def test_empty_file_is_refused(file_server: FileServer, tmp_path: Path) -> None:
    file_server.add("/m.gguf", Route(b""))
    with pytest.raises(hf.DownloadError, match="empty file"):
        download_model(file_server.url("/m.gguf"), cache_dir=tmp_path, progress=False)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/m.gguf", "m.gguf", "http:///m.gguf", "https://:80/x"],
)
def test_only_http_urls_are_accepted(url: str, tmp_path: Path) -> None:
    with pytest.raises(hf.InvalidParameterError, match="url"):
        download_model(url, cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "value"),
    [("sha256", "abc"), ("timeout", 0), ("timeout", True), ("progress", "yes")],
)
def test_bad_parameters_fail_before_any_request(name: str, value: object, tmp_path: Path) -> None:
    kwargs: dict[str, object] = {name: value}
    with pytest.raises(hf.InvalidParameterError, match=name):
        download_model("http://127.0.0.1:9/m.gguf", cache_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["../x.gguf", "/abs/x.gguf", "a\\b.gguf", "", ".hidden", "..", "a\x00b"]
)
def test_unsafe_explicit_filename_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(hf.InvalidParameterError, match="filename"):
        download_model("http://127.0.0.1:9/m.gguf", cache_dir=tmp_path, filename=name)


def test_explicit_filename_is_used(file_server: FileServer, tmp_path: Path) -> None:
    file_server.add("/download", Route(BODY))
    path = download_model(
        file_server.url("/download"), cache_dir=tmp_path, filename="mine.gguf", progress=False
    )
    assert path.name == "mine.gguf"


@pytest.mark.parametrize(
    ("path", "disposition", "expected"),
    [
        ("/..%2F..%2Fevil.gguf", None, "evil.gguf"),
        ("/x/%2E%2E%5C%2E%2E%5Cwin.gguf", None, "win.gguf"),
        ("/", 'attachment; filename="../../etc/passwd"', "passwd"),
        ("/", "attachment; filename*=UTF-8''..%2F..%2Fm%C3%B6del.gguf", "mödel.gguf"),
        ("/", 'attachment; filename="/abs/.bashrc"', "bashrc"),
    ],
)
def test_malicious_names_stay_inside_the_cache(
    file_server: FileServer, tmp_path: Path, path: str, disposition: str | None, expected: str
) -> None:
    file_server.add(
        path.split("?")[0] if "%" not in path else path, Route(BODY, disposition=disposition)
    )
    result = download_model(file_server.url(path), cache_dir=tmp_path / "cache", progress=False)
    assert result.name == expected
    assert result.parent.parent == tmp_path / "cache"
    assert result.read_bytes() == BODY
    assert {p.name for p in tmp_path.iterdir()} == {"cache"}


def test_no_name_anywhere_asks_for_one(file_server: FileServer, tmp_path: Path) -> None:
    file_server.add("/", Route(BODY, disposition='attachment; filename=".."'))
    with pytest.raises(hf.DownloadError, match="pass filename="):
        download_model(file_server.url("/"), cache_dir=tmp_path, progress=False)


def test_same_name_from_two_urls_does_not_collide(file_server: FileServer, tmp_path: Path) -> None:
    file_server.add("/a/m.gguf", Route(b"GGUF first"))
    file_server.add("/b/m.gguf", Route(b"GGUF second"))
    a = download_model(file_server.url("/a/m.gguf"), cache_dir=tmp_path, progress=False)
    b = download_model(file_server.url("/b/m.gguf"), cache_dir=tmp_path, progress=False)
    assert (a.read_bytes(), b.read_bytes()) == (b"GGUF first", b"GGUF second")


def test_concurrent_downloads_of_one_file_do_not_corrupt_it(
    file_server: FileServer, tmp_path: Path
) -> None:
    route = file_server.add("/m.gguf", Route(BODY, chunk_delay=0.05))
    url = file_server.url("/m.gguf")
    results: list[Path | BaseException] = []

    def fetch() -> None:
        try:
            results.append(download_model(url, sha256=DIGEST, cache_dir=tmp_path, progress=False))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 3
    assert all(isinstance(r, Path) for r in results), results
    assert len(set(results)) == 1
    assert Path(str(results[0])).read_bytes() == BODY
    assert route.full_bodies == 1


def test_environment_variable_chooses_the_cache(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOMEFIRE_CACHE_DIR", str(tmp_path / "env"))
    file_server.add("/m.gguf", Route(BODY))
    path = download_model(file_server.url("/m.gguf"), progress=False)
    assert path.parent.parent == tmp_path / "env" / "models"


@given(st.text())
def test_safe_names_never_leave_their_folder(raw: str) -> None:
    name = _safe_name(raw)
    if name is None:
        return
    folder = Path("/cache/abc")
    assert (folder / name).parent == folder
    assert name and not name.startswith(".")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert len(name.encode()) <= 200


def test_no_progress_output_when_stderr_is_not_a_terminal(
    file_server: FileServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    file_server.add("/m.gguf", Route(BODY))
    download_model(file_server.url("/m.gguf"), cache_dir=tmp_path, progress=True)
    assert capfd.readouterr() == ("", "")


def test_progress_bar_on_a_terminal(file_server: FileServer, tmp_path: Path) -> None:
    file_server.add("/bar.gguf", Route(BODY))
    script = (
        "import sys\n"
        "from homefire.modelfiles.download import download_model\n"
        "print(download_model(sys.argv[1], cache_dir=sys.argv[2]))\n"
    )
    main, secondary = pty.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", script, file_server.url("/bar.gguf"), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=secondary,
            text=True,
        )
        os.close(secondary)
        stdout, _ = child.communicate(timeout=60)
        terminal = b""
        while select.select([main], [], [], 0.5)[0]:
            try:
                data = os.read(main, 65536)
            except OSError:
                break
            if not data:
                break
            terminal += data
    finally:
        os.close(main)
    assert child.returncode == 0
    assert stdout.strip().endswith("bar.gguf")
    screen = terminal.decode(errors="replace")
    assert "bar.gguf" in screen
    assert "300.0/300.0 kB" in screen


def test_long_names_are_shortened_keeping_the_extension() -> None:
    assert _safe_name("é" * 300 + ".gguf") == "é" * 97 + ".gguf"
    assert len(_safe_name("x" * 1_000_000) or "") == 200
