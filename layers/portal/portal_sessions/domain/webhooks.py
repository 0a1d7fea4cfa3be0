"""Webhook endpoints (Stripe's `webhook_endpoint` object and its parameters) and how deliveries are signed.

An endpoint's signing secret (`whsec_…`) is shown once, in the create response. The table keeps it sealed under a key
derived from a Secrets Manager secret and the endpoint's id (`sealing.py`), so a table dump cannot read it back, and a
sealed secret copied onto another endpoint's item does not open.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
from typing import Annotated, Any

from pydantic import Field

from ..runtime.errors import InvalidRequestError, SealBrokenError
from ..runtime.observability import logger
from ..stripe_wire import stripe_params
from ..stripe_wire.stripe_params import (
    FormBoolean,
    FormInteger,
    ListLimit,
    Metadata,
    ObjectId,
    StripeParams,
    Text,
    Unsettable,
    Url,
    expandable,
    merged_metadata,
    validate_params,
)

LIST_URL = "/v1/webhook_endpoints"
SESSION_CREATED = "billing_portal.session.created"
SESSION_VISITED = "billing_portal.session.visited"
SESSION_EXPIRED = "billing_portal.session.expired"
CONFIGURATION_CREATED = "billing_portal.configuration.created"
CONFIGURATION_UPDATED = "billing_portal.configuration.updated"
# Stripe's own portal events, then this service's extensions (sent only to endpoints that name them, or `*`).
EVENT_TYPES = (CONFIGURATION_CREATED, CONFIGURATION_UPDATED, SESSION_CREATED, SESSION_VISITED, SESSION_EXPIRED)
ALL_EVENTS = "*"
MAX_ENDPOINTS_PER_MODE = 16  # Stripe's documented limit per account; each mode here is a world of its own
SECRET_PREFIX = "whsec_"
SIGNATURE_SCHEME = "v1"

# Seconds to wait before each retry after a failed attempt (Stripe: up to three days live, a few hours in test).
LIVE_RETRY_DELAYS = (60, 300, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 24 * 3600)
TEST_RETRY_DELAYS = (60, 900, 3 * 3600)

Description = Annotated[str, stripe_params.NotEmpty, Field(max_length=5000)]
# What _check_events takes, stated in the JSON schema (its own error names the position: `enabled_events[0]`)
EnabledEvents = Annotated[
    list[Text], Field(min_length=1, json_schema_extra={"items": {"type": "string", "enum": [ALL_EVENTS, *EVENT_TYPES]}})
]
Expand = Annotated[list[Text] | None, expandable()]  # nothing of these objects can be expanded
# Only false: Connect endpoints are refused (parse_create_webhook_endpoint_params)
NotConnect = Annotated[FormBoolean, Field(json_schema_extra={"enum": [False]})]


class CreateWebhookEndpointParams(StripeParams):
    url: Url
    enabled_events: EnabledEvents
    api_version: Text | None = None
    connect: NotConnect | None = None
    description: Annotated[Description | None, Unsettable] = None
    expand: Expand = None
    metadata: Metadata | None = None


class UpdateWebhookEndpointParams(StripeParams):
    url: Url | None = None
    enabled_events: EnabledEvents | None = None
    description: Annotated[Description | None, Unsettable] = None
    disabled: FormBoolean | None = None
    expand: Expand = None
    metadata: Annotated[Metadata | None, Unsettable] = None


class ListWebhookEndpointsParams(StripeParams):
    ending_before: ObjectId | None = None
    expand: Expand = None
    limit: ListLimit = 10
    starting_after: ObjectId | None = None


class RetrieveWebhookEndpointParams(StripeParams):
    expand: Expand = None


def _check_events(enabled_events: list[str] | None) -> None:
    for position, name in enumerate(enabled_events or []):
        if name != ALL_EVENTS and name not in EVENT_TYPES:
            param = f"enabled_events[{position}]"
            expected = ", ".join((ALL_EVENTS, *EVENT_TYPES))
            message = f"Invalid {param}: must be one of {expected}"
            raise InvalidRequestError(message, code="parameter_invalid", param=param)


def parse_create_webhook_endpoint_params(raw: dict[str, Any]) -> CreateWebhookEndpointParams:
    params = validate_params(CreateWebhookEndpointParams, raw)
    stripe_params.check_expand(params.expand, ())
    _check_events(params.enabled_events)
    if params.connect:
        raise InvalidRequestError("Connect webhook endpoints are not supported.", param="connect")
    return params


def parse_update_webhook_endpoint_params(raw: dict[str, Any]) -> UpdateWebhookEndpointParams:
    params = validate_params(UpdateWebhookEndpointParams, raw)
    stripe_params.check_expand(params.expand, ())
    _check_events(params.enabled_events)
    return params


def parse_list_webhook_endpoints_params(raw: dict[str, Any]) -> ListWebhookEndpointsParams:
    params = validate_params(ListWebhookEndpointsParams, raw)
    stripe_params.check_one_cursor(params.starting_after, params.ending_before)
    stripe_params.check_expand(params.expand, ())
    return params


def new_signing_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(24)


def new_endpoint(params: CreateWebhookEndpointParams, endpoint_id: str, livemode: bool, now: int) -> dict[str, Any]:
    """The endpoint as Stripe shows it, without its secret (which only the create response adds)."""
    return {
        "id": endpoint_id,
        "object": "webhook_endpoint",
        "api_version": params.api_version,
        "application": None,
        "created": now,
        "description": params.description,
        "enabled_events": list(dict.fromkeys(params.enabled_events)),
        "livemode": livemode,
        "metadata": dict(params.metadata or {}),
        "status": "enabled",
        "url": params.url,
    }


def updated_endpoint(endpoint: dict[str, Any], params: UpdateWebhookEndpointParams) -> dict[str, Any]:
    updated = copy.deepcopy(endpoint)
    given = params.model_fields_set
    if params.url is not None:
        updated["url"] = params.url
    if params.enabled_events is not None:
        updated["enabled_events"] = list(dict.fromkeys(params.enabled_events))
    if "description" in given:
        updated["description"] = params.description
    if params.disabled is not None:
        updated["status"] = "disabled" if params.disabled else "enabled"
    if "metadata" in given:
        updated["metadata"] = merged_metadata(updated["metadata"], params.metadata)
    return updated


def deleted_endpoint(endpoint_id: str) -> dict[str, Any]:
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


def wants(endpoint: dict[str, Any], event_type: str) -> bool:
    """Whether an enabled endpoint subscribes to this type (`*` includes the extensions: it is every event)."""
    enabled = endpoint["enabled_events"]
    return endpoint["status"] == "enabled" and (ALL_EVENTS in enabled or event_type in enabled)


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """`Stripe-Signature` exactly as Stripe signs: HMAC-SHA256 keyed by the whole `whsec_…` string over `t.payload`."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SIGNATURE_SCHEME}={digest}"


