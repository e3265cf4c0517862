"""The benchmark's instrument: the boto3 floor builds exactly the stack and removes all of it,
the proxy counts its calls, and the report renders from a small fake result.

No full benchmark here (minutes of CPU): bench/run does that, by hand or ``make bench``.
"""

from __future__ import annotations

from typing import Any

import pytest
from bench.floor import Floor
from bench.hastack_bench import Sample, counting_proxy, operations_table, render, summarise

from tests.support import client, tag_filter

STACK = "floor-test"


def stack_resources(endpoint: str) -> dict[str, Any]:
    """What the emulator holds of the floor's stack, found by tag or name."""
    ec2 = client("ec2", endpoint)
    elbv2 = client("elbv2", endpoint)
    iam = client("iam", endpoint)
    asg = client("autoscaling", endpoint)
    tags = tag_filter(STACK)
    vpcs = ec2.describe_vpcs(Filters=tags)["Vpcs"]
    lbs = [
        lb
        for lb in elbv2.describe_load_balancers()["LoadBalancers"]
        if lb["LoadBalancerName"] == f"{STACK}-alb"
    ]
    return {
        "vpcs": vpcs,
        "subnets": ec2.describe_subnets(Filters=tags)["Subnets"],
        "igws": ec2.describe_internet_gateways(Filters=tags)["InternetGateways"],
        "route_tables": ec2.describe_route_tables(Filters=tags)["RouteTables"],
        "eips": ec2.describe_addresses(Filters=tags)["Addresses"],
        "nats": [
            g
            for g in ec2.describe_nat_gateways(Filters=tags)["NatGateways"]
            if g["State"] != "deleted" and {"Key": "hastack:stack", "Value": STACK} in g["Tags"]
        ],
        "security_groups": ec2.describe_security_groups(Filters=tags)["SecurityGroups"],
        "load_balancers": lbs,
        "listeners": (
            elbv2.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
            if lbs
            else []
        ),
        "target_groups": [
            tg
            for tg in elbv2.describe_target_groups()["TargetGroups"]
            if tg["TargetGroupName"] == f"{STACK}-tg"
        ],
        "roles": [r for r in iam.list_roles()["Roles"] if r["RoleName"] == f"{STACK}-app"],
        "profiles": [
            p
            for p in iam.list_instance_profiles()["InstanceProfiles"]
            if p["InstanceProfileName"] == f"{STACK}-app"
        ],
        "launch_templates": ec2.describe_launch_templates(Filters=tags)["LaunchTemplates"],
        "groups": asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{STACK}-asg"])[
            "AutoScalingGroups"
        ],
        "policies": asg.describe_policies(AutoScalingGroupName=f"{STACK}-asg")["ScalingPolicies"],
        "instances": [
            i
            for r in ec2.describe_instances(Filters=tags)["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ],
    }


@pytest.mark.emulator
def test_floor_creates_exactly_the_stack_and_deletes_all_of_it(aws_env: str) -> None:
    with counting_proxy(aws_env) as proxy:
        floor = Floor(proxy.endpoint)
        with proxy.phase() as create_calls:
            stack = floor.create(STACK, 2)
        held = stack_resources(aws_env)

        # -- exactly the stack's resources, wired as hastack wires them
        counts = {kind: len(items) for kind, items in held.items()}
        assert counts == {
            "vpcs": 1,
            "subnets": 4,
            "igws": 1,
            "route_tables": 3,
            "eips": 2,
            "nats": 2,
            "security_groups": 2,
            "load_balancers": 1,
            "listeners": 1,
            "target_groups": 1,
            "roles": 1,
            "profiles": 1,
            "launch_templates": 1,
            "groups": 1,
            "policies": 1,
            "instances": 2,
        }
        vpc_id = held["vpcs"][0]["VpcId"]
        assert held["igws"][0]["Attachments"] == [{"State": "available", "VpcId": vpc_id}]
        assert {s["AvailabilityZone"] for s in held["subnets"]} == {"us-east-1a", "us-east-1b"}
        nat_of_az = {
            s["AvailabilityZone"]: g["NatGatewayId"]
            for g in held["nats"]
            for s in held["subnets"]
            if s["SubnetId"] == g["SubnetId"]
        }
        assert sorted(nat_of_az) == ["us-east-1a", "us-east-1b"]
        default_routes = {
            r.get("NatGatewayId") or r.get("GatewayId")
            for t in held["route_tables"]
            for r in t["Routes"]
            if r.get("DestinationCidrBlock") == "0.0.0.0/0"
        }
        assert default_routes == {stack.igw_id, *stack.nat_ids}
        assert sum(len(t["Associations"]) for t in held["route_tables"]) == 4
        group = held["groups"][0]
        assert group["TargetGroupARNs"] == [held["target_groups"][0]["TargetGroupArn"]]
        assert group["LaunchTemplate"]["LaunchTemplateId"] == stack.launch_template_id
        assert held["listeners"][0]["DefaultActions"][0]["TargetGroupArn"] == stack.tg_arn
        assert held["policies"][0]["PolicyType"] == "TargetTrackingScaling"
        assert held["profiles"][0]["Roles"][0]["RoleName"] == f"{STACK}-app"
        # The proxy saw every call, and no describe beyond the few the floor needs.
        assert create_calls["ec2:CreateNatGateway"] == 2
        assert create_calls["autoscaling:CreateAutoScalingGroup"] == 1
        reads = [op for op in create_calls if ":Describe" in op or ":Get" in op]
        assert sorted(reads) == [
            "autoscaling:DescribeAutoScalingGroups",
            "ec2:DescribeNatGateways",
            "ec2:DescribeSecurityGroups",
            "ssm:GetParameter",
        ]

        with proxy.phase() as delete_calls:
            floor.delete(stack)

    # -- nothing left, and the parameter and the role are gone too
    left = {kind: items for kind, items in stack_resources(aws_env).items() if items}
    assert left == {}
    ssm = client("ssm", aws_env)
    assert ssm.get_parameters(Names=[stack.parameter_name])["InvalidParameters"] == [
        stack.parameter_name
    ]
    assert delete_calls["ec2:DeleteVpc"] == 1
    assert delete_calls["ec2:ReleaseAddress"] == 2


def _sample(tool: str, phase: str, azs: int, run: int, seconds: float, **kw: Any) -> Sample:
    calls = {"ec2:DescribeVpcs": 3 * azs} if tool == "hastack" else {"ec2:CreateVpc": 1}
    return Sample(tool, phase, azs, run, seconds, calls, kw.get("changed"))


def test_report_renders_tables_ratios_and_goals_from_a_fake_result() -> None:
    samples = []
    for azs, extra in ((2, 0.0), (3, 3.0)):
        for run, jitter in ((1, 0.0), (2, 1.0), (3, -1.0)):
            samples += [
                _sample("floor", "create", azs, run, 0.5),
                _sample("floor", "delete", azs, run, 0.25),
                _sample("hastack", "cold", azs, run, 20.0 + extra + jitter, changed=40),
                _sample("hastack", "noop", azs, run, 16.0, changed=0),
                _sample("hastack", "check", azs, run, 6.0, changed=0),
                _sample("hastack", "destroy", azs, run, 10.0, changed=30),
            ]
    summary = summarise(samples)
    two = summary["table"][2]
    assert (two["cold"]["median"], two["cold"]["min"], two["cold"]["max"]) == (20.0, 19.0, 21.0)
    assert two["cold"]["ratio"] == 40.0
    assert two["destroy"]["ratio"] == 40.0
    assert two["cold"]["calls"] == 6
    assert two["cold"]["floor_calls"] == 1
    assert summary["slope"] == pytest.approx(3.0)
    met = {g["phase"]: g["met"] for g in summary["goals"]}
    assert met == {
        "cold": True,
        "noop": False,
        "check": True,
        "destroy": True,
        "slope": False,
    }
    # The guard: 40x the floor breaks every ratio limit; no ratio without a floor.
    guards = {g["phase"]: (g["value"], g["met"]) for g in summary["guards"]}
    assert guards == {"cold": (40.0, False), "noop": (32.0, False), "destroy": (40.0, False)}
    fast = [
        s if s.tool == "floor" else Sample(s.tool, s.phase, s.azs, s.run, 4.0, s.calls, 0)
        for s in samples
    ]
    assert {g["phase"]: g["met"] for g in summarise(fast)["guards"]} == {
        "cold": True,  # 8x
        "noop": True,  # 8x, zero changes
        "destroy": False,  # 16x
    }
    assert summarise([s for s in samples if s.tool == "hastack"])["guards"][0]["met"] is None

    text = render(
        {
            "command": "bench/run --runs 3 --azs 2,3",
            "machine": {"CPU": "Test CPU", "cores": "2"},
            "summary": summary,
            "operations": operations_table(samples),
        }
    )
    assert "Generated by `bench/run --runs 3 --azs 2,3`" in text
    assert "| CPU | Test CPU |" in text
    assert "## 2 availability zones" in text
    assert "## 3 availability zones" in text
    assert "| cold deploy (site.yml) | 3 | 20.00 | 19.00 | 21.00 | 6 | 1 | 40x | 40 |" in text
    assert "| cold deploy (site.yml) | 3 | 23.00 | 22.00 | 24.00 | 9 | 1 | 46x | 40 |" in text
    assert "| destroy (destroy.yml) | 3 | 10.00 | 10.00 | 10.00 | 6 | 1 | 40x | 30 |" in text
    assert "| no-op re-deploy (site.yml), zero changes | <= 15 s | 16.0 s | **not met** |" in text
    assert "| each extra AZ adds to a cold deploy | <= 2 s/AZ | 3.0 s/AZ | **not met** |" in text
    assert "| ec2:DescribeVpcs |" in text
    assert "| cold deploy (site.yml) | <= 14x | 40.0x | **not met** |" in text
    assert "| no-op re-deploy (site.yml), zero changes | <= 10x | 32.0x | **not met** |" in text
