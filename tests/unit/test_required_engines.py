"""Under PORTAL_REQUIRE_ALL_ENGINES=1 (CI) a test that skips (its tool missing) is reported failed, saying why."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.engines import required


def report(outcome: str, longrepr: Any = None, **extra: Any) -> pytest.TestReport:
    made = pytest.TestReport("tests/x.py::test_x", ("tests/x.py", 1, "test_x"), {}, outcome, longrepr, "setup")
    for name, value in extra.items():
        setattr(made, name, value)
    return made


SKIP = ("tests/x.py", 3, "Skipped: stripe-node tests need Node.js (`node`), which is not installed")


def test_a_skip_fails_where_every_tool_must_run_and_says_why() -> None:
    failed = required(report("skipped", SKIP), require_all=True)

    assert failed.failed
    assert "PORTAL_REQUIRE_ALL_ENGINES=1" in str(failed.longrepr) and "need Node.js" in str(failed.longrepr)


def test_a_skip_stays_a_skip_elsewhere() -> None:
    assert required(report("skipped", SKIP), require_all=False).skipped


@pytest.mark.parametrize("made", [report("skipped", SKIP, wasxfail="known"), report("passed"), report("failed")])
def test_other_outcomes_stay_as_they_are(made: pytest.TestReport) -> None:
    outcome = made.outcome

    assert required(made, require_all=True).outcome == outcome
