"""Fetch model files over HTTP(S) into a local cache: resumable, verified, safe to run twice.

Each URL gets its own folder in the cache (named by a hash of the URL), so two files that
share a name never overwrite each other. Bytes land in `<name>.part` and only become `<name>`
once complete and verified, with an atomic rename; a lock file in the folder keeps concurrent
downloads of the same URL, from threads or processes, from writing the same file at once.

Complete means: as long as the server said (Content-Length), or matching `sha256`, or (a GGUF
file) holding every tensor its header lists; a body that proves none of these is not kept.
A resume asks for the rest only if the file is still the one the part came from (`If-Range`
with the ETag or Last-Modified seen first); otherwise the server sends it whole. A page
instead of a file (a login form for a gated model) is never kept under the file's name.
A token for gated repositories goes in an `Authorization` header, and only there.
"""

from __future__ import annotations

import email.message
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from homefire._validate import seconds
from homefire._version import __version__
from homefire.errors import (
    ChecksumMismatchError,
    DownloadError,
    InvalidParameterError,
    MissingDependencyError,
    ModelFileError,
)

ProgressCallback = Callable[[int, int | None], None]
"""Called as `progress(done_bytes, total_bytes_or_None)` while a download runs."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_MAX_NAME_BYTES = 200
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-\d+/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")
_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_HUB_HOSTS = ("huggingface.co", "hf.co")
_TOKEN_CHARS = re.compile(r"[!-~]+")  # printable ASCII without spaces: nothing to inject
_HTML_START = re.compile(rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>])", re.I | re.S)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_GGUF_MAGIC = b"GGUF"


def download_model(
    url: str,
    *,
    sha256: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    filename: str | None = None,
    progress: bool | ProgressCallback = True,
    timeout: float = 30.0,
    token: str | None = None,
) -> Path:
    """Download `url` into the cache (or reuse the cached copy) and return the file's path.

    Raises DownloadError (ChecksumMismatchError for a wrong sha256) saying what to do, and
    InvalidParameterError for a URL that is not http(s) or an unsafe `filename`.
    `timeout` bounds connecting and each wait for more data, not the whole transfer.
    `progress=True` draws a bar on a terminal's stderr; a callable receives the byte counts.
    The cache is `cache_dir`, else `$HOMEFIRE_CACHE_DIR/models`, else the user cache folder.
    `token` is sent as `Authorization: Bearer ...` (for gated Hugging Face repositories);
    without it, `$HF_TOKEN` (or `$HUGGING_FACE_HUB_TOKEN`) is, to Hugging Face hosts only.
    Neither is written to any message or log.
    """
    _check_url(url)
    expected = _check_sha256(sha256)
    _check_timeout(timeout)
    if not (isinstance(progress, bool) or callable(progress)):
        raise InvalidParameterError("progress", "must be True, False or a callable(done, total)")
    secret = _token_for(url, token)
    name = _check_filename(filename) if filename is not None else _name_from_url(url)
    if name is None:
        name = _name_from_server(url, timeout, secret)

    folder = _models_dir(cache_dir) / hashlib.sha256(url.encode()).hexdigest()[:16]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            url, f"cannot create the cache folder {folder} ({exc.strerror}); pass cache_dir="
        ) from exc
    target = folder / name
    with _locked(folder / ".lock"):
        if target.is_file():
            if _reusable(target, expected):
                return target
            target.unlink()
        part = folder / f"{name}.part"
        with _reporter(progress, name) as report:
            whole = _fetch(url, part, report, timeout, secret)
        if expected is not None:
            actual = _file_sha256(part)
            if actual != expected:
                _forget(part)
                raise ChecksumMismatchError(url, expected, actual)
        _check_content(url, part, name, proven=whole or expected is not None)
        os.replace(part, target)
        _validator_file(part).unlink(missing_ok=True)
    return target


def _reusable(target: Path, expected: str | None) -> bool:
    if expected is not None:
        return _file_sha256(target) == expected
    return not target.name.lower().endswith(".gguf") or _starts_with(target, _GGUF_MAGIC)


# --- checking what the caller passed ------------------------------------------------------


def _check_url(url: object) -> None:
    if not isinstance(url, str):
        raise InvalidParameterError("url", f"must be a string, got {type(url).__name__}")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidParameterError("url", f"{url!r} is not a valid URL ({exc})") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidParameterError(
            "url",
            f"{url!r} is not an http:// or https:// URL; only those can be downloaded "
            "(pass a local file as model_path= instead)",
        )


def _check_sha256(sha256: object) -> str | None:
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256.strip().lower()):
        raise InvalidParameterError("sha256", "must be 64 hexadecimal characters")
    return sha256.strip().lower()


def _check_timeout(timeout: object) -> None:
    seconds("timeout", timeout)


def _token_for(url: str, token: object) -> str | None:
    """The token to send: the argument, else the usual variables for Hugging Face hosts (a
    token from the environment never goes to a host the caller did not mean it for)."""
    if token is None:
        host = httpx.URL(url).host
        if not any(host == hub or host.endswith("." + hub) for hub in _HUB_HOSTS):
            return None
        token = next((os.environ[v] for v in _TOKEN_VARIABLES if os.environ.get(v)), None)
        if token is None:
            return None
    if not isinstance(token, str) or not _TOKEN_CHARS.fullmatch(token.strip()):
        # never echo the value: it is a secret, however malformed
        raise InvalidParameterError(
            "token", "must be a non-empty string of printable characters without spaces"
        )
    return token.strip()


def _check_filename(filename: object) -> str:
    if not isinstance(filename, str) or _safe_name(filename) != filename:
        raise InvalidParameterError(
            "filename",
            f"{filename!r} is not a plain file name; use a name without folders, "
            "leading dots or special characters, such as 'model.gguf'",
        )
    return filename


# --- file names ---------------------------------------------------------------------------


def _safe_name(raw: str) -> str | None:
    """The last path component of `raw`, with nothing that could leave or confuse the folder."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_CHARS.sub("_", name).strip().lstrip(".").strip()
    if not name:
        return None
    if len(name.encode()) > _MAX_NAME_BYTES:
        stem, dot, suffix = name.rpartition(".")
        keep = f".{suffix}" if dot and stem and len(suffix.encode()) < 16 else ""
        head = (stem if keep else name).encode()[: _MAX_NAME_BYTES - len(keep.encode())]
        name = head.decode(errors="ignore") + keep
    return name


