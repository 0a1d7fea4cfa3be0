"""Settings of each function, read once from its environment and validated so a bad deploy fails clearly.

Plain dataclasses, not pydantic models: the redirect and cleanup functions never import pydantic, and building a
model class costs a cold start several milliseconds for each settings class. Without `__eq__` (settings are never
compared): every method a dataclass generates is compiled at import, in every function's cold start.
"""

from __future__ import annotations

import os
import re
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from typing import Any

from .errors import ConfigurationError

_HTTP_URL = re.compile(r"https?://[^\s]{1,504}")  # the whole value (fullmatch): no trailing newline either
_OPTIONAL_HTTP_URL = re.compile(f"(?:{_HTTP_URL.pattern})?")  # empty: the live mode's
_DAY = 86400


def _text(*, min_length: int = 0, pattern: re.Pattern[str] | None = None, default: str | None = None) -> Any:
    rules = {"min_length": min_length, "pattern": pattern}
    return field(default=default, metadata=rules) if default is not None else field(metadata=rules)


def _number(*, default: int, ge: int, le: int) -> Any:
    return field(default=default, metadata={"ge": ge, "le": le})


@dataclass(frozen=True, kw_only=True, eq=False)
class _Settings:
    table_name: str = _text(min_length=3)


@dataclass(frozen=True, kw_only=True, eq=False)
class ApiSettings(_Settings):
    """Settings of a function that serves Stripe's API (and so checks API keys)."""

    api_keys_parameter: str = _text(min_length=1)
    public_base_url: str = _text(default="")  # empty: the URL the request came in on


@dataclass(frozen=True, kw_only=True, eq=False)
class CreateSessionSettings(ApiSettings):
    link_ttl_seconds: int = _number(default=300, ge=10, le=_DAY)
    session_ttl_seconds: int = _number(default=3600, ge=60, le=7 * _DAY)
    expired_retention_seconds: int = _number(default=7 * _DAY, ge=0, le=90 * _DAY)
    purge_shards: int = _number(default=32, ge=1, le=1000)


@dataclass(frozen=True, kw_only=True, eq=False)
class ConfigurationSettings(ApiSettings):
    portal_login_url: str = _text(pattern=_HTTP_URL)
    test_portal_login_url: str = _text(pattern=_OPTIONAL_HTTP_URL, default="")

    def portal_login_url_for(self, livemode: bool) -> str:
        return self.portal_login_url if livemode else self.test_portal_login_url or self.portal_login_url


@dataclass(frozen=True, kw_only=True, eq=False)
class RedirectSettings(_Settings):
    portal_url: str = _text(pattern=_HTTP_URL)
    portal_login_url: str = _text(pattern=_HTTP_URL)
    test_portal_url: str = _text(pattern=_OPTIONAL_HTTP_URL, default="")  # empty: the live one
    test_portal_login_url: str = _text(pattern=_OPTIONAL_HTTP_URL, default="")
    handoff_secret_id: str = _text(min_length=1)  # live mode's keyring
    test_handoff_secret_id: str = _text(min_length=1)
    session_ttl_seconds: int = _number(default=3600, ge=60, le=7 * _DAY)
    expired_retention_seconds: int = _number(default=7 * _DAY, ge=0, le=90 * _DAY)
    handoff_ttl_seconds: int = _number(default=60, ge=5, le=60)

    def portal_url_for(self, livemode: bool) -> str:
        return self.portal_url if livemode else self.test_portal_url or self.portal_url

    def portal_login_url_for(self, livemode: bool) -> str:
        return self.portal_login_url if livemode else self.test_portal_login_url or self.portal_login_url


@dataclass(frozen=True, kw_only=True, eq=False)
class SessionEventsSettings(_Settings):
    webhook_delivery_queue_url: str = _text(min_length=1)  # live mode's queue
    test_webhook_delivery_queue_url: str = _text(min_length=1)
    session_events_failed_queue_url: str = _text(min_length=1)  # records no retry can turn into an event
    event_list_shards: int = _number(default=64, ge=1, le=1000)

    def queue_url_for(self, livemode: bool) -> str:
        return self.webhook_delivery_queue_url if livemode else self.test_webhook_delivery_queue_url


@dataclass(frozen=True, kw_only=True, eq=False)
class EventsSettings(ApiSettings):
    event_list_shards: int = _number(default=64, ge=1, le=1000)
    webhook_delivery_queue_url: str = _text(min_length=1)  # live mode's: a resent event's delivery
    test_webhook_delivery_queue_url: str = _text(min_length=1)

    def queue_url_for(self, livemode: bool) -> str:
        return self.webhook_delivery_queue_url if livemode else self.test_webhook_delivery_queue_url


@dataclass(frozen=True, kw_only=True, eq=False)
class WebhookEndpointsSettings(ApiSettings):
    webhook_secrets_key_id: str = _text(min_length=1)
    # "true" only under the local runner: endpoints may be loopback addresses (see delivery_safety.py)
    webhook_local_receivers: str = _text(default="false")


