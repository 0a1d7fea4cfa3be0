"""A customer's walk through a session link in a real browser (headless Chromium): the redirect to the local demo
portal, what the portal shows from the verified hand-off, its Return link, and the pages of an expired link (in the
session's locale, naming the business) and of an unknown one (in the browser's language)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
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
BUSINESS = {
    "headline": "Acme Cloud: billing by the hour",
    "privacy_policy_url": "https://acme.example/privacy",
    "terms_of_service_url": "https://acme.example/terms",
}


@dataclass(frozen=True)
class ExpiredPage:
    """What the expired page says in one locale (written out here, not read from the catalogs)."""

    locale: str
    title: str
    message_start: str
    return_link: str  # for a return URL on 127.0.0.1
    privacy_policy: str
    terms_of_service: str


EXPIRED_PAGES = [
    ExpiredPage(
        "fr",
        "Ce lien a expiré",
        "Les liens vers le portail de facturation sont de courte durée.",
        "Retour à 127.0.0.1",
        "Politique de confidentialité",
        "Conditions d’utilisation",
    ),
    ExpiredPage(
        "ja",
        "このリンクは有効期限が切れています",
        "請求ポータルのリンクの有効期間は短く設定されています。",
        "127.0.0.1 に戻る",
        "プライバシーポリシー",
        "利用規約",
    ),
]


def create_session(
    client: stripe.StripeClient, return_url: str, locale: str = LOCALE, configuration: str | None = None
) -> stripe.billing_portal.Session:
    params: dict[str, Any] = {"customer": CUSTOMER, "locale": locale, "return_url": return_url}
    params |= {"flow_data": {"type": FLOW}} | ({"configuration": configuration} if configuration else {})
    return client.v1.billing_portal.sessions.create(params=params)


def send_accept_language(driver: webdriver.Chrome, accept_language: str) -> None:
    """Send this Accept-Language header, exactly, with every request the browser makes from now on."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Accept-Language": accept_language}})


def page_language(driver: webdriver.Chrome) -> tuple[str | None, str | None]:
    html = driver.find_element(By.TAG_NAME, "html")
    return html.get_dom_attribute("lang"), html.get_dom_attribute("dir")


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


@pytest.mark.parametrize("expected", EXPIRED_PAGES, ids=lambda page: page.locale)
def test_an_expired_session_link_shows_the_expired_page_in_the_session_locale(
    client: stripe.StripeClient,
    service: LocalService,
    chromium: webdriver.Chrome,
    merchant_site: MerchantSite,
    expected: ExpiredPage,
) -> None:
    # Given a session in this locale, on a configuration with a business profile, that the customer has opened once
    # (landing on the portal), then expired through the API
    configuration = client.v1.billing_portal.configurations.create(
        params={"business_profile": BUSINESS, "features": {"payment_method_update": {"enabled": True}}}
    )
    return_url = merchant_site.url(RETURN_PATH)
    session = create_session(client, return_url, locale=expected.locale, configuration=configuration.id)
    open_on_the_portal(chromium, service, session.url)
    client.raw_request("post", f"/v1/billing_portal/sessions/{session.id}/expire")

    # When the customer opens the same URL again, from a browser that prefers German
    send_accept_language(chromium, "de-CH,de;q=0.9")
    chromium.get(session.url)

    # Then the browser stays on the link and shows the expired page (a 410) in the session's language, not German
    wait(chromium).until(EC.title_is(expected.title))
    assert chromium.current_url == session.url
    assert document_status(chromium) == 410
    assert page_language(chromium) == (expected.locale, None)
    assert chromium.find_element(By.TAG_NAME, "h1").text == expected.title
    assert expected.message_start in chromium.find_element(By.TAG_NAME, "body").text
    # And it names the business, with a way back to the return URL and the business's policies
    assert chromium.find_element(By.CLASS_NAME, "business").text == BUSINESS["headline"]
    back = chromium.find_element(By.LINK_TEXT, expected.return_link)
    assert back.get_attribute("href") == return_url
    policies = chromium.find_elements(By.CSS_SELECTOR, ".policies a")
    assert [(link.text, link.get_attribute("href")) for link in policies] == [
        (expected.privacy_policy, BUSINESS["privacy_policy_url"]),
        (expected.terms_of_service, BUSINESS["terms_of_service_url"]),
    ]
    # And nothing from the portal is shown any more
    assert chromium.find_elements(By.ID, "customer") == []
    # And a screenshot of the page is kept
    screenshot = save_screenshot(chromium, f"expired-link-{expected.locale}")
    assert png_size(screenshot) == viewport_size(chromium)


@pytest.mark.parametrize(
    ("accept_language", "lang", "title", "screenshot"),
    [
        ("de-CH,de;q=0.9", "de", "Dieser Link ist ungültig", "unknown-link-de-CH"),
        ("tlh,x-klingon;q=0.8", "en", "This link is not valid", "unknown-link-unknown-language"),
    ],
)
def test_an_unknown_session_link_is_in_the_browser_language(
    client: stripe.StripeClient,
    service: LocalService,
    chromium: webdriver.Chrome,
    accept_language: str,
    lang: str,
    title: str,
    screenshot: str,
) -> None:
    # Given a link this service never issued, on the path of a real one
    session_url = create_session(client, "https://example.com/account").url
    unknown_url = session_url.rsplit("/", 1)[0] + "/" + "B" * 43

    # When a browser with this Accept-Language opens it
    send_accept_language(chromium, accept_language)
    chromium.get(unknown_url)

    # Then it shows the unknown-link page (a 404) in the best language there is for it, English when none fits
    wait(chromium).until(EC.title_is(title))
    assert document_status(chromium) == 404
    assert page_language(chromium) == (lang, None)
    assert chromium.find_element(By.TAG_NAME, "h1").text == title
    assert chromium.find_elements(By.TAG_NAME, "a") == []
    saved = save_screenshot(chromium, screenshot)
    assert png_size(saved) == viewport_size(chromium)