def _name_from_url(url: str) -> str | None:
    return _safe_name(httpx.URL(url).path)


def _name_from_server(url: str, timeout: float, token: str | None) -> str:
    """Ask the server (Content-Disposition) when the URL's path names no file."""
    with (
        _client(timeout, token) as client,
        _errors_as_download_error(url, None, timeout),
        client.stream("GET", url) as response,
    ):
        _raise_for_status(response, url, token)
        header = response.headers.get("content-disposition", "")
    parsed = email.message.Message()
    parsed["content-disposition"] = header
    offered = parsed.get_filename()
    name = _safe_name(offered) if offered else None
    if name is None:
        raise DownloadError(
            url, "neither the URL nor the server names the file; pass filename='model.gguf'"
        )
    return name


def _models_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    configured = os.environ.get("HOMEFIRE_CACHE_DIR")
    if configured:
        return Path(configured).expanduser() / "models"
    import platformdirs

    return Path(platformdirs.user_cache_dir("homefire")) / "models"


# --- the transfer ---------------------------------------------------------------------------


def _client(timeout: float, token: str | None) -> httpx.Client:
    # identity encoding: byte ranges and Content-Length then refer to the file itself.
    # httpx drops the Authorization header on a redirect to another host (a CDN's signed URL).
    headers = {"user-agent": f"homefire/{__version__}", "accept-encoding": "identity"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True, headers=headers)


