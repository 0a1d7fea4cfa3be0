"""Reads template.yaml: the functions, their environment, their HTTP routes and the table definition."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
DEFAULT_ROUTE = "$default"  # an HTTP API's catch-all: requests no other route matches


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML loader that reads `!Ref`, `!Sub`, `!GetAtt` … as CloudFormation's long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open() as handle:
        return yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506 - a safe loader with CFN tags


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    pattern: re.Pattern[str] = field(compare=False)

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    code_dir: Path
    module: str
    attribute: str
    environment: dict[str, Any]


def _path_pattern(path: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("+}"):
            regex += f"(?P<{part[1:-2]}>.+)"
        elif part.startswith("{"):
            regex += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(f"^{regex}$")


def functions(template: dict[str, Any]) -> dict[str, FunctionSpec]:
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    specs = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        module, attribute = properties["Handler"].rsplit(".", 1)
        environment = {**global_env, **properties.get("Environment", {}).get("Variables", {})}
        specs[name] = FunctionSpec(name, ROOT / properties["CodeUri"], module, attribute, environment)
    return specs


def http_routes(template: dict[str, Any]) -> list[Route]:
    routes = []
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                method, path = event["Properties"]["Method"].upper(), event["Properties"]["Path"]
                routes.append(Route(method, path, name, _path_pattern(path)))
    return routes


def stream_functions(template: dict[str, Any]) -> list[str]:
    """The functions subscribed to a DynamoDB stream."""
    return [
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        and any(event["Type"] == "DynamoDB" for event in resource["Properties"].get("Events", {}).values())
    ]


def queue_functions(template: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(function, queue logical id, batch size) for each function subscribed to an SQS queue of the template."""
    subscribed = []
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                subscribed.append((name, queue, int(event["Properties"].get("BatchSize", 10))))
    return subscribed


def layer_dirs(template: dict[str, Any]) -> list[Path]:
    return [
        ROOT / resource["Properties"]["ContentUri"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    ]


def table_definition(template: dict[str, Any], logical_id: str = "SessionsTable") -> dict[str, Any]:
    """The table's CloudFormation properties as DynamoDB CreateTable and UpdateTimeToLive arguments."""
    properties = template["Resources"][logical_id]["Properties"]
    create = {
        key: properties[key]
        for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
        if key in properties
    }
    if "StreamSpecification" in properties:  # CloudFormation's spelling of it lacks the API's StreamEnabled
        create["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
    return {"create_table": create, "time_to_live": properties.get("TimeToLiveSpecification")}


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}


def resolve(value: Any, refs: dict[str, str]) -> str:
    """Resolve the intrinsics a function's environment uses (`Ref`, `Fn::Sub`) against local values."""
    if isinstance(value, dict) and "Ref" in value:
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda match: refs[match.group(1)], value["Fn::Sub"])
    if isinstance(value, (dict, list)):
        raise ValueError(f"the local gateway cannot resolve {value!r}")
    return str(value)
