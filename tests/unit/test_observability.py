"""The metrics every function shares stay whole when functions run side by side in one process (the local runner)."""

from __future__ import annotations

import contextlib
import io
import sys
import threading
import time
import warnings
from collections.abc import Iterator

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from portal_sessions.runtime.observability import OneThreadAtATimeMetrics


@pytest.fixture
def switching_often() -> Iterator[None]:
    """Threads switched every microsecond: the interleavings a loaded process meets now and then, met at once."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_metrics_added_while_another_function_flushes_never_break_the_flush(switching_often: None) -> None:
    metrics = Metrics(namespace="test", service="test", provider=OneThreadAtATimeMetrics())
    failures: list[Exception] = []
    flushed = threading.Event()

    def add() -> None:
        count = 0
        while not flushed.is_set():
            try:
                metrics.add_metric(name=f"Metric{count % 50}", unit=MetricUnit.Count, value=1)
            except Exception as failure:  # noqa: BLE001 - what the other function would have answered 500 for
                failures.append(failure)
            count += 1

    def flush() -> None:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # a flush that finds nothing yet says so
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline and not failures:
                try:
                    metrics.flush_metrics()
                except Exception as failure:  # noqa: BLE001
                    failures.append(failure)
        flushed.set()

    threads = [threading.Thread(target=add), threading.Thread(target=add), threading.Thread(target=flush)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
