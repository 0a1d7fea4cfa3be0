"""Reading and writing the sessions table directly, as an operator (or an attacker with a dump) would."""

from __future__ import annotations

from typing import Any

from portal_sessions.domain.session import PortalSession
from portal_sessions.domain.tokens import new_object_id, new_url_token, session_id_for, url_token_hash
from portal_sessions.store.sessions import NewSession, SessionStore
from tests.support.aws import aws_client
from tests.support.factories import a_session

LATEST_LIFE_SECONDS = 300 + 3600  # the test environment's link and session lifetimes


def all_items(table_name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws_client("dynamodb").scan(TableName=table_name)["Items"]
    return items


def session_items(table_name: str) -> list[dict[str, Any]]:
    return [item for item in all_items(table_name) if item["pk"]["S"].startswith("token#")]


def session_count(table_name: str) -> int:
    """How many sessions the table holds, counted by DynamoDB (no items sent back, however large; page by page, as a
    scan reads at most 1 MB a call)."""
    pages = (
        aws_client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=table_name,
            Select="COUNT",
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": "token#"}},
        )
    )
    return sum(int(page["Count"]) for page in pages)


def item_for_token(table_name: str, token: str) -> dict[str, Any] | None:
    response = aws_client("dynamodb").get_item(
        TableName=table_name, Key={"pk": {"S": "token#" + url_token_hash(token)}}
    )
    item: dict[str, Any] | None = response.get("Item")
    return item


def insert_session(
    table_name: str,
    *,
    created: int,
    expires_at: int,
    visited_at: int | None = None,
    return_url: str | None = None,
    purge_at: int | None = None,
    purge_shards: int = 32,
    locale: str | None = "fr",
    configuration: str | None = None,
) -> tuple[str, PortalSession]:
    """Store a session directly (moto never expires items, so tests insert already-expired ones); purged at
    `purge_at`, by default the latest it could live (no retention)."""
    token = new_url_token()
    session = a_session(
        id=session_id_for(url_token_hash(token)),
        customer="cus_" + new_object_id("x")[2:16],
        locale=locale,
        return_url=return_url or "https://example.com/account",
        **({} if configuration is None else {"configuration": configuration}),
        created=created,
        expires_at=expires_at,
        visited_at=visited_at,
        purge_at=max(expires_at, created + LATEST_LIFE_SECONDS) if purge_at is None else purge_at,
    )
    SessionStore(table_name, purge_shards=purge_shards).put_new(NewSession(session, url_token_hash(token)))
    return token, session