@dataclass(frozen=True, kw_only=True, eq=False)
class WebhookDeliverySettings(_Settings):
    event_bus_name: str = _text(min_length=1)
    webhook_secrets_key_id: str = _text(min_length=1)
    webhook_delivery_queue_url: str = _text(min_length=1)  # live mode's queues
    webhook_failed_queue_url: str = _text(min_length=1)
    test_webhook_delivery_queue_url: str = _text(min_length=1)
    test_webhook_failed_queue_url: str = _text(min_length=1)
    webhook_attempt_seconds: int = _number(default=10, ge=1, le=10)  # one attempt's whole deadline
    webhook_local_receivers: str = _text(default="false")
    # how long an environment keeps the endpoints it read (store/cached_endpoints.py); the template sets it
    webhook_endpoint_cache_seconds: int = _number(default=0, ge=0, le=60)
    # each mode's mapping's MaximumConcurrency: its environments share the budget of an endpoint's attempts item
    live_webhook_max_concurrency: int = _number(default=20, ge=1, le=1000)
    test_webhook_max_concurrency: int = _number(default=5, ge=1, le=1000)


@dataclass(frozen=True, kw_only=True, eq=False)
class CleanupSettings(_Settings):
    # The first run's reach back (later runs start at the watermark): nothing in the table can be due earlier than
    # the table's first hour, since purge times lie after their session's create.
    cleanup_lookback_hours: int = _number(default=2, ge=1, le=24 * 90)
    purge_shards: int = _number(default=32, ge=1, le=1000)
    cleanup_queue_url: str = _text(min_length=1)


@dataclass(frozen=True, kw_only=True, eq=False)
class CleanupWorkerSettings(_Settings):
    cleanup_queue_url: str = _text(min_length=1)
    cleanup_max_deletes: int = _number(default=100_000, ge=1, le=10_000_000)  # per invocation, then a continuation
    purge_shards: int = _number(default=32, ge=1, le=1000)


def _problem(rules: Any, value: str) -> str | None:
    """What is wrong with one variable's value, by the rules its field declares."""
    if "ge" in rules:
        if not re.fullmatch(r"-?[0-9]+", value.strip()):
            return "must be an integer"
        number = int(value)
        if not rules["ge"] <= number <= rules["le"]:
            return f"must be between {rules['ge']} and {rules['le']}"
        return None
    if len(value) < rules["min_length"]:
        return f"must be at least {rules['min_length']} characters"
    if rules["pattern"] is not None and not rules["pattern"].fullmatch(value):
        return "must be an http(s) URL of at most 512 characters"
    return None


def settings_from[SettingsT: _Settings](model: type[SettingsT], environment: dict[str, str]) -> SettingsT:
    """The settings `model` describes, from environment variables named after its fields in upper case."""
    values: dict[str, Any] = {}
    problems = []
    for setting in fields(model):
        name = setting.name.upper()
        if name not in environment:
            if setting.default is MISSING:
                problems.append(f"{name}: required")
            continue
        raw = environment[name]
        problem = _problem(setting.metadata, raw)
        if problem:
            problems.append(f"{name}: {problem}")
        else:
            values[setting.name] = int(raw) if "ge" in setting.metadata else raw
    if problems:
        raise ConfigurationError(f"invalid function settings: {'; '.join(problems)}")
    return model(**values)


@cache
def create_session_settings() -> CreateSessionSettings:
    return settings_from(CreateSessionSettings, dict(os.environ))


@cache
def api_settings() -> ApiSettings:
    return settings_from(ApiSettings, dict(os.environ))


@cache
def configuration_settings() -> ConfigurationSettings:
    return settings_from(ConfigurationSettings, dict(os.environ))


@cache
def redirect_settings() -> RedirectSettings:
    return settings_from(RedirectSettings, dict(os.environ))


@cache
def cleanup_settings() -> CleanupSettings:
    return settings_from(CleanupSettings, dict(os.environ))


@cache
def cleanup_worker_settings() -> CleanupWorkerSettings:
    return settings_from(CleanupWorkerSettings, dict(os.environ))


@cache
def session_events_settings() -> SessionEventsSettings:
    return settings_from(SessionEventsSettings, dict(os.environ))


@cache
def events_settings() -> EventsSettings:
    return settings_from(EventsSettings, dict(os.environ))


@cache
def webhook_endpoints_settings() -> WebhookEndpointsSettings:
    return settings_from(WebhookEndpointsSettings, dict(os.environ))


@cache
def webhook_delivery_settings() -> WebhookDeliverySettings:
    return settings_from(WebhookDeliverySettings, dict(os.environ))


def clear_settings_cache() -> None:
    for cached in (
        create_session_settings, api_settings, configuration_settings, redirect_settings, cleanup_settings,
        session_events_settings, webhook_endpoints_settings, webhook_delivery_settings,
        cleanup_worker_settings, events_settings,
    ):  # fmt: skip
        cached.cache_clear()
