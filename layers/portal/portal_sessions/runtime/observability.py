"""The one logger and metrics of every function.

No tracer: Powertools' Tracer is built on the AWS X-Ray SDK, which reaches its end of support on 2027-02-25. Lambda's
own X-Ray segments (`Tracing: Active`) need no SDK; spans per AWS call come from AWS's OpenTelemetry layer where a
stack adds it (template.yaml, OpenTelemetryLayerArn).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
