"""The documentation site builds with warnings as errors, and renders in a real browser.

The site is built once per session (`mkdocs build --strict`, as `make docs` does), served from
a loopback HTTP server, and opened in headless Chromium (Debian's, `/usr/bin/chromium`;
`scripts/install-chromium.sh` installs it) through Playwright: the start page, a runtime page
and the API reference show their text, no page raises a script error or asks any other server
for a part of it (fonts included: the browser may reach only loopback), and every internal
link of every page leads to a page that exists, and to an anchor on it that exists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

import homefire as hf
from components import require, require_module
from threaded_http import serving_files

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("HOMEFIRE_CHROMIUM", "/usr/bin/chromium"))
# What Chromium needs to run headless in a container, without reaching out anywhere.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_IDS = re.compile(r'\bid="([^"]+)"')


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built like `make docs` builds it (strict: any warning fails the build)."""
    require_module("mkdocs", "install the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    return out


@pytest.fixture(scope="session")
def site_url(site: Path) -> Iterator[str]:
    with serving_files(site) as url:
        yield url


@dataclass
class Browser:
    context: Any
    errors: list[str]
    outside: list[str]
    """Requests a page made to any other server than the site's (refused)."""

    def open(self, url: str) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{url}: {exc}"))
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, f"{url}: {response}"
        return page


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Chromium, for this module's tests only (it is closed before the rest of the suite)."""
    require_module("playwright", "pip install -e '.[dev]'")
    require(CHROMIUM.exists(), f"Chromium ({CHROMIUM})", "run scripts/install-chromium.sh")
    from playwright import sync_api

    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        browser = Browser(context, [], [])

        def only_loopback(route: Any) -> None:
            url = route.request.url
            if urlsplit(url).hostname == "127.0.0.1":
                route.continue_()
            else:
                browser.outside.append(url)
                route.abort()

        context.route("**/*", only_loopback)
        try:
            yield browser
        finally:
            context.close()


def _visible_text(page: Any) -> str:
    return str(page.locator("article").inner_text())


@pytest.mark.integration
def test_start_page_renders(browser: Browser, site_url: str) -> None:
    page = browser.open(site_url)
    assert page.title().startswith("homefire")
    text = _visible_text(page)
    assert "One fast, typed Python interface to every local LLM runtime" in text
    assert "import homefire as hf" in text
    assert page.get_by_role("link", name="Getting started").first.is_visible()
    page.close()
    assert browser.errors == []
    assert browser.outside == [], "the page asks other servers for its parts"


@pytest.mark.integration
def test_a_runtime_page_renders(browser: Browser, site_url: str) -> None:
    page = browser.open(urljoin(site_url, "runtimes/ollama/"))
    assert page.locator("article h1").inner_text().removesuffix("¶").strip() == "Ollama"
    text = _visible_text(page)
    for expected in ("How homefire talks to it", "POST /api/chat", "ollama pull llama3.2"):
        assert expected in text
    page.get_by_text("examples/ollama.py", exact=True).first.click()  # open the example
    assert "keep_alive=" in _visible_text(page)
    page.close()
    assert browser.errors == []


@pytest.mark.integration
def test_the_api_reference_renders(browser: Browser, site_url: str) -> None:
    page = browser.open(urljoin(site_url, "reference/providers/"))
    text = _visible_text(page)
    for expected in ("hf.LlamaCPP", "hf.Ollama", "hf.Embedding", "model_path", "keep_alive"):
        assert expected in text
    page.close()
    assert browser.errors == []


@pytest.mark.integration
def test_the_reference_documents_every_public_name(site: Path) -> None:
    ids = set()
    for html in (site / "reference").rglob("*.html"):
        ids |= set(_IDS.findall(html.read_text(encoding="utf-8")))
    names = {name for name in hf.__all__ if name != "__version__"}
    missing = {name for name in names if not any(i.endswith(f".{name}") for i in ids)}
    # LlamaCppServer is another name of Llamafile, documented under it.
    assert missing <= {"LlamaCppServer"}, f"the API reference lacks {sorted(missing)}"


def _internal(url: str, site_url: str) -> bool:
    return url.startswith(site_url)


@pytest.mark.integration
def test_no_internal_link_is_broken(browser: Browser, site_url: str) -> None:
    """Crawl every page reachable from the start page, following the links in the DOM."""
    to_visit, seen, ids = [site_url], {site_url}, {}
    links: list[tuple[str, str]] = []
    page = browser.context.new_page()
    page.on("pageerror", lambda exc: browser.errors.append(str(exc)))
    while to_visit:
        url = to_visit.pop()
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, f"{url} is broken"
        ids[url] = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        for href in hrefs:
            if not _internal(href, site_url):
                continue
            links.append((url, href))
            target = urldefrag(href).url
            if target not in seen and not urlsplit(target).path.endswith((".xml", ".gz", ".inv")):
                seen.add(target)
                to_visit.append(target)
    page.close()
    assert len(ids) > 20, f"only {len(ids)} pages were reached"
    broken = [
        f"{source} -> {href}"
        for source, href in links
        if (fragment := urldefrag(href).fragment)
        and urldefrag(href).url in ids
        and fragment not in ids[urldefrag(href).url]
    ]
    assert not broken, "links to anchors that do not exist:\n" + "\n".join(broken)
    assert browser.errors == []
    assert browser.outside == [], f"pages ask other servers for their parts: {browser.outside}"
