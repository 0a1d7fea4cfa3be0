"""The one logger and metrics of every function.

No tracer: Powertools' Tracer is built on the AWS X-Ray SDK, which reaches its end of support on 2027-02-25. Lambda's
own X-Ray segments (`Tracing: Active`) need no SDK; spans per AWS call come from AWS's OpenTelemetry layer where a
stack adds it (template.yaml, OpenTelemetryLayerArn).
"""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider


class OneThreadAtATimeMetrics(AmazonCloudWatchEMFProvider):
    """Powertools' CloudWatch (EMF) metrics, whose metric set one thread changes or reads at a time. In Lambda an
    environment runs one invocation at a time; the local runner runs functions side by side in one process, where one
    function's flush iterating the set while another added to it raised RuntimeError (a 500 answer)."""

    def __init__(self) -> None:
        super().__init__()
        self._one_thread = threading.RLock()  # re-entered: a flush serializes and clears, a 100th metric flushes

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        with self._one_thread:
            super().add_metric(*args, **kwargs)

    def add_dimension(self, name: str, value: str) -> None:
        with self._one_thread:
            super().add_dimension(name, value)

    def add_metadata(self, key: str, value: Any) -> None:
        with self._one_thread:
            super().add_metadata(key, value)

    def serialize_metric_set(self, *args: Any, **kwargs: Any) -> Any:
        with self._one_thread:
            return super().serialize_metric_set(*args, **kwargs)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        with self._one_thread:
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)

    def clear_metrics(self) -> None:
        with self._one_thread:
            super().clear_metrics()


logger = Logger()
metrics = Metrics(provider=OneThreadAtATimeMetrics())
