"""`make run DYNAMODB=local`: the runner serves on Amazon's DynamoDB Local with its data on disk, so what a developer
made (configurations, sessions) is still there after a restart."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import pytest
import requests

from local_gateway import dynamodb_local
from tests.support.engines import DYNAMODB_LOCAL_MISSING
from tests.support.local_service import parse_banner, start_runner, stop_process

pytestmark = pytest.mark.skipif(DYNAMODB_LOCAL_MISSING is not None, reason=f"{DYNAMODB_LOCAL_MISSING}")
ROOT = Path(__file__).resolve().parents[2]


def test_configurations_survive_a_restart_on_dynamodb_local(tmp_path: Path) -> None:
    # Given the runner on DynamoDB Local with its data in a folder of its own
    data = tmp_path / "data"
    settings = {"PORTAL_DYNAMODB": "local", "PORTAL_DYNAMODB_DATA": str(data)}
    (tmp_path / "first").mkdir()
    process, port, banner = start_runner(tmp_path / "first", **settings)
    try:
        service = parse_banner(banner, port)
        assert "DynamoDB: DynamoDB Local (http://127.0.0.1:" in banner
        created = requests.post(
            service.base_url + "/v1/billing_portal/configurations",
            auth=(service.api_key, ""),
            data={
                "features[customer_update][enabled]": "true",
                "features[customer_update][allowed_updates][]": "email",
                "metadata[kept]": "yes",
            },
            timeout=30,
        )
        assert created.status_code == 200, created.text
        configuration_id = created.json()["id"]
    finally:
        stop_process(process)
    assert process.returncode == 0

    # When it is started again on the same folder
    (tmp_path / "second").mkdir()
    process, port, banner = start_runner(tmp_path / "second", **settings)
    try:
        service = parse_banner(banner, port)
        retrieved = requests.get(
            f"{service.base_url}/v1/billing_portal/configurations/{configuration_id}",
            auth=(service.api_key, ""),
            timeout=30,
        )
    finally:
        stop_process(process)

    # Then the configuration is still there, as it was made
    assert retrieved.status_code == 200, retrieved.text
    assert retrieved.json()["metadata"] == {"kept": "yes"}
    assert (data / "server.log").exists()


def test_the_embedded_default_keeps_nothing_on_disk(tmp_path: Path) -> None:
    # Given the runner started without the switch
    (tmp_path / "run").mkdir()
    process, port, banner = start_runner(tmp_path / "run", PORTAL_DYNAMODB_DATA=str(tmp_path / "data"))
    stop_process(process)

    # Then it served on its embedded moto and wrote no DynamoDB Local data
    assert "DynamoDB: embedded (http://127.0.0.1:" in banner
    assert not (tmp_path / "data").exists()


def test_dynamodb_local_runs_without_telemetry_and_writes_only_where_it_is_told(tmp_path: Path) -> None:
    # Given DynamoDB Local started as the tests and `make run` start it, its log in a folder of its own
    running = dynamodb_local.start(log_path=tmp_path / "server.log")
    try:
        # When it has served a request
        boto3.client(
            "dynamodb", endpoint_url=running.endpoint_url, region_name="us-east-1",
            aws_access_key_id="local", aws_secret_access_key="local",
        ).list_tables()  # fmt: skip
    finally:
        running.stop()

    # Then it ran with its telemetry off, and wrote no installation id (nor anything else) beside its log
    assert "-disableTelemetry" in running.process.args
    assert sorted(path.name for path in tmp_path.iterdir()) == ["server.log"]


def test_the_repository_holds_no_dynamodb_local_files() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert [name for name in tracked if Path(name).name.startswith("dynamodb-local")] == []
