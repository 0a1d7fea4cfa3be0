"""Parameters of the `billing_portal.configuration` calls (create, update, list, retrieve), as Stripe's spec lists them.

Validation errors come out as Stripe's `invalid_request_error` naming the parameter in bracket form.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from . import stripe_params
from .stripe_params import (
    FormBoolean,
    FormInteger,
    ListLimit,
    Metadata,
    NotEmpty,
    ObjectId,
    StripeParams,
    Text,
    Unsettable,
    Url,
    validate_params,
)

EXPANDABLE = ("application", "business_profile", "features", "login_page")  # a configuration's expandable fields
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
    stripe_params.check_one_cursor(params.starting_after, params.ending_before)
    stripe_params.check_expand(params.expand, tuple("data." + field for field in EXPANDABLE))  # items' fields
    return params


def check_expand(expand: list[str] | None) -> None:
    stripe_params.check_expand(expand, EXPANDABLE)
