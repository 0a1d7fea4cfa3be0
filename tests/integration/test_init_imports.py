"""What each function imports at init, in a fresh process as in a cold Lambda: only what its requests need.

The redirect (a link a customer waits on) and the cleanup import neither pydantic nor Powertools' event handler, nor
does create import the event handler; no function imports the X-Ray SDK; an API function builds the validators of its
own requests at init and leaves every other request model unbuilt.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_gateway.template import condition_values, load_template, with_conditions
from tests.support.settings import FUNCTION_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import importlib, json, sys
for hidden in sys.argv[2:]:  # what the function's Lambda environment lacks (this venv has it all)
    sys.modules[hidden] = None
importlib.import_module(sys.argv[1])
modules = sorted(name for name, loaded in sys.modules.items() if loaded is not None)
request_models = [
    sys.modules[name]
    for name in ("portal_sessions.stripe_wire.params", "portal_sessions.stripe_wire.configuration_params")
    if name in modules
]
built = sorted(
    name for module in request_models for name, value in vars(module).items()
    if name.endswith("Params") and isinstance(value, type) and value.__pydantic_complete__
)
print(json.dumps({"modules": modules, "built": built}))
"""


def init_of(module: str, *, as_in_lambda: bool = False, **environment: str) -> dict[str, list[str]]:
    """What a fresh process imports and builds at the module's init (read once per set of arguments: tests only read
    it)."""
    return _init_of(module, as_in_lambda, tuple(sorted(environment.items())))


@functools.cache
def _init_of(module: str, as_in_lambda: bool, environment: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    path = [str(ROOT / "layers" / "portal"), *(str(folder) for folder in (ROOT / "functions").iterdir())]
    env = {name: value for name, value in os.environ.items() if name != "LAMBDA_TASK_ROOT"}
    settings = {"PYTHONPATH": os.pathsep.join(path), **FUNCTION_SETTINGS}
    env.update({**settings, **dict(environment)})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module, *(_absent_in_lambda(module) if as_in_lambda else [])],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


FUNCTIONS = {
    "create_session_handler": "CreateSessionFunction",
    "sessions_handler": "SessionsFunction",
    "configurations_handler": "ConfigurationsFunction",
    "redirect_handler": "RedirectFunction",
    "cleanup_handler": "CleanupFunction",
}


def _layers(module: str) -> list[str]:
    """The layers template.yaml gives the module's function (its own and the Globals')."""
    template = load_template()
    own = template["Resources"][FUNCTIONS[module]]["Properties"].get("Layers", [])
    layers = with_conditions([*template["Globals"]["Function"]["Layers"], *own], condition_values(template))
    return [layer["Ref"] for layer in layers]  # as deployed by default (no OpenTelemetry layer)


def _absent_in_lambda(module: str) -> list[str]:
    # The runtime's botocore finds no pyOpenSSL; cryptography is there only with the CipherLayer.
    return ["OpenSSL"] + ([] if "CipherLayer" in _layers(module) else ["cryptography"])


def imported(modules: list[str], package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in modules)


@pytest.mark.parametrize("module", ["redirect_handler", "cleanup_handler"])
def test_links_and_cleanup_need_no_pydantic_and_no_router(module: str) -> None:
    modules = init_of(module)["modules"]

    assert imported(modules, "portal_sessions.store")  # the probe saw the function's own imports
    assert not imported(modules, "pydantic")
    assert not imported(modules, "aws_lambda_powertools.event_handler")
    assert not imported(modules, "aws_xray_sdk")


def test_the_redirect_loads_its_pages_and_their_catalogs_only_when_it_shows_a_page() -> None:
    modules = init_of("redirect_handler")["modules"]

    assert imported(modules, "portal_sessions.api_gateway.html_headers")  # the probe saw the function's own imports
    assert not imported(modules, "portal_sessions.api_gateway.pages")
    assert not imported(modules, "portal_sessions.api_gateway.page_locales")


