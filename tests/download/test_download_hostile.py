"""Downloads that go wrong on purpose: nothing but the whole, right file is ever kept."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from pathlib import Path

import pytest
from loopback_files import FileServer, Route

import homefire as hf
from homefire.modelfiles.download import download_model
from tinymodels import write_tiny_model

pytestmark = pytest.mark.unit

BODY = b"GGUF" + os.urandom(299_996)
LOGIN = b"<!DOCTYPE html>\n<html><head><title>Log in | Hub</title></head><body>form</body></html>"
TOKEN = "hf_" + "s3cr3t" * 6


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}


def test_a_body_shorter_than_its_length_is_never_the_file(
    file_server: FileServer, tmp_path: Path
) -> None:
    file_server.add("/m.gguf", Route(BODY, cut_after=150_000, cuts_left=5))
    for _ in range(2):
        with pytest.raises(hf.DownloadError, match=r"bytes, expected .*resume"):
            download_model(file_server.url("/m.gguf"), cache_dir=tmp_path, progress=False)
        assert files_in(tmp_path) == {"m.gguf.part", "m.gguf.part.json"}


def test_a_body_without_length_or_checksum_is_not_kept(
    file_server: FileServer, tmp_path: Path
) -> None:
    route = file_server.add("/m.bin", Route(BODY, length=False, cut_after=100_000))
    url = file_server.url("/m.bin")
    with pytest.raises(hf.DownloadError, match="did not say how long the file is"):
        download_model(url, cache_dir=tmp_path, progress=False)
    assert files_in(tmp_path) == set()
    # the same body whole, still without a length: only a checksum can vouch for it
    with pytest.raises(hf.DownloadError, match="pass sha256="):
        download_model(url, cache_dir=tmp_path, progress=False)
    digest = hashlib.sha256(BODY).hexdigest()
    path = download_model(url, sha256=digest, cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == BODY
    assert route.full_bodies == 3


def test_a_gguf_without_length_is_kept_only_when_it_holds_all_its_tensors(
    file_server: FileServer, tmp_path: Path
) -> None:
    model = write_tiny_model(tmp_path / "tiny.gguf").read_bytes()
    file_server.add("/cut.gguf", Route(model, length=False, cut_after=len(model) - 1000))
    file_server.add("/whole.gguf", Route(model, length=False))
    with pytest.raises(hf.DownloadError, match="did not say how long"):
        download_model(file_server.url("/cut.gguf"), cache_dir=tmp_path / "c", progress=False)
    path = download_model(file_server.url("/whole.gguf"), cache_dir=tmp_path / "c", progress=False)
    assert path.read_bytes() == model


def test_a_resume_asks_for_the_same_file_with_if_range(
    file_server: FileServer, tmp_path: Path
) -> None:
    route = file_server.add("/m.gguf", Route(BODY, cut_after=100_000))
    url = file_server.url("/m.gguf")
    with pytest.raises(hf.DownloadError):
        download_model(url, cache_dir=tmp_path, progress=False)
    path = download_model(url, cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == BODY
    assert route.range_headers == [None, "bytes=100000-"]
    assert route.if_range_headers == [None, route.validators()["ETag"]]
    assert route.full_bodies == 1


def test_a_resume_uses_last_modified_without_an_etag(
    file_server: FileServer, tmp_path: Path
) -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    route = file_server.add(
        "/m.gguf", Route(BODY, cut_after=100_000, etag=None, last_modified=date)
    )
    url = file_server.url("/m.gguf")
    with pytest.raises(hf.DownloadError):
        download_model(url, cache_dir=tmp_path, progress=False)
    assert download_model(url, cache_dir=tmp_path, progress=False).read_bytes() == BODY
    assert route.if_range_headers == [None, date]


def test_a_file_that_changed_on_the_server_is_fetched_again_whole(
    file_server: FileServer, tmp_path: Path
) -> None:
    route = file_server.add("/m.gguf", Route(BODY, cut_after=100_000))
    url = file_server.url("/m.gguf")
    with pytest.raises(hf.DownloadError):
        download_model(url, cache_dir=tmp_path, progress=False)
    old_etag = route.validators()["ETag"]
    newer = b"GGUF" + os.urandom(299_996)
    route.body = newer
    path = download_model(url, cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == newer  # not the first 100,000 bytes of the old one
    assert route.if_range_headers[-1] == old_etag
    assert route.full_bodies == 2


def test_a_part_without_a_validator_starts_over(file_server: FileServer, tmp_path: Path) -> None:
    route = file_server.add("/m.gguf", Route(BODY, cut_after=100_000, etag=None))
    url = file_server.url("/m.gguf")
    with pytest.raises(hf.DownloadError):
        download_model(url, cache_dir=tmp_path, progress=False)
    assert download_model(url, cache_dir=tmp_path, progress=False).read_bytes() == BODY
    assert route.range_headers == [None, None]


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_a_login_page_is_not_kept_and_the_retry_downloads_again(
    file_server: FileServer, tmp_path: Path, content_type: str
) -> None:
    route = file_server.add("/m.gguf", Route(LOGIN, content_type=content_type))
    url = file_server.url("/m.gguf")
    with pytest.raises(hf.DownloadError, match=r"web page .*not kept.*token="):
        download_model(url, cache_dir=tmp_path, progress=False)
    assert files_in(tmp_path) == set()
    route.body, route.content_type = BODY, "application/octet-stream"
    assert download_model(url, cache_dir=tmp_path, progress=False).read_bytes() == BODY
    assert route.full_bodies == 2


def test_a_gguf_name_with_other_content_is_not_kept(
    file_server: FileServer, tmp_path: Path
) -> None:
    file_server.add("/m.gguf", Route(b'{"error": "not found"}'))
    with pytest.raises(hf.DownloadError, match="not a GGUF model"):
        download_model(file_server.url("/m.gguf"), cache_dir=tmp_path, progress=False)
    assert files_in(tmp_path) == set()


def test_a_cached_gguf_that_is_not_one_is_downloaded_again(
    file_server: FileServer, tmp_path: Path
) -> None:
    route = file_server.add("/m.gguf", Route(BODY))
    url = file_server.url("/m.gguf")
    download_model(url, cache_dir=tmp_path, progress=False).write_bytes(LOGIN)
    assert download_model(url, cache_dir=tmp_path, progress=False).read_bytes() == BODY
    assert route.full_bodies == 2


def test_a_token_is_sent_as_a_bearer_header(file_server: FileServer, tmp_path: Path) -> None:
    route = file_server.add("/m.gguf", Route(BODY))
    download_model(file_server.url("/m.gguf"), cache_dir=tmp_path, progress=False, token=TOKEN)
    assert route.authorizations == [f"Bearer {TOKEN}"]


def test_the_environment_token_goes_only_to_hugging_face(
    file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    elsewhere = file_server.add("/m.gguf", Route(BODY))
    download_model(file_server.url("/m.gguf"), cache_dir=tmp_path, progress=False)
    assert elsewhere.authorizations == [None]
    # A request to huggingface.co through an HTTP proxy on loopback: the proxy sees the token.
    hub_url = "http://huggingface.co/org/repo/resolve/main/m.gguf"
    hub = file_server.add(hub_url, Route(BODY))
    monkeypatch.setenv("HTTP_PROXY", file_server.url(""))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    download_model(hub_url, cache_dir=tmp_path, progress=False)
    assert hub.authorizations == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("status", [401, 403, 500])
def test_a_token_is_never_written_to_messages_or_logs(
    file_server: FileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    file_server.add("/m.gguf", Route(BODY, status=status))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(hf.DownloadError) as info:
        download_model(file_server.url("/m.gguf"), cache_dir=tmp_path, progress=False, token=TOKEN)
    assert "token" in str(info.value) or status == 500
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(hf.DownloadError) as unreachable:
        download_model(f"http://127.0.0.1:{port}/m.gguf", cache_dir=tmp_path, token=TOKEN)
    for error in (info.value, unreachable.value):
        seen = [error, error.__cause__, error.__context__]
        assert not any(TOKEN in f"{e} {e!r}" for e in seen if e is not None)
    assert caplog.records and not any(TOKEN in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("token", ["", "with space", "line\nbreak", "\x00", 42])
def test_a_malformed_token_is_refused_without_echoing_it(token: object, tmp_path: Path) -> None:
    with pytest.raises(hf.InvalidParameterError, match="token") as info:
        download_model("http://127.0.0.1:9/m.gguf", cache_dir=tmp_path, token=token)  # type: ignore[arg-type]
    assert str(token) not in str(info.value).replace("'token'", "") or token == ""
