"""Loads the functions the way Lambda does (code folder and layer on the path) and invokes them."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from .template import (
    FunctionSpec,
    condition_values,
    functions,
    layer_dirs,
    parameter_defaults,
    resolve,
    with_conditions,
)


@dataclass
class LambdaContext:
    """The fields of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


class FunctionRuntime:
    """All functions of the template in this process. `invoke` (the HTTP routes, `invoke`) runs a function one request
    at a time, like one Lambda execution environment (Powertools' resolver keeps the current event on the app); an
    event source mapping gets environments of its own (`environment`), so no mapping waits for another's."""

    def __init__(self, template: dict[str, Any], refs: dict[str, str]) -> None:
        self.specs = functions(template)
        self._handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self._locks = {name: threading.Lock() for name in self.specs}
        self._environments: dict[str, int] = {}  # how many each function's event source mappings have
        refs = {**parameter_defaults(template), **refs}
        for directory in [*layer_dirs(template), *(spec.code_dir for spec in self.specs.values())]:
            if str(directory) not in sys.path:
                sys.path.insert(0, str(directory))
        self._apply_environment(refs, condition_values(template, refs))

    def _apply_environment(self, refs: dict[str, str], conditions: dict[str, bool]) -> None:
        # Every function's environment goes into this one process, so a name must mean one value;
        # a variable already set in the shell overrides the template (e.g. LINK_TTL_SECONDS=60).
        merged: dict[str, str] = {}
        for spec in self.specs.values():
            for name, raw in with_conditions(spec.environment, conditions).items():
                value = resolve(raw, refs)
                if merged.setdefault(name, value) != value:
                    raise ValueError(f"{name} differs between functions; the local gateway runs them in one process")
        for name, value in merged.items():
            os.environ.setdefault(name, value)

    def handler(self, name: str) -> Callable[[dict[str, Any], Any], Any]:
        if name not in self._handlers:
            spec: FunctionSpec = self.specs[name]
            module = importlib.import_module(spec.module)
            self._handlers[name] = getattr(module, spec.attribute)
        return self._handlers[name]

    def environment(self, name: str) -> Callable[[dict[str, Any]], Any]:
        """One more execution environment of the function, for an event source mapping: its own copy of the handler's
        module (so module-level state, such as a batch processor, is its own) invoked one event at a time, beside
        the function's other environments, as Lambda gives each concurrent invocation an environment of its own.
        The layer's modules are this process's, shared."""
        spec = self.specs[name]
        self._environments[name] = number = self._environments.get(name, 0) + 1
        module_name = f"{spec.module}__environment_{number}"
        found = importlib.util.spec_from_file_location(module_name, spec.code_dir / f"{spec.module}.py")
        if found is None or found.loader is None:
            raise ImportError(f"no module {spec.module} in {spec.code_dir}")
        module = importlib.util.module_from_spec(found)
        sys.modules[module_name] = module  # dataclasses and pickling look a class's module up by name
        found.loader.exec_module(module)
        handler = getattr(module, spec.attribute)
        lock = threading.Lock()

        def invoke(event: dict[str, Any]) -> Any:
            with lock, _invocation_span(name):
                return handler(event, LambdaContext(function_name=name, aws_request_id=str(uuid.uuid4())))

        return invoke

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        if name not in self.specs:
            raise KeyError(f"no function {name!r} in the template; there are {', '.join(sorted(self.specs))}")
        handler = self.handler(name)
        with self._locks[name], _invocation_span(name):
            return handler(event, LambdaContext(function_name=name, aws_request_id=str(uuid.uuid4())))


def _invocation_span(function: str) -> AbstractContextManager[object]:
    """Under `opentelemetry-instrument`, each invocation is a span, parent of the function's AWS calls, as AWS's
    OpenTelemetry layer makes one in Lambda; the runner's own calls (moto's setup, the seeds) stay outside it."""
    if "opentelemetry.trace" not in sys.modules:  # not instrumented: nothing to import or record
        return nullcontext()
    from opentelemetry import trace

    tracer = trace.get_tracer("local_gateway")
    return tracer.start_as_current_span(function, kind=trace.SpanKind.SERVER, attributes={"faas.name": function})
