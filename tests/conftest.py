"""Shared pytest fixtures.

``page_checker``: open a local HTML file in headless Chromium and report console
errors and images that do not decode.

Uses Debian's ``chromium`` and ``chromium-driver`` (installed by ``.ci/run``) through
selenium with an explicit driver path, so nothing is downloaded. On a developer machine
without Chromium the browser tests are skipped; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@dataclass
class PageCheck:
    console_errors: list[str]
    n_images: int
    broken_images: list[str]
    title: str
    script_result: object = None


def require_browser():
    """Skip (locally) or fail (in CI) when Chromium, its driver or selenium is missing."""
    missing = [n for n, p in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not p]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    if missing:
        msg = f"browser test needs {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def check_page(path: Path, *, wait_s: float = 10.0, script: str | None = None) -> PageCheck:
    """Load ``path`` and return its console errors and the images that did not decode.

    ``script``, when given, is run with ``execute_async_script`` after the images
    decoded (it must call its last argument); its value is ``script_result``.
    """
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        driver.set_page_load_timeout(wait_s * 6)
        driver.get(Path(path).resolve().as_uri())
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)))"
            ".then(() => done(true));")
        images = driver.execute_script(
            "return Array.from(document.images).map(i => "
            "[i.getAttribute('alt') || i.src.slice(0, 60), i.complete && i.naturalWidth > 0]);")
        driver.set_script_timeout(wait_s * 3)
        result = driver.execute_async_script(script) if script else None
        logs = driver.get_log("browser")
        errors = [e["message"] for e in logs if e.get("level") == "SEVERE"]
        return PageCheck(console_errors=errors, n_images=len(images),
                         broken_images=[name for name, ok in images if not ok],
                         title=driver.title, script_result=result)
    finally:
        driver.quit()


@pytest.fixture
def page_checker():
    """Return :func:`check_page` (skips locally, fails in CI, without Chromium)."""
    return check_page