def retry_delays(livemode: bool) -> tuple[int, ...]:
    return LIVE_RETRY_DELAYS if livemode else TEST_RETRY_DELAYS


SEALING_KID_MEMBER = "sealing_kid"
INITIAL_KID = "initial"  # the id of the plain key the template generates, once it is kept in a keyring
_SEALING_KID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")  # never ':', which ends the id in a sealed secret
_MIN_SEALING_KEY_LENGTH = 32


def parse_sealing_keyring(text: str) -> tuple[str, dict[str, str]]:
    """The sealing key's id and the keys by id, from `WebhookSecretsKey`'s text: a plain key (as the template makes
    it: id `initial`), or after a rotation a JSON object of keys by id naming the one that seals in `sealing_kid`.
    ValueError, naming no key, if it is neither."""
    try:
        members = json.loads(text)
    except ValueError:
        return INITIAL_KID, {INITIAL_KID: text}
    if not isinstance(members, dict):
        raise ValueError("the webhook sealing secret must be a key, or a JSON object of keys by id")
    sealing_kid = members.pop(SEALING_KID_MEMBER, None)
    if sealing_kid not in members:
        raise ValueError(f"the webhook sealing keyring's `{SEALING_KID_MEMBER}` must name one of its keys")
    for kid, key in members.items():
        # `initial` is the key as it was before keyrings, whatever its length: it must keep opening what it sealed
        shortest = 1 if kid == INITIAL_KID else _MIN_SEALING_KEY_LENGTH
        if not _SEALING_KID_PATTERN.fullmatch(kid) or not isinstance(key, str) or len(key) < shortest:
            raise ValueError(
                "the webhook sealing keyring holds key ids of 1-64 letters, digits, '.', '_' or '-', each with a key "
                f"of at least {_MIN_SEALING_KEY_LENGTH} characters (but `{INITIAL_KID}`)"
            )
    return sealing_kid, members