def test_create_answers_its_one_route_without_a_router_nor_the_idempotency_utility() -> None:
    # create is the API's hot path: no event handler package (about 100 ms of cold start), no Powertools
    # idempotency utility (the service owns its records), no OpenAPI document (only a refused URL needs it)
    modules = init_of("create_session_handler")["modules"]

    assert imported(modules, "portal_sessions.use_cases.idempotency")  # the probe saw the function's own imports
    assert not imported(modules, "aws_lambda_powertools.event_handler")
    assert not imported(modules, "aws_lambda_powertools.utilities.idempotency")
    assert not imported(modules, "portal_sessions.api_gateway.openapi")
    assert not imported(modules, "portal_sessions.stripe_wire.configuration_params")  # the configuration calls' models


def test_create_builds_its_own_request_models_only() -> None:
    init = init_of("create_session_handler")

    assert "CreateSessionParams" in init["built"]
    assert "CreateConfigurationParams" not in init["built"]
    assert "ListSessionsParams" not in init["built"]
    assert not imported(init["modules"], "aws_xray_sdk")


def test_configurations_build_the_configuration_models() -> None:
    built = init_of("configurations_handler")["built"]

    assert {"CreateConfigurationParams", "UpdateConfigurationParams", "ListConfigurationsParams"} <= set(built)
    assert "CreateSessionParams" not in built


EVERY_HANDLER = sorted(
    resource["Properties"]["Handler"].rsplit(".", 1)[0]
    for resource in load_template()["Resources"].values()
    if resource["Type"] == "AWS::Serverless::Function"
)


@pytest.mark.parametrize("module", EVERY_HANDLER)
def test_no_function_imports_the_x_ray_sdk_as_lambda_runs_it(module: str) -> None:
    # As Lambda starts it (LAMBDA_TASK_ROOT set), with POWERTOOLS_TRACE_DISABLED as a stack deployed before may still
    # set it: the X-Ray SDK's support ends on 2027-02-25, and Powertools' Tracer is built on it
    modules = init_of(module, LAMBDA_TASK_ROOT=str(ROOT / "functions"), POWERTOOLS_TRACE_DISABLED="false")["modules"]

    assert imported(modules, "portal_sessions")  # the probe saw the function's own imports
    assert not imported(modules, "aws_xray_sdk")


@pytest.mark.parametrize(
    ("module", "setting", "value", "problem"),
    [
        ("create_session_handler", "LINK_TTL_SECONDS", "3", "LINK_TTL_SECONDS: must be between 10 and 86400"),
        (
            "redirect_handler",
            "PORTAL_URL",
            "javascript:alert(1)",
            "PORTAL_URL: must be an http(s) URL of at most 512 characters",
        ),
        ("sessions_handler", "TABLE_NAME", "", "TABLE_NAME: must be at least 3 characters"),
        ("cleanup_handler", "CLEANUP_LOOKBACK_HOURS", "0", "CLEANUP_LOOKBACK_HOURS: must be between 1 and 2160"),
    ],
)
def test_a_function_with_bad_settings_fails_at_init_with_their_message(
    module: str, setting: str, value: str, problem: str
) -> None:
    # When Lambda initialises the function (imports its handler) with a setting it cannot run with
    with pytest.raises(subprocess.CalledProcessError) as failed:
        init_of(module, **{setting: value})

    # Then the init fails, and says why
    assert f"ConfigurationError: invalid function settings: {problem}" in failed.value.stderr


@pytest.mark.parametrize("module", list(FUNCTIONS))
def test_the_cipher_is_imported_only_when_a_response_is_sealed_or_opened(module: str) -> None:
    # cryptography costs a cold start about 14 ms: only requests with an Idempotency-Key need it (PyJWT would import
    # it at init wherever it is installed, so the redirect's environment has none)
    modules = init_of(module, as_in_lambda=True)["modules"]

    assert imported(modules, "portal_sessions")  # the probe saw the function's own imports
    assert not imported(modules, "cryptography")


@pytest.mark.parametrize("module", list(FUNCTIONS))
def test_exactly_the_functions_that_seal_responses_get_the_cipher_layer(module: str) -> None:
    seals = imported(init_of(module)["modules"], "portal_sessions.use_cases.idempotency")

    assert ("CipherLayer" in _layers(module)) == seals
    assert "cryptography" not in (ROOT / "layers" / "portal" / "requirements.txt").read_text()
