"""Real-browser fixtures: Debian's Chromium, headless, driven by Selenium through Debian's chromedriver.

The service is the end-to-end suite's own `python -m local_gateway run` subprocess (its `service` fixture, imported
below). Nothing is downloaded: Selenium gets the driver's path, so Selenium Manager never runs, and the browser is
told to make no background requests. Without /usr/bin/chromium or /usr/bin/chromedriver the tests are skipped
(`apt-get install chromium chromium-driver`). Screenshots go to test-artifacts/browser/ (gitignored), including one
of the page a failing test was on.
"""

from __future__ import annotations

import os
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.e2e import conftest as e2e
from tests.e2e.conftest import ROOT, LocalService

service = e2e.service  # the end-to-end suite's fixture: `python -m local_gateway run`, once per test session

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
_PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so the browser fixture knows at teardown whether the test failed."""
    report = yield
    item.stash.setdefault(_PHASE_REPORTS, {})[report.when] = report
    return report


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


@pytest.fixture
def chromium(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a new, empty profile; quit after the test (with a screenshot if it failed)."""
    if MISSING_BROWSER:
        pytest.skip(MISSING_BROWSER)
    failure_screenshot = f"failure-{request.node.name}"
    (ARTIFACTS / f"{failure_screenshot}.png").unlink(missing_ok=True)  # none left over from an earlier run
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    with warnings.catch_warnings():  # deprecated for a ClientConfig, which webdriver.Chrome does not take (4.51)
        warnings.simplefilter("ignore", DeprecationWarning)
        options.ignore_local_proxy_environment_variables()  # Selenium to chromedriver: straight to localhost too
    driver = webdriver.Chrome(
        service=Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")),
        options=options,
    )
    try:
        driver.set_page_load_timeout(PAGE_LOAD_SECONDS)
        driver.set_script_timeout(WAIT_SECONDS)
        yield driver
        call = request.node.stash.get(_PHASE_REPORTS, {}).get("call")
        if call is not None and call.failed:
            save_screenshot(driver, failure_screenshot)
    finally:
        driver.quit()


@dataclass
class MerchantSite:
    """A stand-in for the merchant's own site, where the portal's Return link leads: records every visit."""

    base_url: str
    visits: list[tuple[str, str | None]] = field(default_factory=list)  # (path with query, Referer header)

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
def merchant_site() -> Iterator[MerchantSite]:
    """An HTTP server on 127.0.0.1 (a return_url may be http there, in test mode) answering every GET with a page."""
    site = MerchantSite(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.visits.append((self.path, self.headers.get("Referer")))
            body = (
                f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{MERCHANT_TITLE}</title>'
                '<link rel="icon" href="data:,"></head>'
                f"<body><h1>{MERCHANT_TITLE}</h1></body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="merchant-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=WAIT_SECONDS)


@pytest.fixture
def client(service: LocalService) -> stripe.StripeClient:
    # No retries: every answer here is final, and a retried request would hide what the first one got.
    return stripe.StripeClient(service.api_key, base_addresses={"api": service.base_url}, max_network_retries=0)
