"""template.yaml holds what running the service in production needs (docs/operating.md): every function behind an
alias that a gradual deployment moves and its alarms roll back; alarms on what customers feel, each in docs/operating.md
with its threshold; a dashboard of metrics that exist; route throttles and concurrency as parameters; encryption.

The rules are generic (every function, every queue, every index …), so resources added later are held to them too.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from local_gateway.template import ROOT, condition_values, http_routes, table_definition, with_conditions
from tests.support.settings import TEMPLATE

RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
GLOBAL_FUNCTION: dict[str, Any] = TEMPLATE.get("Globals", {}).get("Function", {})
FUNCTIONS = sorted(name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::Serverless::Function")
ALARMS = {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
OUR_NAMESPACE = "PortalSessions"
# The AWS metrics alarms and the dashboard may use: a misspelt name would be a graph or an alarm that never has data.
AWS_METRICS = {
    "AWS/ApiGateway": {"Count", "4xx", "5xx", "Latency", "IntegrationLatency"},
    "AWS/Lambda": {"Errors", "Invocations", "Throttles", "Duration", "ConcurrentExecutions", "IteratorAge"},
    "AWS/DynamoDB": {"ReadThrottleEvents", "WriteThrottleEvents", "ConsumedReadCapacityUnits",
                     "ConsumedWriteCapacityUnits"},
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"},
    "AWS/Events": {"FailedInvocations"},
}  # fmt: skip


def function_properties(name: str) -> dict[str, Any]:
    """A function's properties as SAM reads them: Globals first, maps merged with the function's own."""
    own = RESOURCES[name]["Properties"]
    merged = {**GLOBAL_FUNCTION, **own}
    for key, value in GLOBAL_FUNCTION.items():
        if isinstance(value, dict) and isinstance(own.get(key), dict):
            merged[key] = {**value, **own[key]}
    return merged


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def walk(value: Any) -> Iterator[Any]:
    yield value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    for child in children:
        yield from walk(child)


def alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Each metric an alarm reads: its own, or those of its metric math."""
    if "MetricName" in alarm:
        return [{key: alarm.get(key) for key in ("Namespace", "MetricName", "Dimensions")}]
    return [query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query]


def dimension(metric: dict[str, Any], name: str) -> Any:
    return next((item["Value"] for item in metric.get("Dimensions") or [] if item["Name"] == name), None)


def alarms_on(function: str, metric_name: str) -> list[str]:
    return [
        name
        for name, alarm in ALARMS.items()
        for metric in alarm_metrics(alarm)
        if metric["MetricName"] == metric_name and dimension(metric, "FunctionName") == {"Ref": function}
    ]


