"""hastack.stack.vpc_teardown's answer to DependencyViolation: bounded, backed-off retries.

The emulator cannot show this behaviour: moto deletes a security group or subnet that
network interfaces still use, and AWS does not (for minutes after a load balancer, NAT
gateway or instance is deleted). So these tests drive the module's code with botocore's
Stubber, which answers each call with the AWS response we give it, in order. The emulator
runs of the same module are in test_destroy.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import (
    RetryingBotoClientWrapper,
)
from botocore.stub import Stubber

from tests.support import load_source

VPC = "vpc-0123456789abcdef0"
SG_APP = "sg-0aaaaaaaaaaaaaaa1"
SG_ALB = "sg-0bbbbbbbbbbbbbbb2"


def load_module() -> Any:
    return load_source("plugins/modules/vpc_teardown.py")


class Failed(Exception):
    pass


class FakeModule:
    """What Teardown uses of AnsibleAWSModule: params, check_mode, client(), fail_json_aws()."""

    def __init__(self, client: Any, timeout: int) -> None:
        self._client = client
        self.params = {"timeout": timeout, "max_delay": 4}
        self.check_mode = False

    def client(self, _service: str, retry_decorator: Any) -> Any:
        return RetryingBotoClientWrapper(self._client, retry_decorator)

    def fail_json_aws(self, error: Exception, msg: str) -> None:
        raise Failed(msg)


def violation(stub: Stubber, operation: str, times: int) -> None:
    for _ in range(times):
        stub.add_client_error(
            operation, service_error_code="DependencyViolation", http_status_code=400
        )


def groups_answer() -> dict[str, Any]:
    # The app group admits the load balancer's group: that rule is revoked before deleting.
    return {
        "SecurityGroups": [
            {
                "GroupId": SG_APP,
                "GroupName": "web-app",
                "VpcId": VPC,
                "IpPermissions": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 8000,
                        "ToPort": 8000,
                        "UserIdGroupPairs": [{"GroupId": SG_ALB, "UserId": "123456789012"}],
                    }
                ],
                "IpPermissionsEgress": [],
            },
            {"GroupId": SG_ALB, "GroupName": "web-alb", "VpcId": VPC, "IpPermissions": []},
            {"GroupId": "sg-0ccccccccccccccc3", "GroupName": "default", "VpcId": VPC},
        ]
    }


def test_dependency_violation_is_retried_with_growing_pauses(ec2: Any, no_sleep: list) -> None:
    teardown_module = load_module()
    with Stubber(ec2) as stub:
        stub.add_response("describe_security_groups", groups_answer())
        stub.add_response(
            "revoke_security_group_ingress",
            {"Return": True},
            {
                "GroupId": SG_APP,
                "IpPermissions": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 8000,
                        "ToPort": 8000,
                        "UserIdGroupPairs": [{"GroupId": SG_ALB, "UserId": "123456789012"}],
                    }
                ],
            },
        )
        # The app group's interfaces linger for four attempts, then it goes.
        violation(stub, "delete_security_group", 4)
        stub.add_response("delete_security_group", {}, {"GroupId": SG_APP})
        stub.add_response("delete_security_group", {}, {"GroupId": SG_ALB})
        teardown = teardown_module.Teardown(FakeModule(ec2, timeout=300))
        teardown.security_groups(VPC)
        stub.assert_no_pending_responses()

    assert teardown.deleted["security_groups"] == [SG_APP, SG_ALB]
    assert teardown.retries == 4
    # Jittered exponential backoff: each pause at most twice the previous cap, capped at
    # max_delay (4 s here): ranges 0.5-1, 1-2, 2-4, 2-4.
    assert len(no_sleep) == 4
    for pause, (low, high) in zip(no_sleep, [(0.5, 1), (1, 2), (2, 4), (2, 4)], strict=True):
        assert low <= pause <= high, no_sleep


def test_dependency_violation_gives_up_at_the_timeout_naming_what_still_uses_it(
    ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    teardown_module = load_module()
    clock = [1000.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    monkeypatch.setattr("random.uniform", lambda _low, high: high)  # the longest pauses
    subnet = "subnet-0123456789abcdef0"
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_subnets",
            {"Subnets": [{"SubnetId": subnet, "CidrBlock": "10.0.1.0/24", "VpcId": VPC}]},
        )
        # Pauses 1, 2, 4, 4, 4, 4, 4, 4 and the 3 s left: the tenth refusal meets the deadline.
        violation(stub, "delete_subnet", 10)
        stub.add_response(
            "describe_network_interfaces",
            {
                "NetworkInterfaces": [
                    {
                        "NetworkInterfaceId": "eni-0123456789abcdef0",
                        "Description": "ELB app/web-alb/50dc6c495c0c9188",
                        "Status": "in-use",
                    }
                ]
            },
        )
        teardown = teardown_module.Teardown(FakeModule(ec2, timeout=30))
        with pytest.raises(Failed) as failure:
            teardown.subnets(VPC)

    message = str(failure.value)
    assert f"delete subnet {subnet}" in message
    assert "timeout of 30s" in message
    assert "eni-0123456789abcdef0 (ELB app/web-alb/50dc6c495c0c9188, in-use)" in message
    assert "vpc_delete_timeout" in message
    # Bounded: it stopped exactly at the deadline.
    assert clock[0] - 1000.0 == pytest.approx(30, abs=0.01)
    assert teardown.retries == 9


def test_resources_already_gone_are_skipped(ec2: Any, no_sleep: list) -> None:
    teardown_module = load_module()
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_subnets",
            {"Subnets": [{"SubnetId": "subnet-0aaaaaaaaaaaaaaa1", "CidrBlock": "10.0.1.0/24"}]},
        )
        stub.add_client_error("delete_subnet", service_error_code="InvalidSubnetID.NotFound")
        teardown = teardown_module.Teardown(FakeModule(ec2, timeout=300))
        teardown.subnets(VPC)
    assert teardown.deleted["subnets"] == []
    assert no_sleep == []


def test_stack_vpcs_are_found_by_tag_and_checked_again(ec2: Any) -> None:
    """Without vpc_ids the module finds the stack's VPCs itself. A filter the API ignored
    (answering every VPC) must not widen the delete: each VPC's tag is checked again."""
    teardown_module = load_module()

    def vpc(vpc_id: str, stack: str | None) -> dict[str, Any]:
        tags = [{"Key": "hastack:stack", "Value": stack}] if stack else []
        return {"VpcId": vpc_id, "CidrBlock": "10.0.0.0/16", "Tags": tags}

    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_vpcs",
            {
                "Vpcs": [
                    vpc("vpc-0aaaaaaaaaaaaaaa1", "shop"),
                    vpc("vpc-0aaaaaaaaaaaaaaa2", "shop-nb"),
                    vpc("vpc-0aaaaaaaaaaaaaaa3", None),
                    vpc("vpc-0aaaaaaaaaaaaaaa4", "shop"),
                ]
            },
            {"Filters": [{"Name": "tag:hastack:stack", "Values": ["shop"]}]},
        )
        teardown = teardown_module.Teardown(FakeModule(ec2, timeout=300))
        found = teardown.stack_vpcs("shop")
    assert found == ["vpc-0aaaaaaaaaaaaaaa1", "vpc-0aaaaaaaaaaaaaaa4"]
