"""Loads the functions the way Lambda does (code folder and layer on the path) and invokes them."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .template import FunctionSpec, functions, layer_dirs, parameter_defaults, resolve


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
    """All functions of the template in this process, each invoked one request at a time, like one
    Lambda execution environment (Powertools' resolver keeps the current event on the app)."""

    def __init__(self, template: dict[str, Any], refs: dict[str, str]) -> None:
        self.specs = functions(template)
        self._handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self._locks = {name: threading.Lock() for name in self.specs}
        refs = {**parameter_defaults(template), **refs}
        for directory in [*layer_dirs(template), *(spec.code_dir for spec in self.specs.values())]:
            if str(directory) not in sys.path:
                sys.path.insert(0, str(directory))
        self._apply_environment(refs)

    def _apply_environment(self, refs: dict[str, str]) -> None:
        # Every function's environment goes into this one process, so a name must mean one value;
        # a variable already set in the shell overrides the template (e.g. LINK_TTL_SECONDS=60).
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here, unless asked for
        merged: dict[str, str] = {}
        for spec in self.specs.values():
            for name, raw in spec.environment.items():
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

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        if name not in self.specs:
            raise KeyError(f"no function {name!r} in the template; there are {', '.join(sorted(self.specs))}")
        handler = self.handler(name)
        with self._locks[name]:
            return handler(event, LambdaContext(function_name=name, aws_request_id=str(uuid.uuid4())))
