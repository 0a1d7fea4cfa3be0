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


# libyaml's loader where PyYAML was built with it (its wheels are): a fortieth of the pure-Python loader's time. It is
# not a subclass of SafeLoader (a C parser with the same constructor and resolver), hence Any.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CloudFormationLoader(_SafeLoader):
    """YAML loader that reads `!Ref`, `!Sub`, `!GetAtt` … as CloudFormation's long form."""


def _intrinsic(loader: Any, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}  # as CloudFormation reads them


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


# Lambda's SQS mapping starts with five concurrent batches when no MaximumConcurrency bounds it.
DEFAULT_QUEUE_CONCURRENCY = 5


@dataclass(frozen=True)
class QueueMapping:
    """An SQS event source mapping: the function, its queue's logical id, batch size and maximum concurrency."""

    function: str
    queue: str
    batch_size: int
    maximum_concurrency: int


def queue_mappings(template: dict[str, Any], parameters: dict[str, str] | None = None) -> list[QueueMapping]:
    """Each function's subscription to an SQS queue of the template, `ScalingConfig.MaximumConcurrency` resolved
    against `parameters` over the parameters' defaults."""
    refs = {**parameter_defaults(template), **(parameters or {})}
    mappings = []
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                properties = event["Properties"]
                concurrency = properties.get("ScalingConfig", {}).get("MaximumConcurrency", DEFAULT_QUEUE_CONCURRENCY)
                queue, batch_size = properties["Queue"]["Fn::GetAtt"][0], int(properties.get("BatchSize", 10))
                mappings.append(QueueMapping(name, queue, batch_size, int(resolve(concurrency, refs))))
    return mappings


def layer_dirs(template: dict[str, Any]) -> list[Path]:
    return [
        ROOT / resource["Properties"]["ContentUri"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    ]


def condition_values(template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, bool]:
    """The template's conditions, for its parameters' defaults overridden by `parameters` (Fn::Equals/Not/Or/And)."""
    values = {**parameter_defaults(template), **(parameters or {})}

    def evaluate(expression: Any) -> Any:
        if isinstance(expression, dict) and "Ref" in expression:
            return values[expression["Ref"]]
        if isinstance(expression, dict) and "Condition" in expression:
            return evaluate(template["Conditions"][expression["Condition"]])
        if isinstance(expression, dict) and len(expression) == 1:
            ((function, arguments),) = expression.items()
            operands = [evaluate(argument) for argument in arguments]
            if function == "Fn::Equals":
                return str(operands[0]) == str(operands[1])
            if function == "Fn::Not":
                return not operands[0]
            if function == "Fn::Or":
                return any(operands)
            if function == "Fn::And":
                return all(operands)
            raise ValueError(f"the local gateway cannot evaluate {function}")
        return expression

    return {name: bool(evaluate(expression)) for name, expression in template.get("Conditions", {}).items()}


_NO_VALUE = object()


def with_conditions(value: Any, conditions: dict[str, bool]) -> Any:
    """`value` with every Fn::If decided and AWS::NoValue dropped from lists and mappings."""
    if isinstance(value, dict) and "Fn::If" in value:
        name, when_true, when_false = value["Fn::If"]
        return with_conditions(when_true if conditions[name] else when_false, conditions)
    if isinstance(value, dict) and value.get("Ref") == "AWS::NoValue":
        return _NO_VALUE
    if isinstance(value, dict):
        decided = {key: with_conditions(item, conditions) for key, item in value.items()}
        return {key: item for key, item in decided.items() if item is not _NO_VALUE}
    if isinstance(value, list):
        return [item for item in (with_conditions(item, conditions) for item in value) if item is not _NO_VALUE]
    return value


def table_definition(
    template: dict[str, Any], logical_id: str = "SessionsTable", parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """The table's CloudFormation properties as DynamoDB CreateTable and UpdateTimeToLive arguments, for the
    parameters' defaults (or `parameters`)."""
    conditions = condition_values(template, parameters)
    properties = with_conditions(template["Resources"][logical_id]["Properties"], conditions)
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


def function_environments(template: dict[str, Any], refs: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each function's environment (Globals plus its own), references resolved against `refs` over the parameters'
    defaults: what an `--env-vars` file of `sam local` gives each function."""
    values = {**parameter_defaults(template), **refs}
    conditions = condition_values(template, refs)
    return {
        name: {key: resolve(raw, values) for key, raw in with_conditions(spec.environment, conditions).items()}
        for name, spec in functions(template).items()
    }


def resolve(value: Any, refs: dict[str, str]) -> str:
    """Resolve the intrinsics a function's environment uses (`Ref`, `Fn::Sub`) against local values."""
    if isinstance(value, dict) and "Ref" in value:
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda match: refs[match.group(1)], value["Fn::Sub"])
    if isinstance(value, (dict, list)):
        raise ValueError(f"the local gateway cannot resolve {value!r}")
    return str(value)
