"""Each function's IAM policy in template.yaml allows every DynamoDB call its code makes, and no more than the item
kinds it touches (moto does not check IAM, so the policy is evaluated here, for the subset of IAM the template uses).

Every call a function makes is recorded at botocore's before-parameter-build hook as (action, resource, leading key):
a transaction counts as the actions of its items, which is how IAM authorizes TransactWriteItems (ConditionCheckItem,
PutItem, UpdateItem, …), each with its own item's key (`dynamodb:LeadingKeys`, the table's partition key `pk`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session
import cleanup_handler
import cleanup_worker_handler
import configurations_handler
import create_session_handler
import pytest
import redirect_handler
import sessions_handler

from local_gateway.template import condition_values, table_definition, with_conditions
from portal_sessions.domain.auth import ManagedKey, key_hash
from portal_sessions.runtime.errors import ConditionFailedError
from portal_sessions.store.api_keys import ApiKeyStore
from portal_sessions.store.sessions import SessionStore
from portal_sessions.store.table import dynamodb_client
from tests.integration.test_cleanup import sqs_event
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import TEMPLATE, TEST_KEY
from tests.support.table import all_items, insert_session

FORM = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
TRANSACTION_ITEM_ACTIONS = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem",
                            "Delete": "DeleteItem"}  # fmt: skip
FUNCTIONS = sorted(name for name, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function")
TABLE = "table"
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "PartiQLInsert", "PartiQLUpdate", "PartiQLDelete")


@dataclass(frozen=True)
class Call:
    action: str
    resource: str  # "table", or "table/index/<name>"
    leading_key: str | None  # the item's pk; None for a Query (read through an index)


def _key_of(request: dict[str, Any]) -> str:
    return str((request.get("Key") or request.get("Item"))["pk"]["S"])


@pytest.fixture
def calls(service_env: dict) -> Iterator[set[Call]]:
    made: set[Call] = set()

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "TransactWriteItems":
            for item in params["TransactItems"]:
                for kind, request in item.items():
                    made.add(Call(TRANSACTION_ITEM_ACTIONS[kind], TABLE, _key_of(request)))
        elif model.name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    for inner in request.values():
                        made.add(Call("BatchWriteItem", TABLE, _key_of(inner)))
        elif model.name == "BatchGetItem":
            for request in params["RequestItems"].values():
                for key in request["Keys"]:
                    made.add(Call("BatchGetItem", TABLE, str(key["pk"]["S"])))
        elif model.name == "Query":
            index = params.get("IndexName")
            made.add(Call("Query", f"{TABLE}/index/{index}" if index else TABLE, None))
        else:
            made.add(Call(model.name, TABLE, _key_of(params)))

    dynamodb_client().meta.events.register("before-parameter-build.dynamodb.*", record)
    yield made
    dynamodb_client().meta.events.unregister("before-parameter-build.dynamodb.*", record)


# The policy, evaluated

# Every action IAM knows for DynamoDB: the API's operations, and the ones IAM names apart (a transaction's items,
# PartiQL's statements), so a wildcard action is matched against what it could grant.
DYNAMODB_ACTIONS = sorted(
    {
        *botocore.session.get_session().get_service_model("dynamodb").operation_names,
        "ConditionCheckItem",
        "PartiQLSelect",
        "PartiQLInsert",
        "PartiQLUpdate",
        "PartiQLDelete",
    }
)


def _like(pattern: str, value: str, *, ignore_case: bool) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` any one; nothing else is special (fnmatch's `[…]` is)."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def grants(statement: dict[str, Any], action: str) -> bool:
    """Whether the statement's Action names this DynamoDB action, as IAM matches actions (wildcards, any case)."""
    assert "NotAction" not in statement, statement  # not evaluated here: refused outright
    return any(_like(pattern, f"dynamodb:{action}", ignore_case=True) for pattern in _as_list(statement["Action"]))


def _policy_statements(policy: Any) -> list[dict[str, Any]]:
    """An inline policy's statements; both branches of an `Fn::If`. Anything else (a SAM policy template, a managed
    policy) could grant what this test cannot see, and fails."""
    if isinstance(policy, dict) and set(policy) == {"Fn::If"}:
        _, *branches = policy["Fn::If"]
        return [s for branch in branches if branch != {"Ref": "AWS::NoValue"} for s in _policy_statements(branch)]
    assert isinstance(policy, dict) and "Statement" in policy, f"a policy this test cannot evaluate: {policy!r}"
    return list(_as_list(policy["Statement"]))


