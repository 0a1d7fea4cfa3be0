"""End-to-end fixtures: the whole service started the way a developer starts it, `python -m local_gateway run`
(tests/support/local_service.py), once per DynamoDB engine for the whole session."""

from __future__ import annotations

from tests.support import local_service

service = local_service.service  # the fixture, shared with tests/browser
