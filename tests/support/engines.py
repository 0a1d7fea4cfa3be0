"""The DynamoDB engines the tests run on: moto always, and Amazon's DynamoDB Local where it can run.

Without Java or the pinned jar only moto runs, said once in pytest's report header; CI sets
PORTAL_REQUIRE_ALL_ENGINES=1 so that a missing engine fails the run instead (both in `tests/conftest.py`).
"""

from __future__ import annotations

import os

from local_gateway import dynamodb_local

DYNAMODB_LOCAL_MISSING = dynamodb_local.unavailable_reason()
REQUIRE_ALL_ENGINES = os.environ.get("PORTAL_REQUIRE_ALL_ENGINES") == "1"
ENGINES = ["moto"] if DYNAMODB_LOCAL_MISSING else ["moto", "dynamodb-local"]