def emitted_metrics() -> set[str]:
    """The metric names our code emits: literal names given to `metrics.add_metric`, the string constants assigned
    to the variable it is given, or literal keys counted up (`counts["Name"] += n`) before being added; plus
    Powertools' ColdStart."""
    names = {"ColdStart"}
    sources = [*ROOT.glob("functions/*/*.py"), *ROOT.glob("layers/portal/portal_sessions/**/*.py")]
    for source in sources:
        tree = ast.parse(source.read_text())
        constants_of: dict[str, set[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
                pairs = (
                    zip(target.elts, value.elts, strict=False)
                    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
                    else [(target, value)]
                )
                for name_node, value_node in pairs:
                    if isinstance(name_node, ast.Name) and isinstance(value_node, ast.Constant):
                        constants_of.setdefault(name_node.id, set()).add(str(value_node.value))
        for node in ast.walk(tree):
            # counted first, then added by name (the delivery handler's threads count; its own thread adds)
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript):
                key = node.target.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    names.add(key.value)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric":
                if ast.unparse(node.func) == "super().add_metric":
                    continue  # the metrics provider passing a call on (runtime/observability.py)
                given = next(keyword.value for keyword in node.keywords if keyword.arg == "name")
                if isinstance(given, ast.Constant):
                    names.add(str(given.value))
                elif isinstance(given, ast.Name):
                    names |= constants_of.get(given.id, set())
    return names


def dashboard_body() -> tuple[dict[str, Any], set[str]]:
    """The dashboard's JSON (each `${X}` of its !Sub written `<X>`) and the names it substitutes."""
    [dashboard] = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    text = dashboard["DashboardBody"]["Fn::Sub"]
    substituted = set(re.findall(r"\$\{([^}]+)\}", text))
    return json.loads(re.sub(r"\$\{([^}]+)\}", r"<\1>", text)), substituted


def dashboard_metrics() -> list[tuple[str, str, dict[str, str]]]:
    body, _ = dashboard_body()
    found = []
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []):
            fields = [item for item in line if not isinstance(item, dict)]
            assert "." not in fields, f"write dashboard metrics out in full: {line}"
            namespace, metric_name, *pairs = fields
            found.append((namespace, metric_name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def readme_alarms() -> dict[str, str]:
    """The alarm table of docs/operating.md (section "What pages"): alarm name → its threshold cell."""
    page = (ROOT / "docs" / "operating.md").read_text()
    section = page.split("\n## What pages\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(\w+Alarm)` \| ([^|]+) \|", section, flags=re.MULTILINE))


# --- gradual deployments ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_deploys_gradually_through_an_alias_and_rolls_back_on_its_alarms(function: str) -> None:
    properties = function_properties(function)
    preference = properties.get("DeploymentPreference", {})

    assert properties.get("AutoPublishAlias"), "API routes, the stream and the schedule then invoke the alias"
    assert preference.get("Type") == {"Ref": "DeploymentType"}
    assert preference.get("Enabled", True) is True
    rollback_alarms = [alarm["Ref"] for alarm in preference.get("Alarms", [])]
    assert rollback_alarms and set(rollback_alarms) <= set(ALARMS)
    # its own failures stop its rollout
    assert set(alarms_on(function, "Errors")) & set(rollback_alarms)


def test_the_deployment_type_is_a_parameter_that_allows_all_at_once_for_test_stacks() -> None:
    deployment_type = PARAMETERS["DeploymentType"]

    assert "AllAtOnce" in deployment_type["AllowedValues"]
    assert deployment_type["Default"].startswith(("Canary", "Linear"))
    assert all(value.startswith(("Canary", "Linear", "AllAtOnce")) for value in deployment_type["AllowedValues"])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_alarms_on_its_errors_and_its_throttles(function: str) -> None:
    assert alarms_on(function, "Errors")
    assert alarms_on(function, "Throttles")


# --- alarms ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_every_alarm_has_a_threshold_and_notifies_the_optional_topic(alarm: str) -> None:
    properties = ALARMS[alarm]
    notify = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}

    assert isinstance(properties.get("Threshold"), int | float)
    assert properties.get("ComparisonOperator")
    assert properties.get("AlarmActions") == notify
    assert properties.get("OKActions") == notify


def test_every_alarm_in_the_readme_exists_with_the_threshold_it_states() -> None:
    documented = readme_alarms()

    assert set(documented) == set(ALARMS), "docs/operating.md's alarm table lists every alarm, and only those"
    for alarm, cell in documented.items():
        stated = re.search(r"-?\d[\d,]*(\.\d+)?", cell)
        assert stated, f"{alarm}: docs/operating.md gives no number"
        assert float(stated.group(0).replace(",", "")) == ALARMS[alarm]["Threshold"], alarm


def test_the_api_alarms_watch_the_api_and_the_latency_alarms_watch_routes_with_detailed_metrics() -> None:
    route_settings = RESOURCES["HttpApi"]["Properties"]["RouteSettings"]
    latency_alarms = {
        name: metric
        for name, alarm in ALARMS.items()
        for metric in alarm_metrics(alarm)
        if metric["Namespace"] == "AWS/ApiGateway" and metric["MetricName"] == "Latency"
    }

    assert {"CreateSessionLatencyAlarm", "RedirectLatencyAlarm"} <= set(latency_alarms)
    for name, metric in latency_alarms.items():
        route_key = f"{dimension(metric, 'Method')} {dimension(metric, 'Resource')}"
        assert route_settings[route_key].get("DetailedMetricsEnabled") is True, name
        assert ALARMS[name].get("ExtendedStatistic") == "p99"
    assert {metric["MetricName"] for metric in alarm_metrics(ALARMS["ApiServerErrorRateAlarm"])} == {"5xx", "Count"}


