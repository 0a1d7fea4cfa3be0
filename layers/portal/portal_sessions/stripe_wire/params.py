"""Create parameters of `POST /v1/billing_portal/sessions`, exactly as Stripe's spec lists them.

Validation errors come out as Stripe's `invalid_request_error` naming the parameter in bracket form.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from ..runtime.errors import InvalidRequestError
from .api_version import RECOVERY_AND_NEW_FLOWS, has_recovery_and_new_flows
from .stripe_params import (
    FormInteger,
    ListLimit,
    NotEmpty,
    ObjectId,
    ReturnUrl,
    StripeParams,
    Text,
    check_one_cursor,
    expandable,
    validate_params,
)

Locale = Literal[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN", "en-NZ", "en-SG",
    "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt",
    "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
]  # fmt: skip
FlowType = Literal[
    "customer_update", "payment_method_update", "subscription_cancel", "subscription_pause", "subscription_update",
    "subscription_update_confirm",
]  # fmt: skip
FLOW_TYPES_BEFORE_2026_10_28 = ("payment_method_update", "subscription_cancel", "subscription_update",
                                "subscription_update_confirm")  # fmt: skip
AfterCompletionType = Literal["hosted_confirmation", "portal_homepage", "redirect"]

MAX_CUSTOM_MESSAGE = 500
_FLOW_SUBHASHES = ("subscription_cancel", "subscription_pause", "subscription_update", "subscription_update_confirm")
EXPANDABLE = ("configuration", "flow")
Expand = Annotated[list[Text] | None, expandable(*EXPANDABLE)]


def _one_sub_hash_per_type(types: tuple[str, ...], of: str, required: tuple[str, ...]) -> dict[str, Any]:
    """JSON schema of what _check_cross_field_rules enforces: the sub-hash named by `type` is given (if in
    `required`), and no other one (a null one, JSON's way to leave it out, aside)."""
    rules = []
    for name in types:
        is_type = {"properties": {"type": {"const": name}}, "required": ["type"]}
        needed = {"required": [name], "properties": {name: {"type": "object"}}}  # not null: JSON's "left out"
        rules.append({"if": is_type, "then": needed if name in required else {},
                      "else": {"properties": {name: {"type": "null"}}}})  # fmt: skip
    return {"allOf": rules, "description": f"Only the sub-hash its {of} names."}


class CouponOfferParams(StripeParams):
    coupon: ObjectId


class RetentionParams(StripeParams):
    type: Literal["coupon_offer"]
    coupon_offer: CouponOfferParams


class SubscriptionCancelParams(StripeParams):
    subscription: ObjectId
    retention: RetentionParams | None = None


class SubscriptionUpdateParams(StripeParams):
    subscription: ObjectId


class UpdateConfirmItemParams(StripeParams):
    id: ObjectId
    price: ObjectId | None = None
    quantity: FormInteger | None = None


class UpdateConfirmDiscountParams(StripeParams):
    coupon: ObjectId | None = None
    promotion_code: ObjectId | None = None


class SubscriptionUpdateConfirmParams(StripeParams):
    subscription: ObjectId
    # One item, at most one discount: checked by _check_cross_field_rules, stated for the JSON schema here
    items: Annotated[list[UpdateConfirmItemParams], Field(json_schema_extra={"minItems": 1, "maxItems": 1})]
    discounts: Annotated[list[UpdateConfirmDiscountParams] | None, Field(json_schema_extra={"maxItems": 1})] = None


class HostedConfirmationParams(StripeParams):
    custom_message: Annotated[str, NotEmpty, StringConstraints(max_length=MAX_CUSTOM_MESSAGE)] | None = None


class RedirectParams(StripeParams):
    return_url: ReturnUrl


class AfterCompletionParams(StripeParams):
    model_config = ConfigDict(
        json_schema_extra=_one_sub_hash_per_type(("hosted_confirmation", "redirect"), "type", ("redirect",))
    )

    type: AfterCompletionType
    hosted_confirmation: HostedConfirmationParams | None = None
    redirect: RedirectParams | None = None


class SubscriptionPauseParams(StripeParams):
    subscription: ObjectId


class FlowDataParams(StripeParams):
    model_config = ConfigDict(json_schema_extra=_one_sub_hash_per_type(_FLOW_SUBHASHES, "type", _FLOW_SUBHASHES))

    type: FlowType
    after_completion: AfterCompletionParams | None = None
    subscription_cancel: SubscriptionCancelParams | None = None
    subscription_pause: SubscriptionPauseParams | None = None
    subscription_update: SubscriptionUpdateParams | None = None
    subscription_update_confirm: SubscriptionUpdateConfirmParams | None = None


class CustomerLoginParams(StripeParams):
    expires_at: FormInteger | None = None


class AfterExpirationParams(StripeParams):
    type: Literal["customer_login"]
    customer_login: CustomerLoginParams | None = None


def _one_of_the_owners_required() -> dict[str, Any]:
    # Enforced by _check_cross_field_rules; declared too, so that the OpenAPI document says what the wire takes.
    return {"anyOf": [{"required": [name], "properties": {name: {"type": "string"}}}
                      for name in ("customer", "customer_account")]}  # fmt: skip


class CreateSessionParams(StripeParams):
    model_config = ConfigDict(**StripeParams.model_config, json_schema_extra=_one_of_the_owners_required())

    customer: ObjectId | None = None
    customer_account: ObjectId | None = None
    configuration: ObjectId | None = None
    return_url: ReturnUrl | None = None
    locale: Locale | None = None
    on_behalf_of: ObjectId | None = None
    expand: Expand = None
    flow_data: FlowDataParams | None = None
    after_expiration: AfterExpirationParams | None = None  # from API version 2026-10-28


def parse_create_params(raw: dict[str, Any], api_version: str = RECOVERY_AND_NEW_FLOWS) -> CreateSessionParams:
    """Validate decoded parameters for an API version, raising the first problem as Stripe would report it."""
    params = validate_params(CreateSessionParams, raw)
    if not has_recovery_and_new_flows(api_version):
        _refuse_newer_parameters(params)
    _check_cross_field_rules(params)
    return params


def _refuse_newer_parameters(params: CreateSessionParams) -> None:
    """What an older API version does not know is unknown to it, as Stripe's versioning works."""
    if params.after_expiration is not None:
        raise InvalidRequestError(
            "Received unknown parameter: after_expiration", code="parameter_unknown", param="after_expiration"
        )
    flow = params.flow_data
    if flow is not None and flow.subscription_pause is not None:
        name = "flow_data[subscription_pause]"
        raise InvalidRequestError(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
    if flow is not None and flow.type not in FLOW_TYPES_BEFORE_2026_10_28:
        expected = ", ".join(FLOW_TYPES_BEFORE_2026_10_28)
        message = f"Invalid flow_data[type]: must be one of {expected}"
        raise InvalidRequestError(message, code="parameter_invalid", param="flow_data[type]")


def _check_cross_field_rules(params: CreateSessionParams) -> None:
    if params.customer is None and params.customer_account is None:
        raise InvalidRequestError("Missing required param: customer.", code="parameter_missing", param="customer")
    flow = params.flow_data
    if flow is None:
        return
    for subhash in _FLOW_SUBHASHES:
        given = getattr(flow, subhash) is not None
        if subhash == flow.type and not given:
            name = f"flow_data[{subhash}]"
            raise InvalidRequestError(f"Missing required param: {name}.", code="parameter_missing", param=name)
        if subhash != flow.type and given:
            name = f"flow_data[{subhash}]"
            message = f"You can only pass {name} when flow_data[type] is {subhash}."
            raise InvalidRequestError(message, code="parameter_unknown", param=name)
    confirm = flow.subscription_update_confirm
    if confirm is not None and len(confirm.items) != 1:
        name = "flow_data[subscription_update_confirm][items]"
        message = f"Invalid {name}: exactly one item is supported."
        raise InvalidRequestError(message, code="parameter_invalid", param=name)
    if confirm is not None and confirm.discounts is not None and len(confirm.discounts) > 1:
        name = "flow_data[subscription_update_confirm][discounts]"
        message = f"Invalid {name}: at most one discount is supported."
        raise InvalidRequestError(message, code="parameter_invalid", param=name)
    completion = flow.after_completion
    if completion is not None:
        _check_after_completion(completion)


def _check_after_completion(completion: AfterCompletionParams) -> None:
    for kind in ("hosted_confirmation", "redirect"):
        given = getattr(completion, kind) is not None
        name = f"flow_data[after_completion][{kind}]"
        if kind == "redirect" and completion.type == "redirect" and not given:
            raise InvalidRequestError(f"Missing required param: {name}.", code="parameter_missing", param=name)
        if given and completion.type != kind:
            message = f"You can only pass {name} when flow_data[after_completion][type] is {kind}."
            raise InvalidRequestError(message, code="parameter_unknown", param=name)


class ListSessionsParams(StripeParams):
    """Listing sessions (an extension: Stripe has no such call), by customer like Stripe's other lists."""

    customer: ObjectId | None = None
    customer_account: ObjectId | None = None
    ending_before: ObjectId | None = None
    limit: ListLimit = 10
    starting_after: ObjectId | None = None


class RetrieveSessionParams(StripeParams):
    expand: Expand = None


def parse_list_sessions_params(raw: dict[str, Any]) -> ListSessionsParams:
    params = validate_params(ListSessionsParams, raw)
    if (params.customer is None) == (params.customer_account is None):
        raise InvalidRequestError(
            "Pass exactly one of customer and customer_account to list sessions.",
            code="parameter_missing",
            param="customer",
        )
    check_one_cursor(params.starting_after, params.ending_before)
    return params