def statements(function: str, parameters: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The function's DynamoDB statements: as deployed with `parameters` (over the defaults; {} for the defaults
    alone), or, with None, every branch of every condition (what any deploy could grant)."""
    policies = TEMPLATE["Resources"][function]["Properties"].get("Policies", [])
    if parameters is not None:
        policies = with_conditions(policies, condition_values(TEMPLATE, parameters))
    return [
        statement
        for policy in policies
        for statement in _policy_statements(policy)
        if any(grants(statement, action) for action in DYNAMODB_ACTIONS)
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resources(value: Any) -> set[str]:
    """The table's ARN as "table", an index's as "table/index/<name>"; both branches of an undecided `Fn::If`."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, *branches = value["Fn::If"]
        return {name for branch in branches for name in _resources(branch)}
    if value == {"Ref": "AWS::NoValue"}:
        return set()
    if isinstance(value, dict) and value.get("Fn::GetAtt") == ["SessionsTable", "Arn"]:
        return {TABLE}
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        return {str(value["Fn::Sub"]).replace("${SessionsTable.Arn}", TABLE)}
    raise AssertionError(f"a resource this test does not understand: {value!r}")


def _statement_resources(statement: dict[str, Any]) -> set[str]:
    return {name for resource in _as_list(statement["Resource"]) for name in _resources(resource)}


def _leading_keys(statement: dict[str, Any]) -> tuple[str, list[str]] | None:
    """The statement's condition on `dynamodb:LeadingKeys` (None: unconditioned); any other condition fails."""
    condition = statement.get("Condition")
    if condition is None:
        return None
    [(operator, keys)] = condition.items()
    assert operator in ("ForAllValues:StringLike", "ForAllValues:StringEquals"), operator
    assert set(keys) == {"dynamodb:LeadingKeys"}, keys
    return operator, [str(pattern) for pattern in _as_list(keys["dynamodb:LeadingKeys"])]


def _leading_key_allowed(statement: dict[str, Any], leading_key: str | None) -> bool:
    """Whether the statement lets an item with this key through (a Query's None: only if unconditioned)."""
    condition = _leading_keys(statement)
    if condition is None:
        return True
    operator, patterns = condition
    if leading_key is None:
        return False
    if operator.endswith("StringEquals"):
        return leading_key in patterns
    return any(_like(pattern, leading_key, ignore_case=False) for pattern in patterns)


def allows(function: str, call: Call, parameters: dict[str, str] | None = None) -> bool:
    for statement in statements(function, parameters):
        assert statement["Effect"] == "Allow" and "NotResource" not in statement, statement  # not evaluated here
        if not grants(statement, call.action):
            continue
        if call.resource not in _statement_resources(statement):
            continue
        if _leading_key_allowed(statement, call.leading_key):
            return True
    return False


def denied(function: str, made: set[Call]) -> list[Call]:
    return sorted((call for call in made if not allows(function, call)), key=repr)


def call(handler: Callable[..., dict[str, Any]], method: str, path: str, body: str = "", **headers: str) -> Any:
    path, _, query = path.partition("?")
    event = http_event(method, path, headers={**FORM, **headers}, body=body)
    event["rawQueryString"] = query
    response = handler(event, FakeContext())
    assert response["statusCode"] < 300, response["body"]
    return response


def create(body: str = "customer=cus_1&return_url=https://example.com", **headers: str) -> dict[str, Any]:
    return json_body(
        call(create_session_handler.lambda_handler, "POST", "/v1/billing_portal/sessions", body, **headers)
    )


@pytest.fixture
def managed_key(service_env: dict) -> str:
    """A key made by the admin command: authenticating it reads its apikey# item."""
    secret = "sk_test_ManagedPermissionsKey0000000001"
    key = ManagedKey(key_id="key_perm", name="perm", livemode=False, restricted=False, created=1, masked="sk_test_…")
    ApiKeyStore(service_env["TABLE_NAME"], aws_client("dynamodb")).put_new(key, key_hash(secret))  # not recorded
    return secret


