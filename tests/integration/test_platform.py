"""The platform the template deploys: every function and layer on python3.13 (Amazon Linux 2023), the tools and this
suite on the same Python; tracing without the X-Ray SDK (Lambda's own segments, and AWS's OpenTelemetry layer when a
stack asks for it)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from typing import Any

import pytest

from local_gateway.template import ROOT, condition_values, with_conditions
from tests.support.settings import TEMPLATE

RUNTIME = "python3.13"
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = sorted(name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::Serverless::Function")
LAYERS = sorted(name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::Serverless::LayerVersion")
BUILD_MAKEFILES = ["functions/Makefile", "layers/portal/Makefile", "layers/cipher/Makefile"]


def runtime_of(function: str) -> Any:
    return RESOURCES[function]["Properties"].get("Runtime", TEMPLATE["Globals"]["Function"].get("Runtime"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_runs_on_python_3_13(function: str) -> None:
    assert runtime_of(function) == RUNTIME


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_is_built_for_python_3_13_on_arm64(layer: str) -> None:
    properties = RESOURCES[layer]["Properties"]

    assert properties["CompatibleRuntimes"] == [RUNTIME]
    assert properties["CompatibleArchitectures"] == ["arm64"]


@pytest.mark.parametrize("makefile", BUILD_MAKEFILES)
def test_sam_builds_wheels_and_bytecode_for_the_runtimes_python(makefile: str) -> None:
    text = (ROOT / makefile).read_text()

    assert re.search(r"^PYTHON \?= python3\.13$", text, re.MULTILINE)  # compiles the .pyc Lambda loads
    if "--python-version" in text:  # pip picks the wheels (cp313) for this version
        assert re.search(r"^PYTHON_VERSION := 3\.13$", text, re.MULTILINE)


def test_the_project_and_its_tools_target_the_runtimes_python() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    makefile = (ROOT / "Makefile").read_text()

    assert pyproject["project"]["requires-python"] == ">=3.13,<3.14"
    assert pyproject["tool"]["ruff"]["target-version"] == "py313"
    assert pyproject["tool"]["mypy"]["python_version"] == "3.13"
    assert re.search(r"^PYTHON_VERSION := 3\.13$", makefile, re.MULTILINE)


def test_this_suite_runs_on_the_runtimes_python() -> None:
    assert f"python{sys.version_info.major}.{sys.version_info.minor}" == RUNTIME


# --- tracing -----------------------------------------------------------------------------------------------------

GLOBAL_FUNCTION: dict[str, Any] = TEMPLATE["Globals"]["Function"]
OTEL_LAYER = "arn:aws:lambda:us-east-1:901920570463:layer:aws-otel-python-arm64-ver-1-32-0:2"


def deployed(value: Any, **parameters: str) -> Any:
    """`value` as CloudFormation deploys it for these parameters (the others at their defaults)."""
    return with_conditions(value, condition_values(TEMPLATE, parameters))


def references(value: Any) -> set[str]:
    if isinstance(value, dict):
        own = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
        return own.union(*(references(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(references(item) for item in value))
    if isinstance(value, str):
        return set(re.findall(r"\$\{(\w+)\}", value))
    return set()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_keeps_lambdas_own_x_ray_segments(function: str) -> None:
    assert RESOURCES[function]["Properties"].get("Tracing", GLOBAL_FUNCTION.get("Tracing")) == "Active"


def test_powertools_trace_disabled_is_still_accepted_and_changes_nothing() -> None:
    # stacks deployed with it still update; nothing reads it now that no function has a tracer
    parameter = TEMPLATE["Parameters"]["PowertoolsTraceDisabled"]

    assert set(parameter["AllowedValues"]) == {"true", "false"}
    assert "ignored" in parameter["Description"]
    everything_else = {key: value for key, value in TEMPLATE.items() if key != "Parameters"}
    assert "PowertoolsTraceDisabled" not in references(everything_else)


def test_by_default_no_function_gets_an_opentelemetry_layer_or_wrapper() -> None:
    assert TEMPLATE["Parameters"]["OpenTelemetryLayerArn"]["Default"] == ""
    assert deployed(GLOBAL_FUNCTION["Layers"]) == [{"Ref": "PortalLayer"}]
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in deployed(GLOBAL_FUNCTION["Environment"]["Variables"])


def test_an_opentelemetry_layer_arn_adds_the_layer_and_its_wrapper_to_every_function() -> None:
    layers = deployed(GLOBAL_FUNCTION["Layers"], OpenTelemetryLayerArn=OTEL_LAYER)
    variables = deployed(GLOBAL_FUNCTION["Environment"]["Variables"], OpenTelemetryLayerArn=OTEL_LAYER)

    assert layers == [{"Ref": "PortalLayer"}, {"Ref": "OpenTelemetryLayerArn"}]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/otel-instrument"
    assert re.fullmatch(TEMPLATE["Parameters"]["OpenTelemetryLayerArn"]["AllowedPattern"], OTEL_LAYER)
    for function in FUNCTIONS:  # no function replaces the Globals' environment or wrapper
        own = RESOURCES[function]["Properties"]
        assert "AWS_LAMBDA_EXEC_WRAPPER" not in own.get("Environment", {}).get("Variables", {}), function


def _imports(path: Any) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("folder", ["functions", "layers"])
def test_no_deployed_code_imports_the_x_ray_sdk_or_powertools_tracer(folder: str) -> None:
    sources = sorted((ROOT / folder).rglob("*.py"))
    offending = {
        str(path.relative_to(ROOT)): name
        for path in sources
        for name in _imports(path)
        if name.split(".")[0] == "aws_xray_sdk"
        or name in ("aws_lambda_powertools.Tracer", "aws_lambda_powertools.tracing")
        or name.startswith("aws_lambda_powertools.tracing.")
    }

    assert sources
    assert offending == {}
    assert "aws-xray-sdk" not in (ROOT / "layers" / "portal" / "requirements.txt").read_text()
