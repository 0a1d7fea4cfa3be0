"""The AWS side of a local run: an embedded moto server (unless told otherwise), the table from the
template, the API key digests in SSM and the hand-off signing key in Secrets Manager."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from portal_sessions.domain.auth import key_hash
from portal_sessions.domain.handoff import SIGNING_KID_MEMBER, Keyring, parse_keyring
from portal_sessions.domain.tokens import new_object_id

from . import dynamodb_local
from .aws_limits import enforce_aws_limits
from .dynamodb_local import DynamoDBLocal
from .template import ROOT, table_definition

LOCAL_REGION = "us-east-1"
API_KEYS_PARAMETER = "/portal-sessions/local/api-key-hashes"
HANDOFF_SECRET_NAME = "portal-sessions/local/handoff-signing-key"
TEST_HANDOFF_SECRET_NAME = "portal-sessions/local/test-handoff-signing-key"
DEFAULT_TABLE_NAME = "portal-sessions-local"


# `--dynamodb local` keeps its tables here across restarts (PORTAL_DYNAMODB_DATA names another folder).
DEFAULT_DYNAMODB_LOCAL_DATA = ROOT / ".dynamodb-local"


@dataclass
class LocalBackend:
    endpoint_url: str | None
    table_name: str
    server: Any = None
    dynamodb_local: DynamoDBLocal | None = None

    @property
    def dynamodb_description(self) -> str:
        if self.dynamodb_local is not None:
            return f"DynamoDB Local ({self.dynamodb_local.endpoint_url}, data in {dynamodb_local_data()})"
        return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or f"embedded ({self.endpoint_url})"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.dynamodb_local is not None:
            self.dynamodb_local.stop()


def dynamodb_local_data() -> Path:
    return Path(os.environ.get("PORTAL_DYNAMODB_DATA") or DEFAULT_DYNAMODB_LOCAL_DATA)


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def start_backend(dynamodb: str = "embedded", *, address: str = "127.0.0.1") -> LocalBackend:
    """Start moto on loopback and point the AWS SDK at it; `AWS_ENDPOINT_URL_DYNAMODB` keeps another DynamoDB, and
    `dynamodb="local"` starts Amazon's DynamoDB Local with its data on disk. moto listens on `address` (loopback
    unless a container engine's bridge must reach it)."""
    from moto.server import ThreadedMotoServer

    running_local = None
    if dynamodb == "local":
        data = dynamodb_local_data()
        running_local = dynamodb_local.start(db_path=data, log_path=data / "server.log")
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = running_local.endpoint_url

    enforce_aws_limits()  # moto takes what AWS refuses
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    port = free_port(address)
    server = ThreadedMotoServer(ip_address=address, port=port, verbose=False)
    server.start()
    endpoint = f"http://{address}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint  # service-specific AWS_ENDPOINT_URL_* settings still win
    if "AWS_ENDPOINT_URL_DYNAMODB" in os.environ:  # another DynamoDB serves its own streams too
        os.environ.setdefault("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
    os.environ.setdefault("AWS_DEFAULT_REGION", LOCAL_REGION)
    if "AWS_ACCESS_KEY_ID" not in os.environ and "AWS_PROFILE" not in os.environ:
        os.environ["AWS_ACCESS_KEY_ID"] = os.environ["AWS_SECRET_ACCESS_KEY"] = "local"  # moto accepts any
    table_name = os.environ.get("PORTAL_TABLE_NAME", DEFAULT_TABLE_NAME)
    return LocalBackend(endpoint_url=endpoint, table_name=table_name, server=server, dynamodb_local=running_local)


def ensure_table(template: dict[str, Any], table_name: str) -> None:
    """Create the table from the template's own definition, unless it already exists."""
    client = boto3.client("dynamodb")
    definition = table_definition(template)
    try:
        client.describe_table(TableName=table_name)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    client.create_table(TableName=table_name, **definition["create_table"])
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = definition["time_to_live"]
    if ttl:
        client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)


def store_api_keys(api_keys: list[str]) -> None:
    value = ",".join(key_hash(key) for key in api_keys)
    boto3.client("ssm").put_parameter(Name=API_KEYS_PARAMETER, Value=value, Type="String", Overwrite=True)


def store_handoff_secrets() -> dict[bool, Keyring]:
    """A new keyring for each mode (livemode → keyring), in the secrets the template names."""
    keyrings = {}
    client = boto3.client("secretsmanager")
    for livemode, name in ((True, HANDOFF_SECRET_NAME), (False, TEST_HANDOFF_SECRET_NAME)):
        kid = f"{'live' if livemode else 'test'}-local"
        text = json.dumps({SIGNING_KID_MEMBER: kid, kid: secrets.token_urlsafe(48)})
        try:
            client.create_secret(Name=name, SecretString=text)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceExistsException":
                raise
            client.put_secret_value(SecretId=name, SecretString=text)
        keyrings[livemode] = parse_keyring(text)
    return keyrings


def new_test_api_key() -> str:
    return new_object_id("sk_test")


EVENT_BUS_NAME = "portal-sessions-local"


def ensure_event_bus() -> str:
    client = boto3.client("events")
    try:
        client.create_event_bus(Name=EVENT_BUS_NAME)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    return EVENT_BUS_NAME


WEBHOOK_SECRETS_KEY_NAME = "portal-sessions/local/webhook-secrets-key"
WEBHOOK_QUEUES = {
    "WebhookDeliveryQueue": "portal-sessions-local-webhooks",
    "WebhookFailedDeliveriesQueue": "portal-sessions-local-webhooks-failed",
    "TestWebhookDeliveryQueue": "portal-sessions-local-test-webhooks",
    "TestWebhookFailedDeliveriesQueue": "portal-sessions-local-test-webhooks-failed",
    "SessionEventsDeadLetterQueue": "portal-sessions-local-session-events-failed",
}


def ensure_webhook_resources() -> dict[str, str]:
    """The webhook sealing key and queues; the template's references to them, resolved."""
    client = boto3.client("secretsmanager")
    try:
        client.create_secret(Name=WEBHOOK_SECRETS_KEY_NAME, SecretString=secrets.token_urlsafe(48))
    except ClientError as exc:  # kept: endpoints made in an earlier run must still open their secrets
        if exc.response["Error"]["Code"] != "ResourceExistsException":
            raise
    sqs = boto3.client("sqs")
    refs = {logical_id: sqs.create_queue(QueueName=name)["QueueUrl"] for logical_id, name in WEBHOOK_QUEUES.items()}
    return {"WebhookSecretsKey": WEBHOOK_SECRETS_KEY_NAME, **refs}


CLEANUP_QUEUE_NAME = "portal-sessions-local-cleanup"


def ensure_cleanup_queue() -> str:
    """The queue of cleanup units (its URL), as template.yaml's CleanupQueue; creating an existing one is a no-op."""
    return boto3.client("sqs").create_queue(QueueName=CLEANUP_QUEUE_NAME)["QueueUrl"]
