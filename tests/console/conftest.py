"""The console's browser tests: Debian's Chromium (``make system-deps``) driven headless by
Playwright (the ``test`` extra). Without either the tests are skipped locally and fail with
``CI=true``, like a missing service (``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.missing import unavailable


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Chromium: ``DALSTON_TEST_CHROMIUM``, else the first of the usual names on PATH."""
    candidates = [os.environ.get("DALSTON_TEST_CHROMIUM")] + [
        shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
    ]
    path = next((c for c in candidates if c and Path(c).exists()), None)
    if path is None:
        unavailable("Chromium is not installed (make system-deps: apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            # Playback starts from the test's script, not from a user's click.
            args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    """Where the run leaves its screenshots (printed by the test): bench-results/console/."""
    path = Path(os.environ.get("DALSTON_SCREENSHOTS", REPO / "bench-results" / "console"))
    path.mkdir(parents=True, exist_ok=True)
    return path