class EndpointSecrets:
    """Seals and opens endpoints' signing secrets under a key from Secrets Manager, bound to each endpoint's id.

    A sealed secret starts with the id of the key that sealed it (`2026-12:…`), so a rotation seals new secrets
    under the new key while the old ones still open under theirs; one sealed under the `initial` key carries no id,
    as before keys had ids, so a version of the service without keyrings still opens it.
    """

    def __init__(self, secret_text: str) -> None:
        self._sealing_kid, self._keys = parse_sealing_keyring(secret_text)

    def _key(self, kid: str, endpoint_id: str) -> bytes:
        from .sealing import derive_key

        master_key = self._keys.get(kid)
        if master_key is None:  # sealed under a key no longer in the keyring
            raise SealBrokenError
        return derive_key(master_key, "webhook-endpoint-secret:" + endpoint_id)

    def seal(self, endpoint_id: str, secret: str) -> str:
        from .sealing import seal

        sealed = seal(secret, self._key(self._sealing_kid, endpoint_id))
        return sealed if self._sealing_kid == INITIAL_KID else f"{self._sealing_kid}:{sealed}"

    def open(self, endpoint_id: str, sealed: str) -> str:
        from .sealing import unseal

        kid, separator, body = sealed.rpartition(":")
        return unseal(body, self._key(kid if separator else INITIAL_KID, endpoint_id))


SECRETS_KEY_MAX_AGE_SECONDS = 300


def endpoint_secrets(secret_id: str) -> EndpointSecrets:
    """The sealing key, from Secrets Manager through Powertools' cache."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from ..runtime.errors import ServiceUnavailableError
    from ..runtime.parameter_providers import secrets_provider

    unavailable = ServiceUnavailableError("Webhook secrets cannot be read right now. Please retry shortly.")
    try:
        text = secrets_provider().get(secret_id, max_age=SECRETS_KEY_MAX_AGE_SECONDS)
    except GetParameterError:
        raise unavailable from None
    try:
        return EndpointSecrets(str(text))
    except ValueError:  # a broken keyring: what is stored stays sealed for when it is fixed
        logger.error("the webhook sealing secret is not a valid keyring")
        raise unavailable from None


# Events API


class CreatedRangeParams(StripeParams):
    gt: FormInteger | None = None
    gte: FormInteger | None = None
    lt: FormInteger | None = None
    lte: FormInteger | None = None


class ListEventsParams(StripeParams):
    created: CreatedRangeParams | FormInteger | None = None
    ending_before: ObjectId | None = None
    expand: Expand = None
    limit: ListLimit = 10
    starting_after: ObjectId | None = None
    type: Text | None = None
    types: Annotated[list[Text], Field(max_length=20)] | None = None


class RetrieveEventParams(StripeParams):
    expand: Expand = None


class ResendEventParams(StripeParams):
    """What `stripe events resend --webhook-endpoint we_…` sends (stripe-cli). Without an endpoint the CLI sends
    `for_stripecli=true` instead, for a `stripe listen` session, which this service has none of: webhook_endpoint is
    required; `account` (Connect) is refused as unknown."""

    webhook_endpoint: ObjectId
    for_stripecli: FormBoolean | None = None
    expand: Expand = None


def parse_resend_event_params(raw: dict[str, Any]) -> ResendEventParams:
    params = validate_params(ResendEventParams, raw)
    stripe_params.check_expand(params.expand, ())
    return params


def parse_list_events_params(raw: dict[str, Any]) -> ListEventsParams:
    params = validate_params(ListEventsParams, raw)
    stripe_params.check_one_cursor(params.starting_after, params.ending_before)
    if params.type is not None and params.types is not None:
        raise InvalidRequestError(
            "You may only specify one of these parameters: type, types.", code="parameters_exclusive", param="types"
        )
    stripe_params.check_expand(params.expand, ())
    return params


def created_bounds(created: CreatedRangeParams | int | None) -> tuple[int | None, int | None]:
    """`created` as inclusive bounds (from, to)."""
    if created is None:
        return None, None
    if isinstance(created, int):
        return created, created
    lows = [value for value in (created.gte, None if created.gt is None else created.gt + 1) if value is not None]
    highs = [value for value in (created.lte, None if created.lt is None else created.lt - 1) if value is not None]
    return (max(lows) if lows else None), (min(highs) if highs else None)


def event_types_wanted(params: ListEventsParams) -> tuple[str, ...] | None:
    """`type` may end in `*` (Stripe: `billing_portal.session.*`), expanded over the types this service sends."""
    names = [params.type] if params.type is not None else params.types
    if names is None:
        return None
    wanted: list[str] = []
    for name in names:
        if name.endswith("*"):
            wanted += [known for known in EVENT_TYPES if known.startswith(name[:-1])]
        else:
            wanted.append(name)
    return tuple(dict.fromkeys(wanted)) or ("",)
