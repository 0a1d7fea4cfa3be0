"""The built-in default `billing_portal.configuration` of each mode.

Until configurations can be created through the API, every session uses its mode's default one.
"""

from __future__ import annotations

from typing import Any

from .errors import ResourceMissingError

DEFAULT_CONFIGURATION_IDS = {False: "bpc_DefaultTestConfiguration", True: "bpc_DefaultLiveConfiguration"}
_DEFAULTS_CREATED = 1767225600  # 2026-01-01T00:00:00Z, when these defaults were written


def resolve_configuration_id(requested: str | None, livemode: bool) -> str:
    default_id = DEFAULT_CONFIGURATION_IDS[livemode]
    if requested is not None and requested != default_id:
        raise ResourceMissingError(f"No such configuration: '{requested}'", param="configuration")
    return default_id


def configuration_object(configuration_id: str, livemode: bool) -> dict[str, Any]:
    return {
        "id": configuration_id,
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None},
        "created": _DEFAULTS_CREATED,
        "default_return_url": None,
        "features": {
            "customer_update": {"allowed_updates": ["email", "address"], "enabled": True},
            "invoice_history": {"enabled": True},
            "payment_method_update": {"enabled": True, "payment_method_configuration": None},
            "subscription_cancel": {
                "cancellation_reason": {"enabled": False, "options": []},
                "enabled": True,
                "mode": "at_period_end",
                "proration_behavior": "none",
            },
            "subscription_update": {
                "billing_cycle_anchor": None,
                "default_allowed_updates": [],
                "enabled": False,
                "products": None,
                "proration_behavior": "none",
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial",
            },
        },
        "is_default": True,
        "livemode": livemode,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": _DEFAULTS_CREATED,
    }
