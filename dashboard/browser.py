"""Opening dashboard pages in a headless Chromium (Debian's package, driven by Playwright; nothing
is downloaded): for the tests, the screenshots in docs/ and the benchmark. CDP_CHROMIUM names
another binary."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: what a closed network needs: no background fetches or updates; no sandbox when run as root
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


def find_chromium() -> str | None:
    return os.environ.get("CDP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator[tuple[Any, list[str]]]:
    """A new page, and the list its console errors and warnings, uncaught exceptions, failed requests
    and requests for anything not on disk are appended to."""
    from playwright.sync_api import sync_playwright

    path = find_chromium()
    if not path:
        raise FileNotFoundError("no Chromium: apt-get install chromium, or set CDP_CHROMIUM to its binary")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            # offline: a page asks for nothing but its own files
            page.on("request", lambda r: None if r.url.startswith("file://")
                    else problems.append(f"request off the disk: {r.url}"))
            yield page, problems
        finally:
            browser.close()


def open_page(page: Any, url: str, timeout_ms: int = 10_000) -> None:
    """Go to a dashboard page and wait until its renderer has drawn every tile."""
    page.goto(url)
    page.wait_for_selector("body[data-rendered=true]", timeout=timeout_ms)
