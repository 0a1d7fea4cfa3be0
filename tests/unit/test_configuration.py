"""The default `billing_portal.configuration` each mode gets on first need."""

from __future__ import annotations

import pytest

from portal_sessions.domain.configuration import DEFAULT_CONFIGURATION_IDS, default_configuration
from tests.support.contract import schema_errors


@pytest.mark.parametrize("livemode", [False, True])
def test_default_configuration_validates_against_stripes_schema(livemode: bool) -> None:
    # Given a mode's default configuration
    configuration = default_configuration(livemode, 1_767_225_600)
    # When it is validated
    # Then Stripe's billing_portal.configuration schema accepts it
    assert schema_errors("billing_portal.configuration", configuration) == []


@pytest.mark.parametrize("livemode", [False, True])
def test_default_configuration_is_of_its_mode(livemode: bool) -> None:
    # Given a mode
    # When its default configuration is built
    configuration = default_configuration(livemode, 1_767_225_600)
    # Then it carries that mode and id, and is the default
    assert configuration["livemode"] is livemode
    assert configuration["id"] == DEFAULT_CONFIGURATION_IDS[livemode]
    assert configuration["is_default"] is True


def test_modes_have_different_default_ids() -> None:
    # Given both modes
    # When their default ids are compared
    # Then they differ, so an id never crosses modes
    assert DEFAULT_CONFIGURATION_IDS[False] != DEFAULT_CONFIGURATION_IDS[True]
