"""The `billing_portal.configuration` object: create/update/list parameters, and the object itself.

Objects are kept as Stripe shows them (plain dicts in Stripe's field order); updates merge into them the way
Stripe's update call does: given hashes merge, an empty string resets a field, metadata merges key by key.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from . import stripe_params
from .errors import InvalidRequestError
from .stripe_params import (
    FormBoolean,
    FormInteger,
    ListLimit,
    NotEmpty,
    ObjectId,
    StripeParams,
    Text,
    Unsettable,
    Url,
    validate_params,
)

DEFAULT_CONFIGURATION_IDS = {False: "bpc_DefaultTestConfiguration", True: "bpc_DefaultLiveConfiguration"}
LIST_URL = "/v1/billing_portal/configurations"
EXPANDABLE = ("application", "business_profile", "features", "login_page")
Expand = Annotated[list[Text] | None, stripe_params.expandable(*EXPANDABLE)]
ListExpand = Annotated[list[Text] | None, stripe_params.expandable(*("data." + field for field in EXPANDABLE))]

CustomerUpdateField = Literal["address", "email", "name", "phone", "shipping", "tax_id"]
CancellationReason = Literal[
    "customer_service", "low_quality", "missing_features", "other", "switched_service", "too_complex",
    "too_expensive", "unused",
]  # fmt: skip
Proration = Literal["always_invoice", "create_prorations", "none"]
AllowedUpdate = Literal["price", "promotion_code", "quantity"]
Headline = Annotated[str, NotEmpty, StringConstraints(max_length=60)]
Name = Annotated[str, NotEmpty, StringConstraints(max_length=256)]
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]
MetadataValue = Annotated[str, StringConstraints(max_length=500)]
MAX_METADATA_KEYS = 50
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_KEYS)]


class BusinessProfileCreateParams(StripeParams):
    headline: Annotated[Headline | None, Unsettable] = None
    privacy_policy_url: Url | None = None
    terms_of_service_url: Url | None = None


class BusinessProfileUpdateParams(StripeParams):
    headline: Annotated[Headline | None, Unsettable] = None
    privacy_policy_url: Annotated[Url | None, Unsettable] = None
    terms_of_service_url: Annotated[Url | None, Unsettable] = None


class CustomerUpdateCreateParams(StripeParams):
    enabled: FormBoolean
    allowed_updates: Annotated[list[CustomerUpdateField] | None, Unsettable] = None


class CustomerUpdateUpdateParams(StripeParams):
    enabled: FormBoolean | None = None
    allowed_updates: Annotated[list[CustomerUpdateField] | None, Unsettable] = None


class InvoiceHistoryParams(StripeParams):
    enabled: FormBoolean


class PaymentMethodUpdateParams(StripeParams):
    enabled: FormBoolean
    payment_method_configuration: Annotated[ObjectId | None, Unsettable] = None


class CancellationReasonCreateParams(StripeParams):
    enabled: FormBoolean
    options: Annotated[list[CancellationReason] | None, Unsettable]


class CancellationReasonUpdateParams(StripeParams):
    enabled: FormBoolean
    options: Annotated[list[CancellationReason] | None, Unsettable] = None


class SubscriptionCancelCreateParams(StripeParams):
    enabled: FormBoolean
    cancellation_reason: CancellationReasonCreateParams | None = None
    mode: Literal["at_period_end", "immediately"] | None = None
    proration_behavior: Proration | None = None


class SubscriptionCancelUpdateParams(StripeParams):
    enabled: FormBoolean | None = None
    cancellation_reason: CancellationReasonUpdateParams | None = None
    mode: Literal["at_period_end", "immediately"] | None = None
    proration_behavior: Proration | None = None


class AdjustableQuantityParams(StripeParams):
    enabled: FormBoolean
    maximum: FormInteger | None = None
    minimum: FormInteger | None = None


class ProductParams(StripeParams):
    prices: list[ObjectId]
    product: ObjectId
    adjustable_quantity: AdjustableQuantityParams | None = None


class ScheduleConditionParams(StripeParams):
    type: Literal["decreasing_item_amount", "shortening_interval"]


class ScheduleAtPeriodEndCreateParams(StripeParams):
    conditions: list[ScheduleConditionParams] | None = None


class ScheduleAtPeriodEndUpdateParams(StripeParams):
    conditions: Annotated[list[ScheduleConditionParams] | None, Unsettable] = None


class SubscriptionUpdateCreateParams(StripeParams):
    enabled: FormBoolean
    billing_cycle_anchor: Literal["now", "unchanged"] | None = None
    default_allowed_updates: Annotated[list[AllowedUpdate] | None, Unsettable] = None
    products: Annotated[list[ProductParams] | None, Unsettable] = None
    proration_behavior: Proration | None = None
    schedule_at_period_end: ScheduleAtPeriodEndCreateParams | None = None
    trial_update_behavior: Literal["continue_trial", "end_trial"] | None = None


class SubscriptionUpdateUpdateParams(StripeParams):
    enabled: FormBoolean | None = None
    billing_cycle_anchor: Literal["now", "unchanged"] | None = None
    default_allowed_updates: Annotated[list[AllowedUpdate] | None, Unsettable] = None
    products: Annotated[list[ProductParams] | None, Unsettable] = None
    proration_behavior: Proration | None = None
    schedule_at_period_end: ScheduleAtPeriodEndUpdateParams | None = None
    trial_update_behavior: Literal["continue_trial", "end_trial"] | None = None


class FeaturesCreateParams(StripeParams):
    customer_update: CustomerUpdateCreateParams | None = None
    invoice_history: InvoiceHistoryParams | None = None
    payment_method_update: PaymentMethodUpdateParams | None = None
    subscription_cancel: SubscriptionCancelCreateParams | None = None
    subscription_update: SubscriptionUpdateCreateParams | None = None


class FeaturesUpdateParams(StripeParams):
    customer_update: CustomerUpdateUpdateParams | None = None
    invoice_history: InvoiceHistoryParams | None = None
    payment_method_update: PaymentMethodUpdateParams | None = None
    subscription_cancel: SubscriptionCancelUpdateParams | None = None
    subscription_update: SubscriptionUpdateUpdateParams | None = None


class LoginPageParams(StripeParams):
    enabled: FormBoolean


class CreateConfigurationParams(StripeParams):
    features: FeaturesCreateParams
    business_profile: BusinessProfileCreateParams | None = None
    default_return_url: Annotated[Url | None, Unsettable] = None
    expand: Expand = None
    login_page: LoginPageParams | None = None
    metadata: Metadata | None = None
    name: Annotated[Name | None, Unsettable] = None


class UpdateConfigurationParams(StripeParams):
    active: FormBoolean | None = None
    business_profile: BusinessProfileUpdateParams | None = None
    default_return_url: Annotated[Url | None, Unsettable] = None
    expand: Expand = None
    features: FeaturesUpdateParams | None = None
    login_page: LoginPageParams | None = None
    metadata: Annotated[Metadata | None, Unsettable] = None
    name: Annotated[Name | None, Unsettable] = None


class ListConfigurationsParams(StripeParams):
    active: FormBoolean | None = None
    ending_before: ObjectId | None = None
    expand: ListExpand = None
    is_default: FormBoolean | None = None
    limit: ListLimit = 10
    starting_after: ObjectId | None = None


class RetrieveConfigurationParams(StripeParams):
    expand: Expand = None


def parse_create_configuration_params(raw: dict[str, Any]) -> CreateConfigurationParams:
    params = validate_params(CreateConfigurationParams, raw)
    check_expand(params.expand)
    return params


def parse_update_configuration_params(raw: dict[str, Any]) -> UpdateConfigurationParams:
    params = validate_params(UpdateConfigurationParams, raw)
    check_expand(params.expand)
    return params


def parse_list_configurations_params(raw: dict[str, Any]) -> ListConfigurationsParams:
    params = validate_params(ListConfigurationsParams, raw)
    if params.starting_after is not None and params.ending_before is not None:
        raise InvalidRequestError(
            "You may only specify one of these parameters: ending_before, starting_after.",
            code="parameters_exclusive",
            param="ending_before",
        )
    stripe_params.check_expand(params.expand, tuple("data." + field for field in EXPANDABLE))  # items' fields
    return params


def check_expand(expand: list[str] | None) -> None:
    stripe_params.check_expand(expand, EXPANDABLE)


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
        if params.metadata is None:
            configuration["metadata"] = {}
        else:  # merge key by key; an empty value removes the key
            merged = {**configuration["metadata"], **params.metadata}
            configuration["metadata"] = {key: value for key, value in merged.items() if value != ""}
            if len(configuration["metadata"]) > MAX_METADATA_KEYS:
                raise InvalidRequestError(
                    f"Invalid metadata: an object can have at most {MAX_METADATA_KEYS} metadata keys.",
                    code="parameter_invalid",
                    param="metadata",
                )


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
