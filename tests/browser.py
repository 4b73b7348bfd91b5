"""Debian's Chromium driven by Playwright (no browser download): the headless browser the
dashboard tests open pages in. CDP_CHROMIUM names another binary. Without one, the tests skip
locally and fail under CI=true."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

#: what the machine's closed network needs: no background fetches, no sandbox as root
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


def chromium_path() -> str:
    path = os.environ.get("CDP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI") == "true":
            raise RuntimeError("no Chromium (apt-get install chromium, or set CDP_CHROMIUM): .ci/run installs it")
        pytest.skip("no Chromium on this machine (apt-get install chromium, or set CDP_CHROMIUM)")
    return path


@contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator[tuple[object, list[str]]]:
    """A new page and the list its console errors and uncaught exceptions are appended to."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
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
