"""End to end through the Python API: deploy the real playbooks to the emulator, read the
outputs, check the stack, then destroy. (tests/cli/test_stack_life.py does the same through the CLI,
with interruption, locking, drift and secrets.)

Asserts on what the emulator holds, not on what the run printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from hastack import api

STACK = "pytest-wrap"


def _stack_vpcs(endpoint: str) -> list[str]:
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:hastack:stack", "Values": [STACK]}])
    return [vpc["VpcId"] for vpc in found["Vpcs"]]


@pytest.mark.emulator
def test_deploy_then_destroy_through_the_api(aws_env: str, tmp_path: Path) -> None:
    assert _stack_vpcs(aws_env) == [], "a previous test left the stack behind"
    try:
        deployed = api.deploy(env="local", stack=STACK, state_dir=tmp_path / "state")
        assert deployed.ok, deployed.failed_tasks
        assert deployed.changed > 0
        assert deployed.failed == 0
        assert _stack_vpcs(aws_env) == [deployed.outputs["vpc_id"]]
        # the outputs the API returns are the ones the deploy wrote for pipelines
        written = json.loads((tmp_path / "state" / "outputs" / f"{STACK}.json").read_text())
        assert dict(deployed.outputs) == written
        assert deployed.outputs["asg_name"] == f"{STACK}-asg"
        assert deployed.exit_code == api.ExitCode.OK
        assert api.outputs(env="local", stack=STACK, state_dir=tmp_path / "state").outputs == (
            written
        )

        checked = api.check(env="local", stack=STACK, state_dir=tmp_path / "state")
        assert isinstance(checked, api.CheckResult)
        assert checked.exit_code == api.ExitCode.OK, (checked.message, checked.failed_tasks)
        assert checked.findings
        assert checked.failed_findings == ()
        assert checked.drift == ()
        assert checked.changed == 0  # check changed nothing
    finally:
        destroyed = api.destroy(env="local", stack=STACK, state_dir=tmp_path / "state")
    assert destroyed.ok, destroyed.failed_tasks
    assert _stack_vpcs(aws_env) == []
