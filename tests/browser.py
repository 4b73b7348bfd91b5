"""The dashboard tests' browser: dashboard.browser's headless Chromium, or a skip with the reason
when the machine has none (a failure under CI=true, where .ci/run installs it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from dashboard import browser


@contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator[tuple[Any, list[str]]]:
    if not browser.find_chromium():
        if os.environ.get("CI") == "true":
            raise RuntimeError("no Chromium (apt-get install chromium, or set CDP_CHROMIUM): .ci/run installs it")
        pytest.skip("no Chromium on this machine (apt-get install chromium, or set CDP_CHROMIUM)")
    with browser.browser_page(width, height) as opened:
        yield opened
