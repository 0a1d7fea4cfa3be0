"""The platform the template deploys: every function and layer on python3.13 (Amazon Linux 2023), the tools and this
suite on the same Python."""

from __future__ import annotations

import re
import sys
import tomllib
from typing import Any

import pytest

from local_gateway.template import ROOT
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
