"""The `billing_portal.session` object: what is stored, and how Stripe's API shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..stripe_wire.api_version import RECOVERY_AND_NEW_FLOWS, has_recovery_and_new_flows

if TYPE_CHECKING:  # the request models are only needed to create sessions, not to visit them
    from ..stripe_wire.params import AfterCompletionParams, AfterExpirationParams, FlowDataParams


@dataclass(frozen=True)
class RequestRef:
    """The API request that made a change, as Stripe's events name it (`request.id`, `request.idempotency_key`)."""

    id: str | None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PortalSession:
    id: str
    livemode: bool
    customer: str | None
    customer_account: str | None
    configuration: str
    flow: dict[str, Any] | None
    locale: str | None
    on_behalf_of: str | None
    return_url: str | None
    created: int
    expires_at: int
    visited_at: int | None = None
    after_expiration: dict[str, Any] | None = None
    recovery_until: int | None = None  # when after_expiration allows recovery, until when (always set then)
    purge_at: int | None = None  # when it is erased: fixed at create (latest it or its recovery can live + retention)

    def is_expired(self, now: int) -> bool:
        # TTL deletion lags, so every read decides expiry itself.
        return now >= self.expires_at

    def is_purged(self, now: int) -> bool:
        """Past its purge time: gone, whether or not TTL or cleanup has deleted the item yet."""
        return self.purge_at is not None and now >= self.purge_at

    def visit_expiry(self, now: int, session_ttl_seconds: int, retention_seconds: int) -> int:
        """When a first visit now ends the session: after the lifetime in force, but a retention window before its
        purge time (fixed at create, under the settings then), or at the purge time if the window has since grown."""
        wanted = now + session_ttl_seconds
        if self.purge_at is None:
            return wanted
        latest = self.purge_at - retention_seconds
        return min(wanted, latest if latest > now else self.purge_at)

    def can_be_recovered(self, now: int) -> bool:
        return self.recovery_until is not None and now < self.recovery_until

    def status(self, now: int) -> str:
        """`open` until the first visit, then `visited`; `expired` once past `expires_at` (or expired on request)."""
        if self.is_expired(now):
            return "expired"
        return "open" if self.visited_at is None else "visited"

    def to_api_object(
        self,
        url: str | None,
        configuration: dict[str, Any] | str | None = None,
        *,
        now: int,
        api_version: str = RECOVERY_AND_NEW_FLOWS,
    ) -> dict[str, Any]:
        """Stripe's field set and order for the API version, then this service's extensions (`expires_at`, `status`,
        `visited_at`, as checkout.session has them). `url` is None once created: only its hash is kept."""
        shown: dict[str, Any] = {
            "id": self.id,
            "object": "billing_portal.session",
            "configuration": configuration if configuration is not None else self.configuration,
            "created": self.created,
            "customer": self.customer,
            "customer_account": self.customer_account,
            "flow": self.flow,
            "livemode": self.livemode,
            "locale": self.locale,
            "on_behalf_of": self.on_behalf_of,
            "return_url": self.return_url,
            "url": url,
        }
        if has_recovery_and_new_flows(api_version):
            shown["after_expiration"] = self.after_expiration
        elif self.flow is not None:
            shown["flow"] = {k: v for k, v in self.flow.items() if k not in _FLOW_FIELDS_FROM_2026_10_28}
        extensions = {"expires_at": self.expires_at, "status": self.status(now), "visited_at": self.visited_at}
        return shown | extensions


_FLOW_FIELDS_FROM_2026_10_28 = ("customer_update", "subscription_pause")


def after_expiration_object(params: AfterExpirationParams) -> dict[str, Any]:
    login = params.customer_login
    return {"customer_login": {"expires_at": login.expires_at if login else None}, "type": params.type}


def flow_object(flow_data: FlowDataParams) -> dict[str, Any]:
    """The session's `flow` as Stripe returns it: every field present, nulls where nothing was given."""
    cancel = flow_data.subscription_cancel
    update = flow_data.subscription_update
    confirm = flow_data.subscription_update_confirm
    pause = flow_data.subscription_pause
    return {
        "after_completion": _after_completion_object(flow_data.after_completion),
        "customer_update": {} if flow_data.type == "customer_update" else None,
        "subscription_cancel": None
        if cancel is None
        else {
            "retention": None
            if cancel.retention is None
            else {"coupon_offer": {"coupon": cancel.retention.coupon_offer.coupon}, "type": cancel.retention.type},
            "subscription": cancel.subscription,
        },
        "subscription_pause": None if pause is None else {"subscription": pause.subscription},
        "subscription_update": None if update is None else {"subscription": update.subscription},
        "subscription_update_confirm": None
        if confirm is None
        else {
            "discounts": None
            if confirm.discounts is None
            else [{"coupon": d.coupon, "promotion_code": d.promotion_code} for d in confirm.discounts],
            "items": [
                {"id": item.id, "price": item.price} | ({} if item.quantity is None else {"quantity": item.quantity})
                for item in confirm.items
            ],
            "subscription": confirm.subscription,
        },
        "type": flow_data.type,
    }


def _after_completion_object(completion: AfterCompletionParams | None) -> dict[str, Any]:
    if completion is None:
        return {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"}
    hosted = completion.hosted_confirmation
    return {
        "hosted_confirmation": {"custom_message": hosted.custom_message if hosted else None}
        if completion.type == "hosted_confirmation"
        else None,
        "redirect": {"return_url": completion.redirect.return_url} if completion.redirect else None,
        "type": completion.type,
    }


class SessionExpiredError(Exception):
    """The session existed but its URL can no longer be used."""

    def __init__(self, session: PortalSession) -> None:
        super().__init__("session expired")
        self.session = session  # its page is in the session's locale and names its configuration's business

    @property
    def return_url(self) -> str | None:
        return self.session.return_url
