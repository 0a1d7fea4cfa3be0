"""Powertools' parameter providers for SSM Parameter Store and Secrets Manager, one each per execution environment.

They are built here, on boto3's default session, rather than through Powertools' `get_parameter`/`get_secret`:
those build each provider on a new boto3 Session, which loads botocore's endpoint rules and service model again
(a tenth of a second on a cold start), and with boto3's default timeouts of 60 s, beyond the functions' 15 s.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from botocore.config import Config

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

# At most 3 attempts of at most 3 s each: a failing store is reported well before the function's timeout.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=2)


@cache
def ssm_parameters() -> SSMProvider:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=boto3.client("ssm", config=_CLIENT_CONFIG))


@cache
def secrets() -> SecretsProvider:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=boto3.client("secretsmanager", config=_CLIENT_CONFIG))


def clear_provider_cache() -> None:
    """Forget the providers, with their clients and cached values: the next ones are built from the settings in force
    then (tests: a new mock of AWS)."""
    ssm_parameters.cache_clear()
    secrets.cache_clear()