def kinds(made: set[Call], *actions: str) -> set[str]:
    """The item kinds (key prefixes) the calls with these actions touched."""
    return {call.leading_key.split("#")[0] for call in made if call.action in actions and call.leading_key}


def test_create_session(calls: set[Call], managed_key: str) -> None:
    create()  # the first: the default configuration is made
    create(**{"idempotency-key": "permissions"})
    create(**{"idempotency-key": "permissions"})  # a replay
    create("customer=cus_1&return_url=https://example.com&expand[]=configuration")
    create("customer=cus_1&return_url=https://example.com&expand[]=configuration", **{"idempotency-key": "shown"})
    create("customer=cus_1&return_url=https://example.com&flow_data[type]=payment_method_update")
    create(authorization=f"Bearer {managed_key}")

    assert {"ConditionCheckItem", "PutItem", "UpdateItem", "GetItem"} <= {call.action for call in calls}
    assert {"apikey", "configuration"} <= kinds(calls, "GetItem")
    assert kinds(calls, "PutItem") == {"token", "configuration", "idempotency"}
    assert denied("CreateSessionFunction", calls) == []


def test_redirect(calls: set[Call]) -> None:
    created = create()
    calls.clear()
    path = "/p/session/" + created["url"].rsplit("/", 1)[1]

    redirect_handler.lambda_handler(http_event("HEAD", path), FakeContext())
    redirect_handler.lambda_handler(http_event("GET", path), FakeContext())
    redirect_handler.lambda_handler(http_event("GET", path), FakeContext())  # a revisit
    redirect_handler.lambda_handler(http_event("GET", "/p/session/unknown-token"), FakeContext())
    made = set(calls)  # the expiry below is the sessions function's call, not the redirect's
    call(sessions_handler.lambda_handler, "POST", f"/v1/billing_portal/sessions/{created['id']}/expire")
    calls.clear()
    redirect_handler.lambda_handler(http_event("GET", path), FakeContext())  # expired: its page names the business
    redirect_handler.lambda_handler(http_event("HEAD", path), FakeContext())
    made |= calls

    assert {call.action for call in made} == {"GetItem", "UpdateItem"}
    assert kinds(made, "UpdateItem") == {"token"}
    assert kinds(made, "GetItem") == {"token", "configuration"}  # the expired page reads the session's configuration
    assert denied("RedirectFunction", made) == []


def test_sessions(calls: set[Call], managed_key: str) -> None:
    session = create()
    calls.clear()
    base = "/v1/billing_portal/sessions"

    call(sessions_handler.lambda_handler, "GET", f"{base}/{session['id']}", authorization=f"Bearer {managed_key}")
    call(sessions_handler.lambda_handler, "GET", f"{base}?customer=cus_1")
    call(sessions_handler.lambda_handler, "POST", f"{base}/{session['id']}/expire", **{"idempotency-key": "expire"})

    assert {"Query", "UpdateItem", "PutItem", "GetItem"} <= {call.action for call in calls}
    assert kinds(calls, "UpdateItem") == {"token", "idempotency"}
    assert denied("SessionsFunction", calls) == []


def test_configurations(calls: set[Call], managed_key: str) -> None:
    base = "/v1/billing_portal/configurations"
    body = "features[invoice_history][enabled]=true"

    made = json_body(call(configurations_handler.lambda_handler, "POST", base, body, **{"idempotency-key": "c1"}))
    call(configurations_handler.lambda_handler, "POST", f"{base}/{made['id']}", "name=Renamed")
    call(configurations_handler.lambda_handler, "GET", f"{base}/{made['id']}", authorization=f"Bearer {managed_key}")
    call(configurations_handler.lambda_handler, "GET", base)

    assert {"PutItem", "UpdateItem", "GetItem", "Query"} <= {call.action for call in calls}
    assert kinds(calls, "PutItem") == {"configuration", "idempotency"}
    assert denied("ConfigurationsFunction", calls) == []


