"""The `billing_portal.configuration` object: the default one, a created one, an updated one.

Objects are kept as Stripe shows them (plain dicts in Stripe's field order); updates merge into them the way
Stripe's update call does: given hashes merge, an empty string resets a field, metadata merges key by key.
The parameters of the configuration calls are in configuration_params.py: a create of a session needs none of them.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..stripe_wire.stripe_params import StripeParams, merged_metadata

if TYPE_CHECKING:
    from ..stripe_wire.configuration_params import (
        CreateConfigurationParams,
        FeaturesCreateParams,
        FeaturesUpdateParams,
        UpdateConfigurationParams,
    )

DEFAULT_CONFIGURATION_IDS = {False: "bpc_DefaultTestConfiguration", True: "bpc_DefaultLiveConfiguration"}
LIST_URL = "/v1/billing_portal/configurations"


def _features(
    *,
    customer_update: bool = False,
    allowed_updates: list[str] | None = None,
    invoice_history: bool = False,
    payment_method_update: bool = False,
    subscription_cancel: bool = False,
) -> dict[str, Any]:
    return {
        "customer_update": {"allowed_updates": allowed_updates or [], "enabled": customer_update},
        "invoice_history": {"enabled": invoice_history},
        "payment_method_update": {"enabled": payment_method_update, "payment_method_configuration": None},
        "subscription_cancel": {
            "cancellation_reason": {"enabled": False, "options": []},
            "enabled": subscription_cancel,
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
    }


def _configuration_object(configuration_id: str, livemode: bool, now: int, *, is_default: bool) -> dict[str, Any]:
    return {
        "id": configuration_id,
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None},
        "created": now,
        "default_return_url": None,
        "features": _features(),
        "is_default": is_default,
        "livemode": livemode,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": now,
    }


DEFAULT_CREATED = 1767225600  # 2026-01-01: the default stands for the account's own, older than any created one


def default_configuration(livemode: bool, now: int) -> dict[str, Any]:
    """The configuration each mode gets on first need: the portal's everyday features switched on."""
    configuration = _configuration_object(DEFAULT_CONFIGURATION_IDS[livemode], livemode, now, is_default=True)
    configuration["created"] = min(DEFAULT_CREATED, now)
    configuration["features"] = _features(
        customer_update=True,
        allowed_updates=["email", "address"],
        invoice_history=True,
        payment_method_update=True,
        subscription_cancel=True,
    )
    return configuration


def new_configuration(
    params: CreateConfigurationParams, configuration_id: str, livemode: bool, now: int, login_url: str
) -> dict[str, Any]:
    """A created configuration: what was given, and Stripe's defaults (features off) for the rest."""
    configuration = _configuration_object(configuration_id, livemode, now, is_default=False)
    _apply(configuration, params, login_url)
    return configuration


def updated_configuration(
    configuration: dict[str, Any], params: UpdateConfigurationParams, now: int, login_url: str
) -> dict[str, Any]:
    updated = copy.deepcopy(configuration)
    if params.active is not None:
        updated["active"] = params.active
    _apply(updated, params, login_url)
    updated["updated"] = now
    return updated


def _apply(
    configuration: dict[str, Any], params: CreateConfigurationParams | UpdateConfigurationParams, login_url: str
) -> None:
    given = params.model_fields_set
    if "default_return_url" in given:
        configuration["default_return_url"] = params.default_return_url
    if "name" in given:
        configuration["name"] = params.name
    if params.business_profile is not None:
        _merge(configuration["business_profile"], params.business_profile, {})
    if params.login_page is not None:  # the portal's login page, told which configuration to use
        enabled = params.login_page.enabled
        url = login_url + ("&" if "?" in login_url else "?") + f"configuration={configuration['id']}"
        configuration["login_page"] = {"enabled": enabled, "url": url if enabled else None}
    if params.features is not None:
        _apply_features(configuration["features"], params.features)
    if "metadata" in given:
        configuration["metadata"] = merged_metadata(configuration["metadata"], params.metadata)


_RESET_VALUES: dict[str, Any] = {
    "allowed_updates": [],
    "options": [],
    "default_allowed_updates": [],
    "conditions": [],
    "products": None,
}


def _merge(target: dict[str, Any], params: StripeParams, resets: dict[str, Any]) -> None:
    """Copy the fields given into `target`; a field given as "" (None here) goes back to its reset value."""
    for name in params.model_fields_set:
        value = getattr(params, name)
        if isinstance(value, StripeParams):
            _merge(target[name], value, resets)
        elif value is None:
            target[name] = copy.deepcopy(resets.get(name))
        elif isinstance(value, list):
            target[name] = [
                item.model_dump(exclude_none=False) if isinstance(item, StripeParams) else item for item in value
            ]
        else:
            target[name] = value


def _apply_features(features: dict[str, Any], params: FeaturesCreateParams | FeaturesUpdateParams) -> None:
    for name in params.model_fields_set:
        value = getattr(params, name)
        if value is not None:
            _merge(features[name], value, _RESET_VALUES)
    products = features["subscription_update"]["products"]
    if products is not None:
        features["subscription_update"]["products"] = [_product_object(product) for product in products]


def _product_object(product: dict[str, Any]) -> dict[str, Any]:
    quantity = product.get("adjustable_quantity") or {"enabled": False}
    return {
        "adjustable_quantity": {
            "enabled": quantity["enabled"],
            "maximum": quantity.get("maximum"),
            "minimum": quantity.get("minimum") if quantity.get("minimum") is not None else 1,
        },
        "prices": product["prices"],
        "product": product["product"],
    }