def test_the_dynamodb_throttles_alarm_covers_the_table_and_every_index() -> None:
    # as the last upgrade step deploys it (the list index's name follows the step: test_index_upgrade.py)
    metrics = alarm_metrics(with_conditions(ALARMS["DynamoDbThrottlesAlarm"], condition_values(TEMPLATE)))
    covered = {
        (metric["MetricName"], dimension(metric, "GlobalSecondaryIndexName"))
        for metric in metrics
        if dimension(metric, "TableName") == {"Ref": "SessionsTable"}
    }
    final = table_definition(TEMPLATE)["create_table"]  # the table as the last upgrade step leaves it
    indexes = [None, *(index["IndexName"] for index in final.get("GlobalSecondaryIndexes", []))]

    assert covered == {(kind, index) for kind in ("ReadThrottleEvents", "WriteThrottleEvents") for index in indexes}
    [expression] = [
        query["Expression"] for query in ALARMS["DynamoDbThrottlesAlarm"]["Metrics"] if "Expression" in query
    ]
    metric_ids = {query["Id"] for query in ALARMS["DynamoDbThrottlesAlarm"]["Metrics"] if "MetricStat" in query}
    assert set(re.findall(r"\w+", expression)) - {"SUM"} == metric_ids  # the alarm sums all of them