@pytest.mark.usefixtures("queues")  # it sends to the functions' queues
def test_cleanup(calls: set[Call], service_env: dict, monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    monkeypatch.setenv("CLEANUP_LOOKBACK_HOURS", "2")  # a few units: 3 hours of 4 shards
    monkeypatch.setenv("PURGE_SHARDS", "4")
    now = int(time.time())
    insert_session(
        service_env["TABLE_NAME"], created=now - 7200, expires_at=now - 3600, purge_at=now - 3600, purge_shards=4
    )
    calls.clear()

    assert cleanup_handler.lambda_handler({}, FakeContext())["units"] > 0
    assert {"GetItem", "BatchGetItem"} <= {call.action for call in calls}
    assert denied("CleanupFunction", calls) == []

    calls.clear()
    queue_url = service_env["CLEANUP_QUEUE_URL"]
    while True:
        event = sqs_event(queue_url)
        if not event["Records"]:
            break
        assert cleanup_worker_handler.lambda_handler(event, FakeContext())["batchItemFailures"] == []
    actions = {call.action for call in calls}
    # DynamoDB Local deletes items past their TTL within seconds (AWS within days): the worker may find none left
    assert {"Query", "UpdateItem"} <= actions and ("DeleteItem" in actions or engine == "dynamodb-local")
    assert denied("CleanupWorkerFunction", calls) == []


# What no role may do, whatever its code does


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("action", WRITES)
def test_no_function_may_write_an_api_key(function: str, action: str) -> None:
    # A compromised function must not be able to mint a key: only the admin command writes apikey# items
    assert not allows(function, Call(action, TABLE, "apikey#" + "0" * 64))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_item_statement_names_the_item_kinds_it_allows(function: str) -> None:
    for statement in statements(function):
        table_level = TABLE in _statement_resources(statement)
        if table_level:
            assert _leading_keys(statement), statement
        assert not grants(statement, "BatchWriteItem")  # it would allow puts
        assert not grants(statement, "Scan")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_statement_grants_dynamodb_actions_by_wildcard(function: str) -> None:
    # Each DynamoDB action is named in full, so a reader of the template sees what a role may do
    for statement in statements(function):
        assert [a for a in _as_list(statement["Action"]) if "*" in a or "?" in a] == [], statement


@pytest.mark.parametrize(
    ("pattern", "action", "granted"),
    [
        ("dynamodb:PutItem", "PutItem", True),
        ("dynamodb:Put*", "PutItem", True),
        ("DynamoDB:putitem", "PutItem", True),
        ("dynamodb:*", "DeleteItem", True),
        ("*", "BatchWriteItem", True),
        ("dynamo*", "Scan", True),
        ("dynamodb:?etItem", "GetItem", True),
        ("dynamodb:*Item", "UpdateItem", True),
        ("dynamodb:Get*", "PutItem", False),
        ("dynamodb:?utItem", "GetItem", False),
        ("dynamodb:PutItem", "PutItems", False),
        ("dynamodb:[PG]utItem", "PutItem", False),  # IAM has no character classes
        ("s3:*", "PutItem", False),
    ],
)
def test_actions_are_matched_as_iam_matches_them(pattern: str, action: str, granted: bool) -> None:
    assert grants({"Effect": "Allow", "Action": pattern}, action) is granted


ALLOWED_WRITES = {  # a function not listed writes nothing
    "RedirectFunction": {("UpdateItem", "token")},
    "CleanupFunction": {("UpdateItem", "meta")},
    "CleanupWorkerFunction": {("DeleteItem", "token"), ("UpdateItem", "meta")},
    "SessionsFunction": {("UpdateItem", "token"), *((w, "idempotency") for w in WRITES[:3])},
    "ConfigurationsFunction": {("PutItem", "configuration"), *((w, "idempotency") for w in WRITES[:3])},
    "CreateSessionFunction": {("PutItem", "token"), *((w, "idempotency") for w in WRITES[:3])},
    "SessionEventsFunction": {("PutItem", "event"), ("UpdateItem", "event")},
    "WebhookEndpointsFunction": {
        ("PutItem", "webhook_endpoint"),
        ("DeleteItem", "webhook_endpoint"),
        *((w, "idempotency") for w in WRITES[:3]),
    },
    "WebhookDeliveriesFunction": {
        ("UpdateItem", "event"),
        ("UpdateItem", "webhook_endpoint"),
        ("UpdateItem", "webhook_attempts"),
    },
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_role_writes_only_its_own_item_kinds(function: str) -> None:
    samples = {
        "token": "token#" + "a" * 64,
        "configuration": "configuration#bpc_Someone",
        "apikey": "apikey#" + "0" * 64,
        "idempotency": "idempotency#abc",
        "meta": "meta#cleanup-watermark" if function == "CleanupFunction" else "meta#cleanup-bucket#1",
        "event": "event#evt_Someone",
        "webhook_endpoint": "webhook_endpoint#we_Someone",
        "webhook_attempts": "webhook_attempts#live#we_Someone",
    }
    writable = {
        (action, kind)
        for action in WRITES
        for kind, key in samples.items()
        if allows(function, Call(action, TABLE, key))
    }
    assert writable == ALLOWED_WRITES.get(function, set())


def test_the_create_role_may_put_only_the_default_configurations() -> None:
    assert allows("CreateSessionFunction", Call("PutItem", TABLE, "configuration#bpc_DefaultLiveConfiguration"))
    assert not allows("CreateSessionFunction", Call("PutItem", TABLE, "configuration#bpc_Someone"))


# Lists: the index a role may query holds keys (and the list filters' attributes), and each role reads back by key
# only the item kinds it lists. How IAM would apply `dynamodb:LeadingKeys` to a Query on an index is not documented
# by AWS, so no policy relies on it: what an index shows is narrowed by its projection instead.

UPGRADE_STEP = "SessionIndexesUpgradeStep"
UPGRADE_STEPS = [str(step) for step in TEMPLATE["Parameters"][UPGRADE_STEP]["AllowedValues"]]
LIST_FILTER_ATTRIBUTES = {"active", "is_default", "event_type"}  # a configuration's two booleans, an event's type
ITEM_KINDS = {
    "token": "token#" + "a" * 64,
    "configuration": "configuration#bpc_Someone",
    "apikey": "apikey#" + "0" * 64,
    "idempotency": "idempotency#abc",
    "event": "event#evt_Someone",
    "webhook_endpoint": "webhook_endpoint#we_Someone",
}
LIST_READERS = {  # each function that lists, and the kinds it may read back by key
    "ConfigurationsFunction": {"configuration"},
    "WebhookEndpointsFunction": {"webhook_endpoint"},
    "EventsFunction": {"event"},
    "WebhookDeliveriesFunction": {"webhook_endpoint"},
}


def table_indexes(parameters: dict[str, str]) -> dict[str, dict[str, Any]]:
    created = table_definition(TEMPLATE, parameters=parameters)["create_table"]
    return {index["IndexName"]: index for index in created["GlobalSecondaryIndexes"]}


EVERY_INDEX = sorted({name for step in UPGRADE_STEPS for name in table_indexes({UPGRADE_STEP: step})})


def queryable(function: str, parameters: dict[str, str]) -> set[str]:
    """The indexes the function's role may query, as deployed with these parameters."""
    return {name for name in EVERY_INDEX if allows(function, Call("Query", f"{TABLE}/index/{name}", None), parameters)}


def list_index_in_use(parameters: dict[str, str]) -> str:
    """The list index the functions' code reads (their `LIST_INDEX`), as deployed with these parameters."""
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    return str(with_conditions(variables["LIST_INDEX"], condition_values(TEMPLATE, parameters)))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_role_may_query_an_index_that_holds_more_than_keys_and_list_filters(function: str) -> None:
    indexes = table_indexes({})
    for name in queryable(function, {}):
        assert name in indexes, name  # no grant on an index the table no longer has
        projection = indexes[name]["Projection"]
        assert projection["ProjectionType"] in ("KEYS_ONLY", "INCLUDE"), (name, projection)
        assert set(projection.get("NonKeyAttributes", [])) <= LIST_FILTER_ATTRIBUTES, (name, projection)


@pytest.mark.parametrize("function", sorted(LIST_READERS))
def test_a_listing_role_queries_only_the_list_keys_index_and_reads_back_only_its_own_kind(function: str) -> None:
    read_back = {kind for kind, key in ITEM_KINDS.items() if allows(function, Call("BatchGetItem", TABLE, key), {})}

    assert queryable(function, {}) == {"ListKeys"}
    assert read_back == LIST_READERS[function]


def test_the_list_index_holds_keys_and_the_list_filters_only() -> None:
    projection = table_indexes({})["ListKeys"]["Projection"]
    assert projection["ProjectionType"] == "INCLUDE"
    assert set(projection["NonKeyAttributes"]) <= LIST_FILTER_ATTRIBUTES
    assert "ByList" not in table_indexes({})  # the index of whole items is gone at the last step


@pytest.mark.parametrize("step", UPGRADE_STEPS)
def test_at_each_upgrade_step_roles_query_the_list_index_the_table_has_and_the_code_reads(step: str) -> None:
    parameters = {UPGRADE_STEP: step}
    indexes = table_indexes(parameters)
    in_use = list_index_in_use(parameters)

    list_indexes = {"ListKeys", "ByList"} & set(indexes)
    assert in_use == ("ListKeys" if int(step) >= 6 else "ByList")
    assert in_use in indexes
    for function in FUNCTIONS:
        assert queryable(function, parameters) & {"ListKeys", "ByList"} <= list_indexes, function
    for function in LIST_READERS:
        # at step 6 both: the deployment shifts traffic from versions that read ByList to ones that read ListKeys
        assert queryable(function, parameters) == ({in_use} if step != "6" else {"ListKeys", "ByList"}), function


# Updates never create: each is conditional on its item existing (IAM has no condition key for that)


def test_revoking_a_key_that_is_gone_creates_nothing(service_env: dict) -> None:
    store = ApiKeyStore(service_env["TABLE_NAME"])
    key = ManagedKey(key_id="key_gone", name="gone", livemode=True, restricted=False, created=1, masked="sk_live_…")

    with pytest.raises(ConditionFailedError):
        store.revoke("f" * 64, key, now=2)

    assert [item for item in all_items(service_env["TABLE_NAME"]) if item["pk"]["S"].startswith("apikey#")] == []


def test_expiring_a_session_whose_item_is_gone_creates_nothing(service_env: dict) -> None:
    session = create()
    table = service_env["TABLE_NAME"]
    store = SessionStore(table)
    stored = store.get_by_id(session["id"])
    assert stored is not None
    aws_client("dynamodb").delete_item(TableName=table, Key=stored.key)  # purged between the read and the update

    with pytest.raises(ConditionFailedError):
        store.expire(stored, now=int(time.time()) - 10_000)

    assert [item for item in all_items(table) if item["pk"]["S"].startswith("token#")] == []


def test_a_visit_to_an_unknown_token_creates_nothing(service_env: dict) -> None:
    result = SessionStore(service_env["TABLE_NAME"]).record_visit("b" * 64, int(time.time()), 3600, 0)

    assert result.session is None
    assert all_items(service_env["TABLE_NAME"]) == []


def test_the_deployment_role_may_move_the_aliases_of_this_stacks_functions_only() -> None:
    # CodeDeploy's role (DeploymentPreference.Role of every function) in place of the managed
    # AWSCodeDeployRoleForLambda, which may update any alias in the account and publish to any SNS topic.
    role = TEMPLATE["Resources"]["DeploymentRole"]["Properties"]
    functions = [name for name, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    by_actions = {tuple(sorted(_as_list(s["Action"]))): s for s in statements}

    assert [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]] == [
        {"Service": "codedeploy.amazonaws.com"}
    ]
    assert all(s["Effect"] == "Allow" and "NotAction" not in s and "NotResource" not in s for s in statements)
    assert set(by_actions) == {
        ("lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig", "lambda:UpdateAlias"),
        ("cloudwatch:DescribeAlarms",),
    }
    alias_resources = by_actions["lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig", "lambda:UpdateAlias"]
    expected = [
        resource
        for function in functions
        for resource in ({"Fn::GetAtt": [function, "Arn"]}, {"Fn::Sub": f"${{{function}.Arn}}:*"})
    ]
    assert sorted(map(str, alias_resources["Resource"])) == sorted(map(str, expected))
    assert by_actions["cloudwatch:DescribeAlarms",]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
    }  # read-only, this account and region
    global_preference = TEMPLATE["Globals"]["Function"]["DeploymentPreference"]
    assert global_preference["Role"] == {"Fn::GetAtt": ["DeploymentRole", "Arn"]}
    assert all("Role" not in r["Properties"].get("DeploymentPreference", {}) for r in TEMPLATE["Resources"].values()
               if r["Type"] == "AWS::Serverless::Function")  # fmt: skip
