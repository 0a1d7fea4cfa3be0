"""Real-browser helpers: where Debian's Chromium and chromedriver are (and a skip mark for where they are not), the
flags they run with, screenshots and their sizes, and the merchant site a portal's Return link leads to. The fixtures
that use them are in tests/browser/conftest.py.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from selenium import webdriver

from tests.support.local_service import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
WAIT_SECONDS = 10.0  # every wait in these tests is bounded by this
PAGE_LOAD_SECONDS = 15.0
WINDOW_SIZE = (1024, 768)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-proxy-server",  # only 127.0.0.1 is ever visited, whatever proxy the environment names
    f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
)
MERCHANT_TITLE = "Your account (merchant site stand-in)"
_MISSING = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
MISSING_BROWSER = (
    f"{' and '.join(_MISSING)} not installed: apt-get install chromium chromium-driver" if _MISSING else ""
)
# For a test module's `pytestmark`: skips before any fixture runs (the service takes seconds to start).
requires_chromium = pytest.mark.skipif(bool(MISSING_BROWSER), reason=MISSING_BROWSER)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def save_screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """The current viewport as test-artifacts/browser/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    path.write_bytes(driver.get_screenshot_as_png())
    return path


def viewport_size(driver: webdriver.Chrome) -> tuple[int, int]:
    """The page's viewport in device pixels: the size of a screenshot of it."""
    width, height = driver.execute_script(
        "return [window.innerWidth, window.innerHeight].map(n => Math.round(n * window.devicePixelRatio))"
    )
    return int(width), int(height)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header; fails if the file is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@dataclass
class MerchantSite:
    """A stand-in for the merchant's own site, where the portal's Return link leads: records every visit."""

    base_url: str
    visits: list[tuple[str, str | None]] = field(default_factory=list)  # (path with query, Referer header)

    def url(self, path: str) -> str:
        return self.base_url + path
