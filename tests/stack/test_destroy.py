"""destroy.yml from any state: after a full deploy, beside a neighbour stack, twice and after
resources were deleted by hand. Destroys after killed deploys, and killed destroys, are in
tests/stack/test_interruptions.py.

Every test asserts what the emulator holds afterwards with the tests' own sweep
(``stack_leftovers``), independent of the product's hastack.stack.stack_info. The emulator does not
enforce AWS's dependency rules (see docs/EMULATOR.md), so the order of deletion is
checked on the API calls themselves, recorded by a forwarding proxy.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.support import (
    client,
    recording_proxy,
    run_playbook,
    stack_leftovers,
    tags_of,
)

pytestmark = pytest.mark.emulator

STACK = "dst"
# A neighbour whose name extends this one's: a prefix match would take it down too.
NEIGHBOUR = "dst-nb"

# The order AWS requires (AWS_NOTES.md, "Deleting in AWS's order"), as ranks of the calls
# that delete. A destroy's deleting calls must never go back to an earlier rank.
DELETE_RANKS: dict[tuple[str, str], int] = {
    ("autoscaling", "DeletePolicy"): 1,
    ("monitoring", "DeleteAlarms"): 1,
    ("autoscaling", "DeleteAutoScalingGroup"): 2,
    ("elasticloadbalancing", "DeleteListener"): 3,
    ("elasticloadbalancing", "DeleteLoadBalancer"): 3,
    ("elasticloadbalancing", "DeleteTargetGroup"): 4,
    ("ec2", "DeleteLaunchTemplateVersions"): 5,
    ("ec2", "DeleteLaunchTemplate"): 5,
    ("iam", "RemoveRoleFromInstanceProfile"): 6,
    ("iam", "DeleteInstanceProfile"): 6,
    ("iam", "DetachRolePolicy"): 6,
    ("iam", "DeleteRolePolicy"): 6,
    ("iam", "DeleteRole"): 6,
    ("ssm", "DeleteParameter"): 6,
    ("ec2", "DeleteNatGateway"): 7,
    ("ec2", "ReleaseAddress"): 8,
    ("ec2", "DisassociateRouteTable"): 9,
    ("ec2", "DeleteRouteTable"): 9,
    ("ec2", "DetachInternetGateway"): 10,
    ("ec2", "DeleteInternetGateway"): 10,
    ("ec2", "RevokeSecurityGroupIngress"): 11,
    ("ec2", "RevokeSecurityGroupEgress"): 11,
    ("ec2", "DeleteSecurityGroup"): 11,
    ("ec2", "DeleteSubnet"): 12,
    ("ec2", "DeleteVpc"): 13,
}
# Kinds a full destroy must delete at least once (listeners go with their load balancer).
MUST_DELETE = {
    ("autoscaling", "DeletePolicy"),
    ("monitoring", "DeleteAlarms"),
    ("autoscaling", "DeleteAutoScalingGroup"),
    ("elasticloadbalancing", "DeleteLoadBalancer"),
    ("elasticloadbalancing", "DeleteTargetGroup"),
    ("ec2", "DeleteLaunchTemplate"),
    ("iam", "DeleteInstanceProfile"),
    ("iam", "DeleteRole"),
    ("ssm", "DeleteParameter"),
    ("ec2", "DeleteNatGateway"),
    ("ec2", "ReleaseAddress"),
    ("ec2", "DeleteRouteTable"),
    ("ec2", "DetachInternetGateway"),
    ("ec2", "DeleteInternetGateway"),
    ("ec2", "DeleteSecurityGroup"),
    ("ec2", "DeleteSubnet"),
    ("ec2", "DeleteVpc"),
}
MUTATING = ("Create", "Delete", "Put", "Modify", "Update", "Attach", "Detach", "Associate")


def deploy(stack: str, **extra: object) -> None:
    run = run_playbook("site.yml", extra_vars={"stack_name": stack, **extra})
    assert run.rc == 0, run.failures() or run.stderr[-3000:]


def destroy(stack: str, env: dict[str, str] | None = None) -> Any:
    run = run_playbook("destroy.yml", extra_vars={"stack_name": stack}, env=env)
    assert run.rc == 0, run.failures() or run.stdout[-3000:]
    return run


def eips(endpoint: str) -> set[str]:
    return {a["AllocationId"] for a in client("ec2", endpoint).describe_addresses()["Addresses"]}


def check_order(calls: list[tuple[str, str]]) -> None:
    deleting = [(i, call) for i, call in enumerate(calls) if call in DELETE_RANKS]
    assert {call for _, call in deleting} >= MUST_DELETE, (
        f"never called: {sorted(MUST_DELETE - {c for _, c in deleting})}"
    )
    for (_, before), (_, after) in itertools.pairwise(deleting):
        assert DELETE_RANKS[before] <= DELETE_RANKS[after], (
            f"{after[1]} ran after {before[1]}; AWS's order is the other way round"
        )
    first = {call: i for i, call in reversed(deleting)}
    last = {call: i for i, call in deleting}

    def between(start: int, end: int, operation: str) -> bool:
        return any(op == operation for _, op in calls[start:end])

    # The waits: NAT gateways deleted before their EIPs are released, the load balancer's
    # interfaces gone before the groups are deleted, the group's instances before the LB.
    assert between(
        last["ec2", "DeleteNatGateway"], first["ec2", "ReleaseAddress"], "DescribeNatGateways"
    )
    assert between(
        last["elasticloadbalancing", "DeleteLoadBalancer"],
        first["ec2", "DeleteSecurityGroup"],
        "DescribeNetworkInterfaces",
    )
    scaled_to_zero = max(
        i for i, c in enumerate(calls) if c == ("autoscaling", "UpdateAutoScalingGroup")
    )
    assert between(
        scaled_to_zero, first["autoscaling", "DeleteAutoScalingGroup"], "DescribeAutoScalingGroups"
    )


def test_destroy_in_aws_order_leaves_nothing_and_spares_the_neighbour(aws_env: str) -> None:
    eips_before = eips(aws_env)
    try:
        # With the step alarms too, so their deletion is part of the recorded order.
        deploy(STACK, scaling_step_alarms=True)
        deploy(NEIGHBOUR, scaling_step_alarms=True)
        neighbour = sorted(stack_leftovers(aws_env, NEIGHBOUR))
        assert len(neighbour) > 20, neighbour

        with recording_proxy(aws_env) as (proxy, calls):
            run = destroy(STACK, env={"AWS_ENDPOINT_URL": proxy})
        assert stack_leftovers(aws_env, STACK) == []
        check_order(calls)
        assert "Nothing tagged hastack:stack=dst is left" in run.stdout

        # -- the neighbour is exactly as it was, and none of its resources was even touched
        assert sorted(stack_leftovers(aws_env, NEIGHBOUR)) == neighbour
        assert NEIGHBOUR not in repr([c for c in calls if c[1].startswith(MUTATING)])

        # -- a second destroy finds nothing and changes nothing
        again = destroy(STACK)
        assert again.changed == 0, again.changed_tasks()

        # -- hand-deleted resources: the neighbour loses its load balancer, one NAT gateway
        # (its EIP stays allocated, as on AWS) and its internet gateway's attachment.
        ec2 = client("ec2", aws_env)
        elbv2 = client("elbv2", aws_env)
        lb = elbv2.describe_load_balancers(Names=[f"{NEIGHBOUR}-alb"])["LoadBalancers"][0]
        elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        nat = next(
            n
            for n in ec2.describe_nat_gateways()["NatGateways"]
            if tags_of(n).get("hastack:stack") == NEIGHBOUR and n["State"] == "available"
        )
        ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
        vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:hastack:stack", "Values": [NEIGHBOUR]}])
        vpc_id = vpc["Vpcs"][0]["VpcId"]
        igw = ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
        )["InternetGateways"][0]
        ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)

        destroy(NEIGHBOUR)
        assert stack_leftovers(aws_env, NEIGHBOUR) == []
        assert eips(aws_env) == eips_before, "an Elastic IP is still allocated"
    finally:
        for stack in (STACK, NEIGHBOUR):
            run_playbook("destroy.yml", extra_vars={"stack_name": stack})
