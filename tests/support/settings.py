"""The test environment: the names the functions' settings point at (table, parameter, secrets, bus), the API keys
and hand-off keys the tests use, and template.yaml, loaded once.

`tests/conftest.py` puts FUNCTION_SETTINGS in the environment while test modules are collected, and its
`service_env` fixture sets them (with the queues moto made) for each test.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from local_gateway.template import load_template

# Where the tests' fixed clocks start: the start of the day after tomorrow (UTC; so on an hour's boundary), derived
# from the present so that the purge times of items a test plants are ahead of the real clock, which is what DynamoDB
# Local's TTL deletes by (a fixed date would have it delete them once the date has passed).
CLOCK_START = (int(time.time()) // 86400 + 2) * 86400
TABLE_NAME = "portal-sessions-test"
API_KEYS_PARAMETER = "/portal-sessions/test/api-key-hashes"
HANDOFF_SECRET_ID = "portal-sessions/test/handoff-signing-key"  # live mode's keyring
TEST_HANDOFF_SECRET_ID = "portal-sessions/test/test-handoff-signing-key"
HANDOFF_SIGNING_KEY = "live-signing-key-0123456789abcdefghijklmnopqrstuvwxyz"
TEST_HANDOFF_SIGNING_KEY = "test-signing-key-0123456789abcdefghijklmnopqrstuvwxyz"
LIVE_HANDOFF_KEYS = {"live-1": HANDOFF_SIGNING_KEY}  # what a live portal holds
TEST_HANDOFF_KEYS = {"test-1": TEST_HANDOFF_SIGNING_KEY}  # what a test portal holds
PORTAL_URL = "https://portal.example.com/session"
PORTAL_LOGIN_URL = "https://portal.example.com/login"
TEST_KEY = "sk_test_IntegrationTestKey000000001"
LIVE_KEY = "sk_live_IntegrationTestKey000000001"
EVENT_BUS_NAME = "portal-sessions-test"
WEBHOOK_SECRETS_KEY_ID = "portal-sessions/test/webhook-secrets-key"
TEMPLATE: dict[str, Any] = load_template()
# Valid settings for every function while test modules are collected (importing a handler runs its init, which
# checks its settings); removed once collection is done, so no child process inherits them.
FUNCTION_SETTINGS = {
    "TABLE_NAME": TABLE_NAME,
    "API_KEYS_PARAMETER": API_KEYS_PARAMETER,
    "HANDOFF_SECRET_ID": HANDOFF_SECRET_ID,
    "TEST_HANDOFF_SECRET_ID": TEST_HANDOFF_SECRET_ID,
    "PORTAL_URL": PORTAL_URL,
    "PORTAL_LOGIN_URL": PORTAL_LOGIN_URL,
    "EVENT_BUS_NAME": EVENT_BUS_NAME,
    "CLEANUP_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cleanup-units",  # service_env: moto's
    "WEBHOOK_DELIVERY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/webhook-work",
    "TEST_WEBHOOK_DELIVERY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/webhook-test-work",
    "SESSION_EVENTS_FAILED_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/session-events-failed",
}


FUZZ_SEED_VARIABLE = "PORTAL_FUZZ_SEED"


def fuzz_seed() -> int:
    """The seed of this run's generated requests: PORTAL_FUZZ_SEED to replay a run, else one drawn for it (the
    controller draws it at configure time, before its workers start, so they share it; pytest's header shows it)."""
    return int(os.environ.setdefault(FUZZ_SEED_VARIABLE, str(secrets.randbits(32))))
