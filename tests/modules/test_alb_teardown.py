"""hastack.stack.alb_teardown: the alb role's destroy in one module run, against the emulator.

Each test builds a stack's load balancer tier with boto3 (tagged as the role tags it), runs
the module through a one-task playbook and asserts what the emulator holds afterwards. The
API calls are recorded by a forwarding proxy where what was (not) called matters: the order
AWS requires, and that a refusal, a check-mode run or a second run mutates nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import yaml

from tests.support import PlaybookRun, client, recording_proxy, run_playbook

pytestmark = pytest.mark.emulator

TASK = "Tear down the load balancer tier"
READS = ("Describe", "List", "Get")


@dataclass
class Tier:
    """What the alb role makes for one stack, as the emulator's ids."""

    stack: str
    vpc: str
    subnets: list[str]
    sg: str
    lb: str
    listener: str
    tg: str


def tags(stack: str) -> list[dict[str, str]]:
    return [{"Key": "hastack:stack", "Value": stack}, {"Key": "hastack:role", "Value": "alb"}]


def build(endpoint: str, stack: str, second_octet: int) -> Tier:
    ec2, elbv2 = client("ec2", endpoint), client("elbv2", endpoint)
    vpc = ec2.create_vpc(CidrBlock=f"10.{second_octet}.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.{second_octet}.{i}.0/24", AvailabilityZone=f"us-east-1{az}"
        )["Subnet"]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    sg = ec2.create_security_group(
        GroupName=f"{stack}-alb",
        Description="alb teardown test",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags(stack)}],
    )["GroupId"]
    lb = elbv2.create_load_balancer(
        Name=f"{stack}-alb", Subnets=subnets, SecurityGroups=[sg], Tags=tags(stack)
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(
        Name=f"{stack}-tg", Protocol="HTTP", Port=8000, VpcId=vpc, Tags=tags(stack)
    )["TargetGroups"][0]["TargetGroupArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )["Listeners"][0]["ListenerArn"]
    return Tier(stack, vpc, subnets, sg, lb, listener, tg)


def held(endpoint: str, tier: Tier) -> dict[str, bool]:
    """Which of the tier's resources the emulator still holds."""
    ec2, elbv2 = client("ec2", endpoint), client("elbv2", endpoint)

    def exists(call: Any, **kwargs: Any) -> bool:
        try:
            call(**kwargs)
        except botocore.exceptions.ClientError as e:
            if "NotFound" in e.response["Error"]["Code"]:
                return False
            raise
        return True

    return {
        "lb": exists(elbv2.describe_load_balancers, LoadBalancerArns=[tier.lb]),
        "listener": exists(elbv2.describe_listeners, ListenerArns=[tier.listener]),
        "tg": exists(elbv2.describe_target_groups, TargetGroupArns=[tier.tg]),
        "sg": exists(ec2.describe_security_groups, GroupIds=[tier.sg]),
    }


ALL = {"lb": True, "listener": True, "tg": True, "sg": True}
# The security group is the vpc role's to delete: the module only waits on it.
TORN_DOWN = {"lb": False, "listener": False, "tg": False, "sg": True}


def remove(endpoint: str, tier: Tier) -> None:
    """Best-effort cleanup of whatever a test left, so the shared emulator stays tidy."""
    ec2, elbv2 = client("ec2", endpoint), client("elbv2", endpoint)
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [tier.sg]}])
    for call, kwargs in (
        *(
            (ec2.delete_network_interface, {"NetworkInterfaceId": e["NetworkInterfaceId"]})
            for e in enis["NetworkInterfaces"]
        ),
        (
            elbv2.modify_load_balancer_attributes,
            {
                "LoadBalancerArn": tier.lb,
                "Attributes": [{"Key": "deletion_protection.enabled", "Value": "false"}],
            },
        ),
        (elbv2.delete_load_balancer, {"LoadBalancerArn": tier.lb}),
        (elbv2.delete_target_group, {"TargetGroupArn": tier.tg}),
        (ec2.delete_security_group, {"GroupId": tier.sg}),
        *((ec2.delete_subnet, {"SubnetId": s}) for s in tier.subnets),
        (ec2.delete_vpc, {"VpcId": tier.vpc}),
    ):
        with contextlib.suppress(botocore.exceptions.ClientError):
            call(**kwargs)


@contextlib.contextmanager
def tiers(endpoint: str, *specs: tuple[str, int]) -> Iterator[list[Tier]]:
    built: list[Tier] = []
    try:
        for stack, octet in specs:
            built.append(build(endpoint, stack, octet))
        yield built
    finally:
        for tier in built:
            remove(endpoint, tier)


def teardown(
    tmp_path: Path,
    stack: str,
    *,
    endpoint: str | None = None,
    check: bool = False,
    **options: Any,
) -> tuple[PlaybookRun, dict[str, Any]]:
    """Run the module once on localhost; the run and the module's result."""
    book = tmp_path / f"play-{len(list(tmp_path.glob('play-*.yml')))}.yml"
    task = {"name": TASK, "hastack.stack.alb_teardown": {"stack_name": stack, **options}}
    book.write_text(
        yaml.safe_dump(
            [{"name": "Module test", "hosts": "localhost", "gather_facts": False, "tasks": [task]}]
        )
    )
    env = {}
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    run = run_playbook(str(book), env=env, args=["--check"] if check else [])
    results = [
        res
        for play in run.data.get("plays", [])
        for t in play["tasks"]
        if t["task"]["name"] == TASK
        for res in t["hosts"].values()
    ]
    assert len(results) == 1, run.stdout[-3000:]
    return run, results[0]


