"""Every exception the layer raises, in one module, but `SessionExpiredError`: it carries the session, so it sits
with it (domain/session.py), above this room.

Stripe-shaped errors (`StripeError` and its kinds) are raised by domain code and rendered once by the web adapter;
the others are signals between the layer's modules (the store's failed conditions, a broken seal, an unsafe webhook
URL, …), each caught and turned into an answer, a retry or a Stripe-shaped error by whoever called.
"""

from __future__ import annotations

from typing import Any

MAX_MESSAGE = 40000
MAX_PARAM = 5000


class StripeError(Exception):
    """An error the API reports as `{"error": {...}}` with an HTTP status."""

    http_status = 500
    error_type = "api_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        # Within Stripe's error schema even when a hostile request names a huge parameter.
        self.message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
        self.code = code
        self.param = param if param is None or len(param) <= MAX_PARAM else param[: MAX_PARAM - 1] + "…"

    def response_headers(self) -> dict[str, str]:
        """Headers the error's response carries besides the usual ones."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


class InvalidRequestError(StripeError):
    http_status = 400
    error_type = "invalid_request_error"


class IdempotencyError(StripeError):
    """The Idempotency-Key was first used with other parameters (the SDK raises stripe.IdempotencyError)."""

    http_status = 400
    error_type = "idempotency_error"


class IdempotencyKeyInUseError(StripeError):
    """Another request with this key is still running; the SDK retries a 409 and then gets the replay."""

    http_status = 409
    error_type = "idempotency_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="idempotency_key_in_use")


class ResourceMissingError(InvalidRequestError):
    """A parameter names an object that does not exist (Stripe answers 400 for params, 404 for paths)."""

    def __init__(self, message: str, *, param: str | None = None, http_status: int = 400) -> None:
        super().__init__(message, code="resource_missing", param=param)
        self.http_status = http_status


class RequestTooLargeError(InvalidRequestError):
    http_status = 413


class AuthenticationError(InvalidRequestError):
    """Stripe reports a missing or wrong key as an invalid_request_error with status 401."""

    http_status = 401


class PermissionDeniedError(InvalidRequestError):
    """A restricted key used beyond what it may do (the SDK raises stripe.PermissionError)."""

    http_status = 403


class UnrecognizedUrlError(InvalidRequestError):
    """No route of the API takes this URL (Stripe's 404 for an unknown URL)."""

    http_status = 404


class MethodNotAllowedError(InvalidRequestError):
    """A path the API serves, with a method it does not serve there; `allowed` are the methods it does."""

    http_status = 405

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed

    def response_headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class RateLimitError(StripeError):
    http_status = 429
    error_type = "invalid_request_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="rate_limit")


class ServiceUnavailableError(StripeError):
    """A dependency failed after its retries; nothing was written, so the client may retry."""

    http_status = 503
    error_type = "api_error"


class SessionNotFoundError(Exception):
    """No session has this URL token."""


class ConfigurationError(Exception):
    """The function is deployed with settings it cannot run with."""


# Signals between the layer's modules


class ConditionFailedError(Exception):
    """A conditional write found the item otherwise than required; `item` is the item as it was, if any."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


class ClaimLostError(Exception):
    """An idempotency claim no longer held its record when the operation came to complete it (it lapsed and another
    request took the key over): the operation's write was not made."""


class TransactionConditionFailedError(Exception):
    """Items of a TransactWriteItems failed their conditions: `items` maps each one's position to the item DynamoDB
    returned for it (None if it returned none). The repository that built the transaction says what that means."""

    def __init__(self, items: dict[int, dict[str, Any] | None]) -> None:
        super().__init__(f"transaction items {sorted(items)} failed their conditions")
        self.items = items


class ConfigurationCheckFailedError(Exception):
    """The configuration a session names is missing, inactive, of the other mode, or has the flow's feature off: its
    check failed in the session's transaction (`item`: the configuration's item as it was, if returned)."""

    def __init__(self, item: dict[str, Any] | None = None) -> None:
        super().__init__("configuration check failed")
        self.item = item


class SealBrokenError(Exception):
    """The sealed value was altered, sealed under another key, or sealed in an older format."""


class UnsafeUrlError(Exception):
    """The endpoint's URL may not be delivered to (scheme, or an address that is not public); `kind` names which, in
    a fixed word an operator may see: `unsafe_address` or `dns_failure`."""

    def __init__(self, reason: str, kind: str = "unsafe_address") -> None:
        super().__init__(reason)
        self.kind = kind


class DeliveryFailedError(Exception):
    """An attempt failed: no connection, a timeout, or a non-2xx answer (`status`); `kind` names which, in a fixed
    word an operator may see (`timeout`, `connection_refused`, `connection_reset`, `tls_error`, `no_answer`, or
    `http_status` for an answer)."""

    def __init__(self, reason: str, status: int | None = None, kind: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.kind = kind if kind is not None else ("http_status" if status is not None else "no_answer")


class PublishError(Exception):
    """EventBridge did not take the event this time (the message is retried)."""


class PublishRefusedError(PublishError):
    """EventBridge refused the event as invalid: a retry would be refused the same way."""
