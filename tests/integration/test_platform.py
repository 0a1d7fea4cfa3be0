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


# --- SnapStart ---------------------------------------------------------------------------------------------------

SNAPSTART_BY_DEFAULT = {"CreateSessionFunction", "RedirectFunction"}  # the cold starts a customer waits on
SNAPSTART_SETTINGS = [
    {"SnapStart": on, "SnapStartOtherFunctions": others} for on in ("true", "false") for others in ("true", "false")
]


def snapstart_of(function: str, **parameters: str) -> Any:
    """What the deployed function's SnapStart applies to: PublishedVersions or None."""
    snapstart = RESOURCES[function]["Properties"].get("SnapStart", GLOBAL_FUNCTION.get("SnapStart"))
    return deployed(snapstart, **parameters)["ApplyOn"]


def provisioned_concurrency_of(function: str, **parameters: str) -> Any:
    return deployed(RESOURCES[function]["Properties"], **parameters).get("ProvisionedConcurrencyConfig")


def rules_allow(**parameters: str) -> bool:
    """Whether CloudFormation would accept these parameters: every rule's assertions hold where its condition does."""
    for rule in TEMPLATE.get("Rules", {}).values():
        expressions = {"applies": rule.get("RuleCondition", {"Fn::Equals": ["x", "x"]})}
        expressions |= {f"assertion {n}": assertion["Assert"] for n, assertion in enumerate(rule["Assertions"])}
        values = condition_values({"Parameters": TEMPLATE["Parameters"], "Conditions": expressions}, parameters)
        if values.pop("applies") and not all(values.values()):
            return False
    return True


@pytest.mark.parametrize("function", FUNCTIONS)
def test_by_default_snapstart_is_on_for_create_and_the_redirect_only(function: str) -> None:
    expected = "PublishedVersions" if function in SNAPSTART_BY_DEFAULT else "None"

    assert snapstart_of(function) == expected
    assert RESOURCES[function]["Properties"].get("AutoPublishAlias", GLOBAL_FUNCTION.get("AutoPublishAlias"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_one_parameter_turns_snapstart_off_everywhere_and_another_on_everywhere(function: str) -> None:
    assert snapstart_of(function, SnapStart="false") == "None"
    assert snapstart_of(function, SnapStart="false", SnapStartOtherFunctions="true") == "None"
    assert snapstart_of(function, SnapStartOtherFunctions="true") == "PublishedVersions"


def test_snapstart_is_on_by_default_and_the_other_functions_off() -> None:
    parameters = TEMPLATE["Parameters"]

    assert (parameters["SnapStart"]["Default"], parameters["SnapStartOtherFunctions"]["Default"]) == ("true", "false")
    assert set(parameters["SnapStart"]["AllowedValues"]) == {"true", "false"}


PROVISIONED = [
    function for function in FUNCTIONS if "ProvisionedConcurrencyConfig" in RESOURCES[function]["Properties"]
]


@pytest.mark.parametrize("function", PROVISIONED)
@pytest.mark.parametrize("settings", SNAPSTART_SETTINGS, ids=lambda settings: ",".join(settings.values()))
@pytest.mark.parametrize("environments", ["0", "2"])
def test_the_template_refuses_snapstart_with_provisioned_concurrency(
    function: str, settings: dict[str, str], environments: str
) -> None:
    [parameter] = references(RESOURCES[function]["Properties"]["ProvisionedConcurrencyConfig"]) & set(
        TEMPLATE["Parameters"]
    )
    parameters = {**settings, parameter: environments}
    both = snapstart_of(function, **parameters) == "PublishedVersions" and provisioned_concurrency_of(
        function, **parameters
    )

    assert rules_allow(**parameters) == (not both)


def test_some_function_can_have_provisioned_concurrency() -> None:
    assert PROVISIONED == ["RedirectFunction"]  # the refusal above covers it
    assert rules_allow()  # the defaults deploy
