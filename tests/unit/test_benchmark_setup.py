"""The benchmarks run each function with the environment template.yaml gives it: every reference must resolve."""

from __future__ import annotations

import pytest

from benchmarks.common import function_environment
from local_gateway.template import functions, load_template


@pytest.mark.parametrize("logical_id", sorted(functions(load_template())))
def test_every_functions_environment_resolves_for_the_benchmarks(logical_id: str) -> None:
    environment = function_environment(logical_id)

    assert environment and all(isinstance(value, str) for value in environment.values())
