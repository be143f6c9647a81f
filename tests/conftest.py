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


#: Open every <details>, then list elements sticking out of the window (and the widths).
OVERFLOW_SCRIPT = """
const done = arguments[arguments.length - 1];
document.querySelectorAll('details').forEach(d => { d.open = true; });
const vw = document.documentElement.clientWidth;
const wide = [];
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.width > 0 && (r.right > vw + 0.5 || r.left < -0.5)) {
    wide.push(el.tagName + '.' + el.className + ' right=' + Math.round(r.right));
  }
}
done({vw: vw, scroll: document.documentElement.scrollWidth, wide: wide.slice(0, 10)});
"""


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


def check_page(path: Path, *, wait_s: float = 10.0, script: str | None = None,
               width: int | None = None, overflow: bool = False) -> PageCheck:
    """Load ``path`` and return its console errors and the images that did not decode.

    ``script``, when given, is run with ``execute_async_script`` after the images
    decoded (it must call its last argument); its value is ``script_result``.
    ``width``, when given, is the width of the browser window in pixels.
    ``overflow=True`` runs :data:`OVERFLOW_SCRIPT`: ``script_result`` is then
    ``{"vw": window width, "scroll": page scroll width, "wide": elements sticking out}``.
    Check both: a table wider than the window sits in a scrolling wrapper (it is in
    ``wide``, the page does not scroll), while text running out of its box (an
    unwrapped ``<pre>``) widens the page (``scroll > vw``) but not the box.
    """
    if overflow:
        if script is not None:
            raise ValueError("give 'script' or 'overflow=True', not both")
        script = OVERFLOW_SCRIPT
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
        if width is not None:
            driver.set_window_size(width, 1000)
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


def assert_no_reprs(html: str) -> None:
    """The text of a report (scripts and styles aside) holds no Python list, dict or object
    repr: captions, headings and methods name things in words."""
    import html as html_lib
    import re

    text = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", text))
    for pattern in (r"\[['\"]", r"\{['\"]", r"\b(AtlasRegion|Sphere|ALFF|FALFF|SeedFC)\("):
        found = re.search(pattern, text)
        assert found is None, text[max(found.start() - 200, 0):found.end() + 100]


def check_study_report(result, min_images: int = 8) -> None:
    """A study report has no reprs in its text, and opens in Chromium at 1280 px: no console
    error, every figure of the run decodes, and nothing is wider than the window with every
    folded section open."""
    assert_no_reprs(result.report_path.read_text())
    page = check_page(result.report_path, width=1280, overflow=True)
    assert page.console_errors == []
    assert page.broken_images == []
    assert page.n_images == len(result.figures) >= min_images
    assert page.script_result["wide"] == [], page.script_result
    assert page.script_result["scroll"] <= page.script_result["vw"], page.script_result


@pytest.fixture
def repr_checker():
    """Return :func:`assert_no_reprs`."""
    return assert_no_reprs


@pytest.fixture
def report_checker():
    """Return :func:`check_study_report` (skips locally, fails in CI, without Chromium)."""
    return check_study_report


# --- the two gzip inflaters and damaged .gz files (io, rois, extractors, _gzip tests) ------
class GzipDamage:
    """Ways a ``.gz`` file gets damaged (a cut copy, a flipped bit), applied in place."""

    @staticmethod
    def truncate(path: Path, keep: float = 0.5) -> None:
        """Keep the first ``keep`` fraction of the bytes."""
        raw = path.read_bytes()
        path.write_bytes(raw[: int(len(raw) * keep)])

    @staticmethod
    def bad_crc(path: Path) -> None:
        """Flip a byte of the CRC-32 in the gzip trailer: the data themselves are intact."""
        raw = bytearray(path.read_bytes())
        raw[-6] ^= 0xFF
        path.write_bytes(bytes(raw))

    @staticmethod
    def zeroed_stream(path: Path) -> None:
        """Zeros over 64 bytes in the middle of the deflate stream."""
        raw = bytearray(path.read_bytes())
        middle = len(raw) // 2
        raw[middle:middle + 64] = bytes(64)
        path.write_bytes(bytes(raw))


@pytest.fixture
def gzip_damage():
    """The :class:`GzipDamage` functions."""
    return GzipDamage


@pytest.fixture(params=["isal", "zlib"])
def gzip_opener(request, monkeypatch):
    """Run a test with ISA-L gzip and with the standard library's zlib (painmarkers._gzip)."""
    from painmarkers import _gzip

    if request.param == "zlib":
        monkeypatch.setattr(_gzip, "_igzip", None)
    else:
        assert _gzip.isal_available()  # isal is a test dependency
    return request.param
