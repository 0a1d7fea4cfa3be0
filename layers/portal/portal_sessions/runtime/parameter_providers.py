"""Powertools' parameter providers for SSM Parameter Store and Secrets Manager, one each per execution environment.

They are built here, on boto3's default session, rather than through Powertools' `get_parameter`/`get_secret`:
those build each provider on a new boto3 Session, which loads botocore's endpoint rules and service model again (a
tenth of a second on a cold start, and in every test that starts from a fresh mock).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider


@cache
def ssm_parameters() -> SSMProvider:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=boto3.client("ssm"))


@cache
def secrets_provider() -> SecretsProvider:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=boto3.client("secretsmanager"))


def clear_provider_cache() -> None:
    """Forget the providers, with their clients and cached values: the next ones are built from the settings in force
    then (tests: a new mock of AWS)."""
    ssm_parameters.cache_clear()
    secrets_provider.cache_clear()


def forget_cached_values() -> None:
    """Drop the values the providers cached, keeping their clients: the next read of each goes to SSM or Secrets
    Manager (after a SnapStart restore, so no copy keeps using what the snapshot held)."""
    for provider in (ssm_parameters, secrets_provider):
        if provider.cache_info().currsize:  # built: clear its values without building one just for that
            provider().clear_cache()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
