"""The one logger and metrics of every function (no tracer yet: the X-Ray SDK would pull botocore into the layer)."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
