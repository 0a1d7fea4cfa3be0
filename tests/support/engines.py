"""The DynamoDB engines the tests run on: moto always, and Amazon's DynamoDB Local where it can run.

Without Java or the pinned jar only moto runs, said once in pytest's report header; CI sets
PORTAL_REQUIRE_ALL_ENGINES=1 so that a missing engine fails the run instead (both in `tests/conftest.py`), and so
does every other skip (a tool missing: Node, stripe-node, Checkov, Chromium): `required`, applied to every report.
"""

from __future__ import annotations

import os

import pytest

from local_gateway import dynamodb_local

DYNAMODB_LOCAL_MISSING = dynamodb_local.unavailable_reason()
REQUIRE_ALL_ENGINES = os.environ.get("PORTAL_REQUIRE_ALL_ENGINES") == "1"
ENGINES = ["moto"] if DYNAMODB_LOCAL_MISSING else ["moto", "dynamodb-local"]


def required(report: pytest.TestReport, *, require_all: bool = REQUIRE_ALL_ENGINES) -> pytest.TestReport:
    """The report as it stands, or, where every engine and tool must run, a skip turned into a failure that says why
    the test was skipped (an expected failure, xfail, stays what it is)."""
    if require_all and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped where PORTAL_REQUIRE_ALL_ENGINES=1 wants every engine and tool: {reason}"
    return report
