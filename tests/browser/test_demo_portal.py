"""A customer's walk through a session link in a real browser (headless Chromium): the redirect to the local demo
portal, what the portal shows from the verified hand-off, its Return link, and the page of an expired link."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import stripe
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import (
    MERCHANT_TITLE,
    WAIT_SECONDS,
    MerchantSite,
    png_size,
    requires_chromium,
    save_screenshot,
    viewport_size,
)
from tests.support.local_service import LocalService

pytestmark = requires_chromium

CUSTOMER = "cus_BrowserTestCustomer"
LOCALE = "fr"
FLOW = "payment_method_update"
RETURN_PATH = "/account?from=billing-portal"


def create_session(client: stripe.StripeClient, return_url: str) -> stripe.billing_portal.Session:
    return client.v1.billing_portal.sessions.create(
        params={"customer": CUSTOMER, "locale": LOCALE, "return_url": return_url, "flow_data": {"type": FLOW}}
    )


def wait(driver: webdriver.Chrome) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(driver, WAIT_SECONDS)


def on_the_portal(service: LocalService) -> Any:
    """A wait condition: the browser is on the demo portal, with a hand-off in its query."""
    return lambda driver: driver.current_url.startswith(service.portal_url + "?handoff=")


def open_on_the_portal(driver: webdriver.Chrome, service: LocalService, session_url: str) -> None:
    """Open a session URL and wait, bounded, until the redirect has landed on the demo portal."""
    driver.get(session_url)
    wait(driver).until(on_the_portal(service))
    wait(driver).until(EC.visibility_of_element_located((By.ID, "return")))


def shown(driver: webdriver.Chrome, element_id: str) -> str:
    return str(wait(driver).until(EC.visibility_of_element_located((By.ID, element_id))).text)


def document_status(driver: webdriver.Chrome) -> Any:
    """The HTTP status of the page's own response, as the browser recorded it (Navigation Timing), since
    WebDriver exposes no response status or headers; after a redirect, the status of the final response."""
    return driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")


def test_a_session_link_lands_on_the_demo_portal_which_shows_the_hand_off(
    client: stripe.StripeClient, service: LocalService, chromium: webdriver.Chrome, merchant_site: MerchantSite
) -> None:
    # Given a session created with the official SDK: a customer, a locale, a flow and a return URL
    session = create_session(client, merchant_site.url(RETURN_PATH))

    # When the customer opens its URL in the browser
    chromium.get(session.url)

    # Then the browser has followed the redirect to the demo portal, with a hand-off and not the link's own token
    wait(chromium).until(on_the_portal(service))
    assert urlsplit(session.url).path.rsplit("/", 1)[-1] not in chromium.current_url
    # And the portal verified the hand-off and shows what it carries
    assert chromium.title == "Billing portal (local demo)"
    assert document_status(chromium) == 200
    assert shown(chromium, "customer") == CUSTOMER
    assert shown(chromium, "session") == session.id
    assert shown(chromium, "mode") == "test"
    assert shown(chromium, "flow") == FLOW
    assert shown(chromium, "locale") == LOCALE
    return_link = chromium.find_element(By.ID, "return")
    assert return_link.text == "Return"
    assert return_link.get_attribute("href") == session.return_url
    # And a screenshot of the page is kept
    screenshot = save_screenshot(chromium, "demo-portal")
    assert png_size(screenshot) == viewport_size(chromium)


def test_the_portal_return_link_goes_back_to_the_return_url(
    client: stripe.StripeClient, service: LocalService, chromium: webdriver.Chrome, merchant_site: MerchantSite
) -> None:
    # Given a customer on the demo portal, through a session whose return URL is on the merchant's site
    return_url = merchant_site.url(RETURN_PATH)
    open_on_the_portal(chromium, service, create_session(client, return_url).url)

    # When they click Return
    chromium.find_element(By.ID, "return").click()

    # Then the browser is on the return URL, showing the merchant's page
    wait(chromium).until(EC.url_to_be(return_url))
    wait(chromium).until(EC.title_is(MERCHANT_TITLE))
    # And the merchant's site got exactly that request, with no Referer (the portal's URL holds the hand-off)
    assert merchant_site.visits == [(RETURN_PATH, None)]


def test_an_expired_session_link_shows_the_expired_page(
    client: stripe.StripeClient, service: LocalService, chromium: webdriver.Chrome, merchant_site: MerchantSite
) -> None:
    # Given a session the customer has opened once (landing on the portal), then expired through the API
    return_url = merchant_site.url(RETURN_PATH)
    session = create_session(client, return_url)
    open_on_the_portal(chromium, service, session.url)
    client.raw_request("post", f"/v1/billing_portal/sessions/{session.id}/expire")

    # When the customer opens the same URL again
    chromium.get(session.url)

    # Then the browser stays on the link and shows the expired page (a 410), with a way back to the return URL
    wait(chromium).until(EC.title_is("This link has expired"))
    assert chromium.current_url == session.url
    assert document_status(chromium) == 410
    assert chromium.find_element(By.TAG_NAME, "h1").text == "This link has expired"
    assert "Billing portal links are short-lived." in chromium.find_element(By.TAG_NAME, "body").text
    back = chromium.find_element(By.LINK_TEXT, "Return to the site")
    assert back.get_attribute("href") == return_url
    # And nothing from the portal is shown any more
    assert chromium.find_elements(By.ID, "customer") == []
    # And a screenshot of the page is kept
    screenshot = save_screenshot(chromium, "expired-link")
    assert png_size(screenshot) == viewport_size(chromium)
