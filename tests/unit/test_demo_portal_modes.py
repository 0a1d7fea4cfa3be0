"""The local demo portals hold one mode's keyring each, and refuse a hand-off of the other mode."""

from __future__ import annotations

import time

from local_gateway.demo_portal import PortalPage
from portal_sessions.domain.handoff import Keyring, issue_handoff_token
from tests.support.factories import a_session

LIVE = Keyring(signing_kid="live-local", keys={"live-local": "l" * 48})
TEST = Keyring(signing_kid="test-local", keys={"test-local": "t" * 48})


def handoff(livemode: bool, keyring: Keyring, recovery: bool = False) -> str:
    session = a_session(livemode=livemode)
    return issue_handoff_token(session, now=int(time.time()), ttl_seconds=60, keyring=keyring, recovery=recovery)


def test_each_demo_portal_accepts_its_own_mode_only() -> None:
    test_portal, live_portal = PortalPage(TEST, livemode=False), PortalPage(LIVE, livemode=True)
    test_handoff, live_handoff = handoff(False, TEST), handoff(True, LIVE)

    assert test_portal("/", {"handoff": test_handoff})[0] == 200
    assert live_portal("/", {"handoff": live_handoff})[0] == 200
    assert test_portal("/", {"handoff": live_handoff})[0] == 401
    assert live_portal("/", {"handoff": test_handoff})[0] == 401


def test_a_demo_login_page_accepts_only_its_modes_recovery_hand_off() -> None:
    test_login = PortalPage(TEST, livemode=False, login=True)

    assert test_login("/", {"recovery": handoff(False, TEST, recovery=True)})[0] == 200
    assert test_login("/", {"recovery": handoff(False, TEST)})[0] == 401  # a portal hand-off
    assert test_login("/", {"recovery": handoff(True, LIVE, recovery=True)})[0] == 401  # the other mode's