def _fetch(
    url: str, part: Path, report: ProgressCallback, timeout: float, token: str | None
) -> bool:
    """Fill `part`; whether its size was proven whole by the server's own count."""
    with _client(timeout, token) as client:
        whole = _transfer(client, url, part, report, timeout, token)
        if whole is None:
            _forget(part)
            whole = _transfer(client, url, part, report, timeout, token)
        return bool(whole)


def _validator_file(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _forget(part: Path) -> None:
    """Drop a part file and what was known about the file it came from."""
    part.unlink(missing_ok=True)
    _validator_file(part).unlink(missing_ok=True)


def _validator(part: Path) -> str | None:
    """What identifies the file `part` holds the start of: its strong ETag, else its date."""
    try:
        seen = json.loads(_validator_file(part).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    value = seen.get("validator") if isinstance(seen, dict) else None
    return value if isinstance(value, str) else None


def _remember_validator(part: Path, response: httpx.Response) -> None:
    etag = response.headers.get("etag", "")
    validator = etag if etag and not etag.startswith("W/") else None
    validator = validator or response.headers.get("last-modified")
    if validator is None:
        _validator_file(part).unlink(missing_ok=True)
        return
    _validator_file(part).write_text(json.dumps({"validator": validator}))


def _transfer(
    client: httpx.Client,
    url: str,
    part: Path,
    report: ProgressCallback,
    timeout: float,
    token: str | None,
) -> bool | None:
    """Fill `part`, resuming from its current size when the server still has the same file.

    None when the part must start over (the server refused the range); else whether the
    server's own count (Content-Length, Content-Range) proves the part whole.
    """
    have = part.stat().st_size if part.exists() else 0
    validator = _validator(part) if have else None
    if have and validator is None:  # nothing tells that the server still has that file
        _forget(part)
        have = 0
    headers = {"range": f"bytes={have}-", "if-range": validator} if validator else {}
    with (
        _errors_as_download_error(url, part, timeout),
        client.stream("GET", url, headers=headers) as response,
    ):
        if response.status_code == 416 and have:
            # nothing left to send: either the part is already whole or it is not this file
            match = _UNSATISFIED_RANGE.match(response.headers.get("content-range", ""))
            return True if match is not None and int(match.group(1)) == have else None
        _raise_for_status(response, url, token)
        offset, total = 0, _content_length(response)
        if have and response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if match is None or int(match.group(1)) != have:
                return None
            offset = have
            total = None if match.group(2) == "*" else int(match.group(2))
        else:  # a whole body: the file is new, or changed since the part began
            _remember_validator(part, response)
        _refuse_a_page(url, part, response)
        done = _write_body(response, part, offset, total, report, url)
    if total is not None and done < total:
        raise DownloadError(
            url,
            f"the server closed the connection after {done} of {total} bytes; "
            "run the download again to resume it",
        )
    if done == 0:
        _forget(part)
        raise DownloadError(url, "the server sent an empty file; check the URL")
    return total is not None


def _refuse_a_page(url: str, part: Path, response: httpx.Response) -> None:
    """A web page where a file was expected (a login form, an error page served with 200)."""
    if response.headers.get("content-type", "").split(";")[0].strip().lower() != "text/html":
        return
    _forget(part)
    raise _page_error(url, "")


def _page_error(url: str, title: str) -> DownloadError:
    named = f" ({title!r})" if title else ""
    return DownloadError(
        url,
        f"the server sent a web page{named} instead of the file, so it was not kept: the file "
        "may need a login (for a gated Hugging Face model, accept its terms on the website "
        "and pass token= or set HF_TOKEN), or the URL points to a page rather than a download",
    )


def _check_content(url: str, part: Path, name: str, *, proven: bool) -> None:
    """Refuse, and drop, a body that is not the file: an HTML page, a `.gguf` that is not
    GGUF, or a body nothing proves whole."""
    with open(part, "rb") as handle:
        head = handle.read(65536)
    if _HTML_START.match(head):
        found = _HTML_TITLE.search(head)
        title = " ".join(found.group(1).decode("utf-8", "replace").split())[:120] if found else ""
        _forget(part)
        raise _page_error(url, title)
    is_gguf = name.lower().endswith(".gguf")
    if is_gguf and not head.startswith(_GGUF_MAGIC):
        _forget(part)
        raise DownloadError(
            url, f"the server sent a file that is not a GGUF model (it starts with "
            f"{head[:16]!r}), so it was not kept; check the URL"
        )  # fmt: skip
    if proven:
        return
    if is_gguf and _gguf_is_whole(part):
        return
    _forget(part)
    raise DownloadError(
        url,
        "the server did not say how long the file is, so a transfer cut short cannot be told "
        "from a whole one and the file was not kept; pass sha256= to check it instead",
    )


def _gguf_is_whole(part: Path) -> bool:
    """Whether a GGUF file holds all the tensor data its header lists (its own length)."""
    from homefire.modelfiles.gguf import read_model_file

    try:
        read_model_file(part)
    except (ModelFileError, MissingDependencyError):
        return False
    return True


def _starts_with(path: Path, prefix: bytes) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(prefix)) == prefix
    except OSError:
        return False


def _write_body(
    response: httpx.Response,
    part: Path,
    offset: int,
    total: int | None,
    report: ProgressCallback,
    url: str,
) -> int:
    done = offset
    try:
        with open(part, "ab" if offset else "wb") as out:
            report(done, total)
            for chunk in response.iter_bytes():
                out.write(chunk)
                done += len(chunk)
                report(done, total)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise DownloadError(
            url, f"cannot write {part} ({exc.strerror}); free some disk space or pass cache_dir="
        ) from exc
    return done


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _raise_for_status(response: httpx.Response, url: str, token: str | None) -> None:
    status = response.status_code
    if status < 400:
        return
    if status in (401, 403):
        problem = (
            f"access was refused (HTTP {status}) to the token that was sent; check that it "
            "is valid and has access to this repository (gated models need their terms "
            "accepted on the website)"
            if token is not None
            else f"access was refused (HTTP {status}); the file may need a login (for a "
            "gated Hugging Face model pass token= or set HF_TOKEN), or the URL is wrong"
        )
    elif status == 404:
        problem = "the server has no such file (HTTP 404); check the URL"
    else:
        problem = f"the server answered HTTP {status}; try again later or check the URL"
    raise DownloadError(url, problem)


@contextmanager
def _errors_as_download_error(url: str, part: Path | None, timeout: float) -> Iterator[None]:
    """Turn transport failures into a DownloadError that says whether a rerun resumes."""
    kept = f"; the partial file {part} is kept, run the download again to resume" if part else ""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        raise DownloadError(
            url, f"could not connect within {timeout:g}s; check the URL and the network"
        ) from exc
    except httpx.TimeoutException as exc:
        raise DownloadError(url, f"the server sent no data for {timeout:g}s{kept}") from exc
    except httpx.ConnectError as exc:
        raise DownloadError(
            url, f"could not connect ({exc}); check the URL and the network"
        ) from exc
    except httpx.TooManyRedirects as exc:
        raise DownloadError(url, "the server redirected too many times; check the URL") from exc
    except httpx.HTTPError as exc:
        raise DownloadError(
            url, f"the connection failed ({exc or type(exc).__name__}){kept}"
        ) from exc


# --- helpers ------------------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextmanager
def _reporter(progress: bool | ProgressCallback, label: str) -> Iterator[ProgressCallback]:
    if not isinstance(progress, bool):
        yield progress
    elif progress and sys.stderr.isatty() and _has_rich():
        with _rich_bar(label) as update:
            yield update
    else:
        yield _ignore_progress


def _ignore_progress(done: int, total: int | None) -> None:
    """Progress sink when nobody is watching."""


def _has_rich() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def _rich_bar(label: str) -> Iterator[ProgressCallback]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


if sys.platform == "win32":
    import msvcrt
    import time

    def _lock(fd: int) -> None:
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return
            except OSError:
                time.sleep(0.1)

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (waits while another download of this URL runs)."""
    with open(path, "a+b") as handle:
        _lock(handle.fileno())
        try:
            yield
        finally:
            _unlock(handle.fileno())
