"""Create parameters of `POST /v1/billing_portal/sessions`, exactly as Stripe's spec lists them.

Validation errors come out as Stripe's `invalid_request_error` naming the parameter in bracket form.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError
from pydantic_core import PydanticCustomError

from .errors import InvalidRequestError

Locale = Literal[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN", "en-NZ", "en-SG",
    "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt",
    "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
]  # fmt: skip
FlowType = Literal["payment_method_update", "subscription_cancel", "subscription_update", "subscription_update_confirm"]
AfterCompletionType = Literal["hosted_confirmation", "portal_homepage", "redirect"]

MAX_STRING = 5000
MAX_URL = 5000
MAX_CUSTOM_MESSAGE = 500


def _check_url(value: str) -> str:
    # An absolute http(s) URL with a host, no credentials and nothing a browser would have to repair.
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = None
    if (
        parts is None
        or not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    ):
        raise PydanticCustomError("url_invalid", "Not a valid URL")
    return value


def _form_integer(value: Any) -> Any:
    # Stripe takes integers as digits only: no "3.0", "1_000", " 3 " or JSON booleans.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,15}", value):
        return int(value)
    raise PydanticCustomError("int_parsing", "Invalid integer")


Text = Annotated[str, StringConstraints(max_length=MAX_STRING)]
FormInteger = Annotated[int, BeforeValidator(_form_integer)]
Url = Annotated[str, StringConstraints(max_length=MAX_URL), AfterValidator(_check_url)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CouponOfferParams(_Params):
    coupon: Text


class RetentionParams(_Params):
    type: Literal["coupon_offer"]
    coupon_offer: CouponOfferParams


class SubscriptionCancelParams(_Params):
    subscription: Text
    retention: RetentionParams | None = None


class SubscriptionUpdateParams(_Params):
    subscription: Text


class UpdateConfirmItemParams(_Params):
    id: Text
    price: Text | None = None
    quantity: FormInteger | None = None


class UpdateConfirmDiscountParams(_Params):
    coupon: Text | None = None
    promotion_code: Text | None = None


class SubscriptionUpdateConfirmParams(_Params):
    subscription: Text
    items: list[UpdateConfirmItemParams]
    discounts: list[UpdateConfirmDiscountParams] | None = None


class HostedConfirmationParams(_Params):
    custom_message: Annotated[str, StringConstraints(max_length=MAX_CUSTOM_MESSAGE)] | None = None


class RedirectParams(_Params):
    return_url: Url


class AfterCompletionParams(_Params):
    type: AfterCompletionType
    hosted_confirmation: HostedConfirmationParams | None = None
    redirect: RedirectParams | None = None


class FlowDataParams(_Params):
    type: FlowType
    after_completion: AfterCompletionParams | None = None
    subscription_cancel: SubscriptionCancelParams | None = None
    subscription_update: SubscriptionUpdateParams | None = None
    subscription_update_confirm: SubscriptionUpdateConfirmParams | None = None


class CreateSessionParams(_Params):
    customer: Text | None = None
    customer_account: Text | None = None
    configuration: Text | None = None
    return_url: Url | None = None
    locale: Locale | None = None
    on_behalf_of: Text | None = None
    expand: list[Text] | None = None
    flow_data: FlowDataParams | None = None


def parse_create_params(raw: dict[str, Any]) -> CreateSessionParams:
    """Validate decoded parameters, raising the first problem as Stripe would report it."""
    try:
        params = CreateSessionParams.model_validate(raw)
    except ValidationError as exc:
        # Stripe names unknown parameters first, then empty values, then the first other problem.
        unknown = [error for error in exc.errors() if error["type"] == "extra_forbidden"]
        if not unknown:
            _reject_empty_strings(raw, ())
        raise _stripe_error(exc) from None
    _reject_empty_strings(raw, ())
    _check_cross_field_rules(params)
    return params


def param_name(loc: tuple[int | str, ...]) -> str:
    """('flow_data', 'items', 0, 'id') → 'flow_data[items][0][id]'."""
    head, *rest = (str(part) for part in loc)
    return head + "".join(f"[{part}]" for part in rest)


def _reject_empty_strings(value: Any, loc: tuple[int | str, ...]) -> None:
    # Stripe reads an empty string as "unset", which no create parameter allows.
    if value == "" and loc:
        name = param_name(loc)
        raise InvalidRequestError(
            f"You passed an empty string for '{name}'. We assume empty values are an attempt to unset a parameter; "
            f"however '{name}' cannot be unset. You should remove '{name}' from your request or supply a non-empty "
            "value.",
            code="parameter_invalid_empty",
            param=name,
        )
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        _reject_empty_strings(child, (*loc, key))


_ERROR_ORDER = {"extra_forbidden": 0, "missing": 1}


def _stripe_error(exc: ValidationError) -> InvalidRequestError:
    # Stripe names unknown parameters before anything else; then the first problem in field order.
    first = min(exc.errors(), key=lambda error: _ERROR_ORDER.get(error["type"], 2))
    name = param_name(first["loc"])
    kind, value = first["type"], first.get("input")
    if kind == "extra_forbidden":
        return InvalidRequestError(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
    if kind == "missing":
        return InvalidRequestError(f"Missing required param: {name}.", code="parameter_missing", param=name)
    if kind == "url_invalid":
        return InvalidRequestError("Not a valid URL", code="url_invalid", param=name)
    if kind == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        return InvalidRequestError(f"Invalid {name}: must be one of {expected}", code="parameter_invalid", param=name)
    if kind == "string_too_long":
        limit = first.get("ctx", {}).get("max_length")
        message = f"Invalid {name}: must be at most {limit} characters"
        return InvalidRequestError(message, code="parameter_invalid", param=name)
    if kind in ("int_parsing", "int_type", "int_from_float"):
        message = f"Invalid integer: {_show(value)}"
        return InvalidRequestError(message, code="parameter_invalid_integer", param=name)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return InvalidRequestError(f"Invalid {name}: expected a hash", code="parameter_invalid", param=name)
    if kind == "list_type":
        return InvalidRequestError(f"Invalid {name}: expected an array", code="parameter_invalid", param=name)
    if kind == "string_type":
        return InvalidRequestError(f"Invalid {name}: expected a string", code="parameter_invalid", param=name)
    return InvalidRequestError(f"Invalid {name}: {first['msg']}", code="parameter_invalid", param=name)


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 100 else text[:100] + "…"


_FLOW_SUBHASHES = ("subscription_cancel", "subscription_update", "subscription_update_confirm")


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