def test_every_alarm_reads_metrics_that_exist() -> None:
    emitted = emitted_metrics()
    for name, alarm in ALARMS.items():
        for metric in alarm_metrics(alarm):
            if metric["Namespace"] == OUR_NAMESPACE:
                assert metric["MetricName"] in emitted, name
                assert (
                    dimension(metric, "service")
                    == GLOBAL_FUNCTION["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
                )
            else:
                assert metric["MetricName"] in AWS_METRICS[metric["Namespace"]], name


# --- the dashboard -----------------------------------------------------------------------------------------------


def test_the_dashboard_references_only_metrics_the_code_or_aws_emits() -> None:
    emitted = emitted_metrics()
    metrics = dashboard_metrics()

    assert metrics
    for namespace, metric_name, dimensions in metrics:
        if namespace == OUR_NAMESPACE:
            assert metric_name in emitted, f"no code emits {metric_name}"
            assert dimensions == {"service": "portal-sessions"}, metric_name  # Powertools' one default dimension
        else:
            assert metric_name in AWS_METRICS[namespace], f"{namespace} {metric_name}"


def test_the_dashboard_graphs_throttles_of_the_table_and_of_every_index_it_can_have() -> None:
    # every index of any upgrade step (docs/operating.md): an operator mid-upgrade sees the old indexes and the new
    table = RESOURCES["SessionsTable"]["Properties"]
    indexes = {name for value in walk(table["GlobalSecondaryIndexes"]) if isinstance(value, dict) for name in
               [value.get("IndexName")] if isinstance(name, str)}  # fmt: skip
    graphed = {
        (metric_name, dimensions.get("GlobalSecondaryIndexName"))
        for namespace, metric_name, dimensions in dashboard_metrics()
        if namespace == "AWS/DynamoDB" and metric_name.endswith("ThrottleEvents")
    }

    assert {"ByPurgeShard", "ListKeys", "SessionsByCustomer", "ByPurgeBucket"} <= indexes  # the walk saw them
    assert graphed == {(kind, index) for kind in ("ReadThrottleEvents", "WriteThrottleEvents") for index in
                       {None, *indexes}}  # fmt: skip


def test_the_dashboard_substitutes_only_names_the_template_defines() -> None:
    _, substituted = dashboard_body()
    pseudo = {"AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::Partition"}
    generated = {"CleanupFunctionSchedule"}  # the rule SAM makes for CleanupFunction's Schedule event
    known = set(RESOURCES) | set(PARAMETERS) | pseudo | generated

    assert substituted
    for name in substituted:
        assert name.split(".", 1)[0] in known, name


def test_the_dashboard_shows_every_functions_errors_and_throttles_and_every_alarm_that_pages() -> None:
    body, _ = dashboard_body()
    on_dashboard = {(name, dimensions.get("FunctionName")) for _, name, dimensions in dashboard_metrics()}
    [alarm_widget] = [widget for widget in body["widgets"] if widget["type"] == "alarm"]
    shown = {re.fullmatch(r"<(\w+)\.Arn>", arn).group(1) for arn in alarm_widget["properties"]["alarms"]}  # type: ignore[union-attr]

    for function in FUNCTIONS:
        assert ("Errors", f"<{function}>") in on_dashboard, function
        assert ("Throttles", f"<{function}>") in on_dashboard, function
    pages = {
        name for name, alarm in ALARMS.items() if not any(dimension(m, "FunctionName") for m in alarm_metrics(alarm))
    }
    assert pages - {"CleanupNotRunningAlarm"} <= shown <= set(ALARMS)


# --- throttles and concurrency -----------------------------------------------------------------------------------


def test_route_throttles_are_parameters_sized_for_the_goal_on_routes_that_exist() -> None:
    api = RESOURCES["HttpApi"]["Properties"]
    route_keys = {route.route_key for route in http_routes(TEMPLATE)}
    goal_per_route = 10_000  # creates/s, and first visits/s

    assert set(api["RouteSettings"]) <= route_keys, "a setting for a missing route fails the deploy"
    for settings in [api["DefaultRouteSettings"], *api["RouteSettings"].values()]:
        assert set(settings["ThrottlingRateLimit"]) == {"Ref"}
        assert set(settings["ThrottlingBurstLimit"]) == {"Ref"}
    for hot_route in ("POST /v1/billing_portal/sessions", "GET /p/session/{token}", "HEAD /p/session/{token}"):
        rate = PARAMETERS[api["RouteSettings"][hot_route]["ThrottlingRateLimit"]["Ref"]]
        assert rate["Default"] >= goal_per_route, hot_route
    # the hot routes do not share a budget with each other
    budgets = {route: api["RouteSettings"][route]["ThrottlingRateLimit"]["Ref"] for route in api["RouteSettings"]}
    assert budgets["POST /v1/billing_portal/sessions"] != budgets["GET /p/session/{token}"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_a_reserved_concurrency_parameter_off_by_default(function: str) -> None:
    reserved = RESOURCES[function]["Properties"].get("ReservedConcurrentExecutions")

    assert reserved, "CKV_AWS_115: a function-level concurrency limit, as a parameter"
    if set(reserved) == {"Ref"}:  # a bound the function needs by design (a worker draining a queue): always set
        assert PARAMETERS[reserved["Ref"]]["Default"] > 0
        return
    condition, value, otherwise = reserved["Fn::If"]
    parameter = value["Ref"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert TEMPLATE["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, "0"]}]}
    assert PARAMETERS[parameter]["Default"] == 0


def test_the_redirect_can_keep_provisioned_concurrency_on_its_alias_off_by_default() -> None:
    properties = function_properties("RedirectFunction")
    condition, value, otherwise = properties["ProvisionedConcurrencyConfig"]["Fn::If"]
    parameter = value["ProvisionedConcurrentExecutions"]["Ref"]

    assert properties["AutoPublishAlias"]  # SAM puts provisioned concurrency on the alias
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert TEMPLATE["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, "0"]}]}
    assert PARAMETERS[parameter]["Default"] == 0


# --- encryption --------------------------------------------------------------------------------------------------

WITH_THE_KEY = {"Ref": "KmsKeyArn"}


def given_key(value: Any) -> Any:
    """What the property is when KmsKeyArn is given, and when it is not."""
    assert isinstance(value, dict) and "Fn::If" in value, value
    condition, when_given, otherwise = value["Fn::If"]
    assert condition == "HasKmsKey"
    return when_given, otherwise


@pytest.mark.parametrize(
    ("resource_type", "key_property"),
    [
        ("AWS::Logs::LogGroup", "KmsKeyId"),
        ("AWS::SecretsManager::Secret", "KmsKeyId"),
        ("AWS::SQS::Queue", "KmsMasterKeyId"),
    ],
)
def test_every_log_group_secret_and_queue_uses_the_customer_key_when_given(
    resource_type: str, key_property: str
) -> None:
    resources = [name for name, r in RESOURCES.items() if r["Type"] == resource_type]

    assert resources
    for name in resources:
        when_given, _ = given_key(RESOURCES[name]["Properties"].get(key_property))
        assert when_given == WITH_THE_KEY, name


def test_every_queue_is_encrypted_without_a_customer_key_too() -> None:
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::SQS::Queue":
            _, otherwise = given_key(resource["Properties"]["KmsMasterKeyId"])
            assert otherwise == "alias/aws/sqs", name  # SSE-KMS with the AWS-managed key


def test_the_table_and_the_functions_environment_use_the_customer_key_when_given() -> None:
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            encryption = resource["Properties"]["SSESpecification"]
            assert encryption["SSEEnabled"] is True and encryption["SSEType"] == "KMS"
            assert given_key(encryption["KMSMasterKeyId"]) == (WITH_THE_KEY, {"Ref": "AWS::NoValue"}), name
    for function in FUNCTIONS:
        assert given_key(function_properties(function)["KmsKeyArn"])[0] == WITH_THE_KEY


def test_functions_reading_encrypted_secrets_or_using_encrypted_queues_may_use_the_key_through_them_only() -> None:
    readers = {
        function
        for function in FUNCTIONS
        for node in walk(RESOURCES[function]["Properties"].get("Policies", []))
        if isinstance(node, dict) and node.get("Action") == "secretsmanager:GetSecretValue"
    }
    senders = {  # an on-failure destination, a queue it sends to, or a queue it is invoked from (reads)
        function
        for function in FUNCTIONS
        for event in RESOURCES[function]["Properties"].get("Events", {}).values()
        if event["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Type") == "SQS"
        or event["Type"] == "SQS"
    } | {
        function
        for function in FUNCTIONS
        for node in walk(RESOURCES[function]["Properties"].get("Policies", []))
        if isinstance(node, dict) and "sqs:SendMessage" in _as_list(node.get("Action"))
    }

    assert readers and senders
    needed = {(function, "secretsmanager") for function in readers} | {(function, "sqs") for function in senders}
    granted = set()
    for function in FUNCTIONS:
        for policy in RESOURCES[function]["Properties"].get("Policies", []):
            for node in walk(policy):
                if isinstance(node, dict) and node.get("Resource") == WITH_THE_KEY:
                    assert "Fn::If" in policy and policy["Fn::If"][0] == "HasKmsKey", function
                    via = node["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]
                    granted.add((function, via.split(".", 1)[0]))
    assert granted == needed


# --- what SAM makes of it ----------------------------------------------------------------------------------------


class _NoManagedPolicies:
    """The template names no managed policy, so SAM's translator needs none from IAM."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """template.yaml as CloudFormation gets it after SAM's transform (with the parameters' defaults)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse((ROOT / "template.yaml").read_text())
    for resource in template["Resources"].values():  # sam build uploads the code; the transform wants S3 addresses
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"
    result: dict[str, Any] = transform(template, {}, _NoManagedPolicies())
    return result


def test_routes_the_stream_and_the_schedule_invoke_the_aliases(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    aliases = {
        r["Properties"]["FunctionName"]["Ref"]: name
        for name, r in resources.items()
        if r["Type"] == "AWS::Lambda::Alias"
    }
    integrations = re.findall(
        r"functions/\$\{(\w+)\}/invocations", json.dumps(resources["HttpApi"]["Properties"]["Body"])
    )
    mappings = [
        r["Properties"]["FunctionName"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    targets = [
        t["Arn"] for r in resources.values() if r["Type"] == "AWS::Events::Rule" for t in r["Properties"]["Targets"]
    ]

    assert set(aliases) == set(FUNCTIONS)
    assert integrations and set(integrations) <= set(aliases.values())
    assert mappings and all(mapping["Ref"] in aliases.values() for mapping in mappings)
    assert targets and all(target["Ref"] in aliases.values() for target in targets)
    for function, alias in aliases.items():
        update = resources[alias]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        group = resources[update["DeploymentGroupName"]["Ref"]]["Properties"]
        assert group["AutoRollbackConfiguration"]["Events"] and group["AlarmConfiguration"]["Enabled"] is True
        assert group["ServiceRoleArn"] == {"Fn::GetAtt": ["DeploymentRole", "Arn"]}, function


def test_the_redirects_provisioned_concurrency_is_on_its_alias(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    [alias] = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Alias" and r["Properties"]["FunctionName"] == {"Ref": "RedirectFunction"}
    ]

    assert "ProvisionedConcurrencyConfig" in alias["Properties"]
    assert "ProvisionedConcurrencyConfig" not in resources["RedirectFunction"]["Properties"]


# The event pipeline (docs/events.md): no record holds the stream, test never waits in front of live.


def test_the_stream_mapping_retries_a_bounded_number_of_times_and_keeps_what_it_gives_up_on() -> None:
    (mapping,) = [e["Properties"] for e in RESOURCES["SessionEventsFunction"]["Properties"]["Events"].values()]

    assert 0 <= mapping["MaximumRetryAttempts"] <= 10000  # -1 would be for ever
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] <= 6 * 3600
    assert mapping["BisectBatchOnFunctionError"] is True and mapping["FunctionResponseTypes"] == [
        "ReportBatchItemFailures"
    ]
    kept = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert kept == "SessionEventsDeadLetterQueue"
    assert {"Ref": kept} in RESOURCES["SessionEventsFunction"]["Properties"]["Environment"]["Variables"].values()


def test_each_mode_has_its_own_webhook_queue_failed_queue_and_mapping_each_with_a_maximum_concurrency() -> None:
    mappings = [e["Properties"] for e in RESOURCES["WebhookDeliveriesFunction"]["Properties"]["Events"].values()]
    queues = sorted(mapping["Queue"]["Fn::GetAtt"][0] for mapping in mappings)

    assert queues == ["TestWebhookDeliveryQueue", "WebhookDeliveryQueue"]
    limits = {m["Queue"]["Fn::GetAtt"][0]: m["ScalingConfig"]["MaximumConcurrency"]["Ref"] for m in mappings}
    assert limits == {"WebhookDeliveryQueue": "LiveWebhookMaxConcurrency",
                      "TestWebhookDeliveryQueue": "TestWebhookMaxConcurrency"}  # fmt: skip
    assert all(PARAMETERS[name]["MinValue"] >= 2 for name in limits.values())  # Lambda's least MaximumConcurrency
    dead_letters = {
        queue: RESOURCES[queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in queues
    }
    assert dead_letters == {"WebhookDeliveryQueue": "WebhookFailedDeliveriesQueue",
                            "TestWebhookDeliveryQueue": "TestWebhookFailedDeliveriesQueue"}  # fmt: skip
    assert all(0 < RESOURCES[q]["Properties"]["RedrivePolicy"]["maxReceiveCount"] <= 10 for q in queues)
    # the stream's consumer puts each event on its own mode's queue
    variables = RESOURCES["SessionEventsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["WEBHOOK_DELIVERY_QUEUE_URL"] == {"Ref": "WebhookDeliveryQueue"}
    assert variables["TEST_WEBHOOK_DELIVERY_QUEUE_URL"] == {"Ref": "TestWebhookDeliveryQueue"}


def test_a_batch_of_deliveries_fits_the_functions_timeout_with_every_attempt_at_its_deadline() -> None:
    from portal_sessions.outbound.delivery_safety import ATTEMPT_TIMEOUT_SECONDS

    timeout = function_properties("WebhookDeliveriesFunction")["Timeout"]
    # the messages of a batch run at once: a batch takes one attempt's deadline plus the table's and queue's calls
    assert ATTEMPT_TIMEOUT_SECONDS <= 10 and timeout >= 3 * ATTEMPT_TIMEOUT_SECONDS
    for queue in ("WebhookDeliveryQueue", "TestWebhookDeliveryQueue"):
        assert RESOURCES[queue]["Properties"]["VisibilityTimeout"] >= 6 * timeout  # as Lambda advises


def test_the_delivery_function_keeps_endpoints_read_for_a_moment_so_no_endpoint_item_is_hot() -> None:
    # At full load (20,000 events a second) reading the endpoints for every event and attempt would read one item far
    # past DynamoDB's 3,000 read units a second; a few seconds of keeping is the price of a change reaching deliveries.
    variables = RESOURCES["WebhookDeliveriesFunction"]["Properties"]["Environment"]["Variables"]
    assert 1 <= int(variables["WEBHOOK_ENDPOINT_CACHE_SECONDS"]) <= 5
