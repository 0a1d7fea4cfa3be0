"""Real-browser fixtures: Debian's Chromium, headless, driven by Selenium through Debian's chromedriver.

The service is `python -m local_gateway run` as `make run` starts it, on the embedded default (moto): the end-to-end
suite's `service` fixture, imported below. Nothing is downloaded: Selenium gets the driver's path, so Selenium
Manager never runs, and the browser is told to make no background requests. Without /usr/bin/chromium or
/usr/bin/chromedriver the tests are skipped (`apt-get install chromium chromium-driver`). Screenshots go to
test-artifacts/browser/ (gitignored), including one of the page a failing test was on.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support import local_service
from tests.support.browser import (
    ARTIFACTS,
    CHROMEDRIVER,
    CHROMIUM,
    CHROMIUM_FLAGS,
    MERCHANT_TITLE,
    MISSING_BROWSER,
    PAGE_LOAD_SECONDS,
    WAIT_SECONDS,
    MerchantSite,
    save_screenshot,
)
from tests.support.local_service import LocalService

service, moto_service = local_service.service, local_service.moto_service  # the end-to-end suite's fixtures

_PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so the browser fixture knows at teardown whether the test failed."""
    report = yield
    item.stash.setdefault(_PHASE_REPORTS, {})[report.when] = report
    return report


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
    return service.stripe_client()
