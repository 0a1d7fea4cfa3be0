"""Settings of each function, read once from its environment and validated so a bad deploy fails clearly."""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigurationError


class _Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    table_name: str = Field(min_length=3)


SettingsT = TypeVar("SettingsT", bound=_Settings)


class ApiSettings(_Settings):
    """Settings of a function that serves Stripe's API (and so checks API keys)."""

    api_keys_parameter: str = Field(min_length=1)
    event_bus_name: str = ""  # empty: no events
    public_base_url: str = ""  # empty: the URL the request came in on


class CreateSessionSettings(ApiSettings):
    link_ttl_seconds: int = Field(default=300, ge=10, le=86400)
    session_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 86400)


class ConfigurationSettings(ApiSettings):
    portal_login_url: str = Field(pattern=r"^https?://[^\s]+$")


class RedirectSettings(_Settings):
    event_bus_name: str = ""
    portal_url: str = Field(pattern=r"^https?://[^\s]+$")
    portal_login_url: str = Field(pattern=r"^https?://[^\s]+$")
    handoff_secret_id: str = Field(min_length=1)
    session_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    handoff_ttl_seconds: int = Field(default=60, ge=5, le=60)


class CleanupSettings(_Settings):
    cleanup_lookback_hours: int = Field(default=168, ge=1, le=24 * 90)


def _from_environment(model: type[SettingsT]) -> SettingsT:
    values = {name.lower(): value for name, value in os.environ.items()}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"invalid function settings: {problems}") from None


@cache
def create_session_settings() -> CreateSessionSettings:
    return _from_environment(CreateSessionSettings)


@cache
def api_settings() -> ApiSettings:
    return _from_environment(ApiSettings)


@cache
def configuration_settings() -> ConfigurationSettings:
    return _from_environment(ConfigurationSettings)


@cache
def redirect_settings() -> RedirectSettings:
    return _from_environment(RedirectSettings)


@cache
def cleanup_settings() -> CleanupSettings:
    return _from_environment(CleanupSettings)


def clear_settings_cache() -> None:
    for cached in (create_session_settings, api_settings, configuration_settings, redirect_settings, cleanup_settings):
        cached.cache_clear()
