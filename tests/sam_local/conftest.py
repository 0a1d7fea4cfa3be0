"""Hooks of `make sam-local`'s tests (scripts/sam_local/run.sh)."""

from __future__ import annotations

import signal
from types import FrameType

import pytest


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def pytest_configure(config: pytest.Config) -> None:
    # run.sh runs pytest as a background job, which ignores Ctrl-C, and stops it with SIGTERM: unwind as Ctrl-C
    # does, so every fixture's teardown stops what it started (the local AWS, sam local start-api).
    signal.signal(signal.SIGTERM, _interrupt)