def writes(calls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    assert calls, "the proxy recorded no call: the module did not reach AWS through it"
    return [c for c in calls if not c[1].startswith(READS)]


def test_deletes_the_stack_tier_in_order_and_spares_the_neighbour(
    aws_env: str, tmp_path: Path
) -> None:
    # The neighbour's name extends this one's: a prefix match would take it down too.
    with tiers(aws_env, ("albtd", 41), ("albtd-nb", 42)) as (mine, neighbour):
        with recording_proxy(aws_env) as (proxy, calls):
            run, result = teardown(tmp_path, "albtd", endpoint=proxy, wait_delay=1)
        assert run.rc == 0, run.stdout[-3000:]
        assert result["changed"] is True
        assert result["load_balancers"] == ["albtd-alb"]
        assert result["target_groups"] == ["albtd-tg"]
        assert result["security_group_ids"] == [mine.sg]
        assert held(aws_env, mine) == TORN_DOWN
        assert held(aws_env, neighbour) == ALL

        # AWS's order: listener, load balancer (gone), target group, then the interfaces.
        ops = [op for _, op in calls]
        assert writes(calls) == [
            ("elasticloadbalancing", "DeleteListener"),
            ("elasticloadbalancing", "DeleteLoadBalancer"),
            ("elasticloadbalancing", "DeleteTargetGroup"),
        ]
        deleted_lb = ops.index("DeleteLoadBalancer")
        assert "DescribeLoadBalancers" in ops[deleted_lb : ops.index("DeleteTargetGroup")]
        assert ops.index("DescribeNetworkInterfaces") > ops.index("DeleteTargetGroup")
        assert "albtd-nb" not in repr(calls)

        # A second run finds nothing and changes nothing: reads only.
        with recording_proxy(aws_env) as (proxy, calls):
            run, result = teardown(tmp_path, "albtd", endpoint=proxy)
        assert run.rc == 0, run.stdout[-3000:]
        assert run.changed == 0
        assert (result["load_balancers"], result["target_groups"]) == ([], [])
        assert writes(calls) == []
        assert held(aws_env, neighbour) == ALL


def test_deletion_protection_refuses_unless_confirmed(aws_env: str, tmp_path: Path) -> None:
    with tiers(aws_env, ("albtd-prot", 43)) as (tier,):
        elbv2 = client("elbv2", aws_env)
        elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=tier.lb,
            Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}],
        )
        with recording_proxy(aws_env) as (proxy, calls):
            run, result = teardown(tmp_path, "albtd-prot", endpoint=proxy)
        assert run.rc != 0
        assert result["failed"] is True
        assert result["refused"] is True  # the wrapper exits 4 on it
        for part in (
            "albtd-prot-alb",
            "alb_deletion_protection",
            "alb_confirm_delete_protected=true",
            "nothing was deleted",
        ):
            assert part in result["msg"], result["msg"]
        assert writes(calls) == []
        assert held(aws_env, tier) == ALL

        run, result = teardown(tmp_path, "albtd-prot", confirm_delete_protected=True)
        assert run.rc == 0, run.stdout[-3000:]
        assert result["load_balancers"] == ["albtd-prot-alb"]
        assert held(aws_env, tier) == TORN_DOWN


def test_check_mode_reports_and_deletes_nothing(aws_env: str, tmp_path: Path) -> None:
    with tiers(aws_env, ("albtd-check", 44)) as (tier,):
        with recording_proxy(aws_env) as (proxy, calls):
            run, result = teardown(tmp_path, "albtd-check", endpoint=proxy, check=True)
        assert run.rc == 0, run.stdout[-3000:]
        assert run.changed == 1
        assert result["load_balancers"] == ["albtd-check-alb"]
        assert result["target_groups"] == ["albtd-check-tg"]
        assert writes(calls) == []
        assert held(aws_env, tier) == ALL


def test_waits_for_the_interfaces_on_the_security_group_then_gives_up(
    aws_env: str, tmp_path: Path
) -> None:
    # On AWS a deleted ALB's own interfaces linger on its security group for a while; moto
    # drops them at once (it creates none), so an interface is made by hand to stand in.
    with tiers(aws_env, ("albtd-eni", 45)) as (tier,):
        ec2 = client("ec2", aws_env)
        eni = ec2.create_network_interface(
            SubnetId=tier.subnets[0], Groups=[tier.sg], Description="ELB app/albtd-eni-alb"
        )["NetworkInterface"]["NetworkInterfaceId"]
        start = time.monotonic()
        run, result = teardown(tmp_path, "albtd-eni", wait_timeout=3, wait_delay=1)
        elapsed = time.monotonic() - start
        assert run.rc != 0
        for part in (
            eni,
            tier.sg,
            "alb_wait_timeout=3s",
            "ELB app/albtd-eni-alb",
            "Run the destroy again, or raise alb_wait_timeout",
        ):
            assert part in result["msg"], result["msg"]
        # Bounded: the 3 s wait plus Ansible's start-up, far below the default 600 s.
        assert 3 <= elapsed < 30, elapsed
        # What comes before the wait was done, and reported.
        assert held(aws_env, tier) == TORN_DOWN
        assert result["load_balancers"] == ["albtd-eni-alb"]

        ec2.delete_network_interface(NetworkInterfaceId=eni)
        run, result = teardown(tmp_path, "albtd-eni", wait_timeout=3, wait_delay=1)
        assert run.rc == 0, run.stdout[-3000:]
        assert result["changed"] is False
        assert result["security_group_ids"] == [tier.sg]
