"""End-to-end fixtures: the whole service started the way a developer starts it, `python -m local_gateway run`
(tests/support/local_service.py), on its embedded default (moto) as `make run` starts it; Stripe's SDK on it, and a
plain HTTP client for what a customer's browser does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import stripe

from tests.support import local_service
from tests.support.local_service import LocalService

service = local_service.service  # the fixture, shared with tests/browser
moto_service = local_service.moto_service


@pytest.fixture(scope="module")
def client(service: LocalService) -> stripe.StripeClient:
    return service.stripe_client()


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # straight to 127.0.0.1, whatever proxy the environment names
        yield session
