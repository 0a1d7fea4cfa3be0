"""The built-in default `billing_portal.configuration` of each mode."""

from __future__ import annotations

import pytest

from portal_sessions.configuration import (
    DEFAULT_CONFIGURATION_IDS,
    configuration_object,
    resolve_configuration_id,
)
from portal_sessions.errors import ResourceMissingError
from tests.contract import schema_errors


@pytest.mark.parametrize("livemode", [False, True])
def test_default_configuration_validates_against_stripes_schema(livemode: bool) -> None:
    # Given a mode's default configuration
    configuration = configuration_object(DEFAULT_CONFIGURATION_IDS[livemode], livemode)
    # When it is validated
    # Then Stripe's billing_portal.configuration schema accepts it
    assert schema_errors("billing_portal.configuration", configuration) == []


@pytest.mark.parametrize("livemode", [False, True])
def test_default_configuration_is_of_its_mode(livemode: bool) -> None:
    # Given a mode
    # When its default configuration is built
    configuration = configuration_object(DEFAULT_CONFIGURATION_IDS[livemode], livemode)
    # Then it carries that mode and id, and is the default
    assert configuration["livemode"] is livemode
    assert configuration["id"] == DEFAULT_CONFIGURATION_IDS[livemode]
    assert configuration["is_default"] is True


def test_modes_have_different_default_ids() -> None:
    # Given both modes
    # When their default ids are compared
    # Then they differ, so an id never crosses modes
    assert DEFAULT_CONFIGURATION_IDS[False] != DEFAULT_CONFIGURATION_IDS[True]


@pytest.mark.parametrize("livemode", [False, True])
@pytest.mark.parametrize("requested", [None, "default"])
def test_no_configuration_or_the_default_resolves_to_the_default(livemode: bool, requested: str | None) -> None:
    # Given no configuration, or the mode's own default id
    asked = DEFAULT_CONFIGURATION_IDS[livemode] if requested == "default" else None
    # When it is resolved
    # Then it is the mode's default
    assert resolve_configuration_id(asked, livemode) == DEFAULT_CONFIGURATION_IDS[livemode]


@pytest.mark.parametrize(
    ("requested", "livemode"),
    [
        ("bpc_SomethingElse", False),
        (DEFAULT_CONFIGURATION_IDS[True], False),
        (DEFAULT_CONFIGURATION_IDS[False], True),
    ],
)
def test_other_configuration_is_a_missing_resource(requested: str, livemode: bool) -> None:
    # Given an unknown configuration id, or the other mode's default
    # When it is resolved
    with pytest.raises(ResourceMissingError) as raised:
        resolve_configuration_id(requested, livemode)
    # Then Stripe's resource_missing error names the configuration parameter with status 400
    assert raised.value.http_status == 400
    assert raised.value.to_dict() == {
        "error": {
            "type": "invalid_request_error",
            "message": f"No such configuration: '{requested}'",
            "code": "resource_missing",
            "param": "configuration",
        }
    }
