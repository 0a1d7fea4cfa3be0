"""The one logger, metrics and tracer of every function.

The tracer (Powertools' Tracer on the X-Ray SDK: a subsegment for the handler and one per AWS call, DynamoDB's
included) exists only where tracing is on. Importing the X-Ray SDK costs a cold start 200-300 ms on these machines,
which a function with tracing off should not pay, and Powertools' Tracer imports it even when disabled.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])

logger = Logger()
metrics = Metrics()


def _tracing_enabled() -> bool:
    """As Powertools decides: on in Lambda, unless POWERTOOLS_TRACE_DISABLED says otherwise or SAM runs it locally."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "yes", "on")
    in_lambda = bool(os.environ.get("LAMBDA_TASK_ROOT")) and not os.environ.get("AWS_SAM_LOCAL")
    return in_lambda and not disabled


def _new_tracer() -> Tracer | None:
    if not _tracing_enabled():
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=["botocore"])  # AWS calls only: DynamoDB, EventBridge, SSM, Secrets Manager


tracer = _new_tracer()


def traced[HandlerT: Callable[..., Any]](handler: HandlerT) -> HandlerT:
    """The handler in a subsegment of its own, when tracing is on. Its response is never recorded: a created
    session's URL holds a secret token."""
    if tracer is None:
        return handler
    return cast(HandlerT, tracer.capture_lambda_handler(handler, capture_response=False))
