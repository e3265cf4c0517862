"""What a converged stack is, checked resource by resource on the emulator with boto3.

``assert_exact_stack`` proves a deploy built exactly the intended stack and nothing more:
every part in its place (routes, NAT per zone, targets registered, group sizes) and, counted
by kind, nothing extra tagged with the stack. ``account_snapshot`` lists every resource of the
account by kind, tagged or not, so a test can also prove that a run left nothing untagged
behind (a deploy killed between a create call and its tagging call would): the difference
between two snapshots must be exactly the stack.

Written apart from the product's hastack.stack.stack_info, as ``tests.support.stack_leftovers`` is.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.support import client, stack_leftovers, tags_of

# Kinds of the account that ``account_snapshot`` lists, whoever created them.
SNAPSHOT_KINDS = (
    "vpc",
    "subnet",
    "route-table",
    "igw",
    "nat",
    "eip",
    "sg",
    "instance",
    "launch-template",
    "load-balancer",
    "target-group",
    "asg",
    "scaling-policy",
    "alarm",
    "iam-role",
    "instance-profile",
)


def expected_kinds(azs: int = 2) -> Counter[str]:
    """What ``stack_leftovers`` lists for a converged stack with default settings, by kind."""
    return Counter(
        {
            "vpc": 1,
            "subnet": 2 * azs,
            "route-table": 1 + azs,  # one public, one private per zone (the main one is untagged)
            "igw": 1,
            "nat": azs,
            "eip": azs,
            "sg": 3,  # the VPC's default group (tagged, rules stripped), load balancer, app
            "instance": 2,
            "launch-template": 1,
            "elbv2": 2,  # load balancer and target group
            "asg": 1,
            "iam-role": 1,
            "instance-profile": 1,
            "ssm": 1,  # the generated Django secret key
        }
    )


def expected_new(azs: int = 2) -> Counter[str]:
    """What a deploy adds to the account, by ``account_snapshot`` kind."""
    return Counter(
        {
            "vpc": 1,
            "subnet": 2 * azs,
            "route-table": 2 + azs,  # with the VPC's main route table
            "igw": 1,
            "nat": azs,
            "eip": azs,
            "sg": 3,
            "instance": 2,
            "launch-template": 1,
            "load-balancer": 1,
            "target-group": 1,
            "asg": 1,
            "scaling-policy": 1,
            "iam-role": 1,
            "instance-profile": 1,
        }
    )


def account_snapshot(endpoint: str) -> dict[str, set[str]]:
    """Every resource of the account by kind (live ones only: no deleted NAT gateway, no
    terminated instance). Compare two snapshots to see what a run added or left behind.

    Network interfaces are left out: moto keeps a deleted NAT gateway's and a terminated
    instance's interfaces forever (AWS deletes them), even after their VPC is gone."""
    ec2 = client("ec2", endpoint)
    elbv2 = client("elbv2", endpoint)
    autoscaling = client("autoscaling", endpoint)
    iam = client("iam", endpoint)
    snap: dict[str, set[str]] = {
        "vpc": {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]},
        "subnet": {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]},
        "route-table": {r["RouteTableId"] for r in ec2.describe_route_tables()["RouteTables"]},
        "igw": {
            g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]
        },
        "nat": {
            n["NatGatewayId"]
            for n in ec2.describe_nat_gateways()["NatGateways"]
            if n["State"] != "deleted"
        },
        "eip": {a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]},
        "sg": {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]},
        "instance": {
            i["InstanceId"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        },
        "launch-template": {
            t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]
        },
        "load-balancer": {
            lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]
        },
        "target-group": {
            tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]
        },
        "asg": {
            g["AutoScalingGroupName"]
            for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
        },
        "scaling-policy": {
            p["PolicyARN"] for p in autoscaling.describe_policies()["ScalingPolicies"]
        },
        "alarm": {
            a["AlarmName"] for a in client("cloudwatch", endpoint).describe_alarms()["MetricAlarms"]
        },
        "iam-role": {r["RoleName"] for r in iam.list_roles()["Roles"]},
        "instance-profile": {
            p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]
        },
    }
    assert tuple(snap) == SNAPSHOT_KINDS
    return snap


def added(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, set[str]]:
    """What ``after`` holds that ``before`` did not, by kind (kinds with nothing new left out)."""
    return {kind: after[kind] - before[kind] for kind in after if after[kind] - before[kind]}


def _one(items: list[Any], what: str) -> Any:
    assert len(items) == 1, f"expected exactly one {what}, found {len(items)}: {items}"
    return items[0]


def assert_exact_stack(
    endpoint: str, stack: str, azs: int = 2, before: dict[str, set[str]] | None = None
) -> None:
    """Fail unless the emulator holds exactly the stack a default deploy of ``stack`` builds.

    With ``before`` (an ``account_snapshot`` taken before the stack existed), also fail if the
    account gained anything beyond it: an untagged orphan of an interrupted run, say.
    """
    ec2 = client("ec2", endpoint)
    elbv2 = client("elbv2", endpoint)
    autoscaling = client("autoscaling", endpoint)

    def mine(resource: dict[str, Any]) -> bool:
        return tags_of(resource).get("hastack:stack") == stack

    # -- nothing extra tagged with the stack, counted kind by kind
    kinds = Counter(item.split(" ", 1)[0] for item in stack_leftovers(endpoint, stack))
    assert kinds == expected_kinds(azs), (
        f"stack {stack} by kind: {dict(kinds)}, expected {dict(expected_kinds(azs))}"
    )

    # -- network: one VPC with its internet gateway attached
    vpc = _one([v for v in ec2.describe_vpcs()["Vpcs"] if mine(v)], "VPC")
    vpc_id = vpc["VpcId"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    igw = _one(
        ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])[
            "InternetGateways"
        ],
        "internet gateway attached to the VPC",
    )
    assert mine(igw), igw
    assert igw["Attachments"][0]["State"] == "available", igw

    subnets = ec2.describe_subnets(Filters=in_vpc)["Subnets"]
    assert len(subnets) == 2 * azs, subnets
    tier: dict[str, dict[str, str]] = {"public": {}, "private": {}}  # tier -> az -> subnet id
    for subnet in subnets:
        assert mine(subnet), subnet
        zones = tier[tags_of(subnet)["hastack:tier"]]
        assert subnet["AvailabilityZone"] not in zones, (
            f"two subnets of a tier in one zone: {subnets}"
        )
        zones[subnet["AvailabilityZone"]] = subnet["SubnetId"]
    assert len(tier["public"]) == len(tier["private"]) == azs, tier
    assert set(tier["public"]) == set(tier["private"]), tier

    # -- NAT gateways: one available per zone, in that zone's public subnet, each with its EIP
    nats = [
        n
        for n in ec2.describe_nat_gateways(Filters=in_vpc)["NatGateways"]
        if n["State"] != "deleted"
    ]
    assert len(nats) == azs, nats
    assert all(n["State"] == "available" and mine(n) for n in nats), nats
    nat_by_az: dict[str, str] = {}
    for az, subnet_id in tier["public"].items():
        nat = _one([n for n in nats if n["SubnetId"] == subnet_id], f"NAT gateway in {az}")
        nat_by_az[az] = nat["NatGatewayId"]
    stack_eips = {a["AllocationId"]: a for a in ec2.describe_addresses()["Addresses"] if mine(a)}
    nat_eips = {addr["AllocationId"] for n in nats for addr in n["NatGatewayAddresses"]}
    assert nat_eips == set(stack_eips), (nat_eips, set(stack_eips))
    assert len(nat_eips) == azs, nat_eips

    # -- route tables: the untouched main one, one public to the IGW, one private per zone to
    # that zone's NAT gateway
    tables = ec2.describe_route_tables(Filters=in_vpc)["RouteTables"]
    assert len(tables) == 2 + azs, tables

    def default_route(table: dict[str, Any]) -> dict[str, Any]:
        return _one(
            [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"],
            f"default route in {table['RouteTableId']}",
        )

    def subnets_of(table: dict[str, Any]) -> set[str]:
        return {a["SubnetId"] for a in table["Associations"] if a.get("SubnetId")}

    main = _one([t for t in tables if any(a.get("Main") for a in t["Associations"])], "main table")
    assert [r.get("GatewayId") for r in main["Routes"]] == ["local"], main
    public = _one([t for t in tables if tags_of(t).get("hastack:tier") == "public"], "public table")
    assert default_route(public).get("GatewayId") == igw["InternetGatewayId"], public
    assert subnets_of(public) == set(tier["public"].values()), public
    private = [t for t in tables if tags_of(t).get("hastack:tier") == "private"]
    assert len(private) == azs, private
    for az, subnet_id in tier["private"].items():
        table = _one([t for t in private if subnets_of(t) == {subnet_id}], f"private table {az}")
        assert default_route(table).get("NatGatewayId") == nat_by_az[az], (az, table)

    # -- load balancer with one listener forwarding to the one target group
    lb = _one(
        elbv2.describe_load_balancers(Names=[f"{stack}-alb"])["LoadBalancers"], "load balancer"
    )
    assert lb["State"]["Code"] == "active", lb
    assert lb["VpcId"] == vpc_id, lb
    assert {z["SubnetId"] for z in lb["AvailabilityZones"]} == set(tier["public"].values()), lb
    listener = _one(
        elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"], "listener"
    )
    tg = _one(elbv2.describe_target_groups(Names=[f"{stack}-tg"])["TargetGroups"], "target group")
    assert listener["DefaultActions"][0]["TargetGroupArn"] == tg["TargetGroupArn"], listener

    # -- launch template, Auto Scaling group at 1/2/5 with 2 instances in service, registered
    template = _one(
        [
            t
            for t in ec2.describe_launch_templates()["LaunchTemplates"]
            if t["LaunchTemplateName"] == f"{stack}-app"
        ],
        "launch template",
    )
    group = _one(
        [g for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"] if mine(g)],
        "Auto Scaling group",
    )
    assert group["AutoScalingGroupName"] == f"{stack}-asg", group
    sizes = (group["MinSize"], group["DesiredCapacity"], group["MaxSize"])
    assert sizes == (1, 2, 5), f"min/desired/max {sizes}"
    assert group["LaunchTemplate"]["LaunchTemplateId"] == template["LaunchTemplateId"], group
    assert group["TargetGroupARNs"] == [tg["TargetGroupArn"]], group
    in_service = {i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"}
    assert len(in_service) == 2 == len(group["Instances"]), group["Instances"]
    targets = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
    registered = {t["Target"]["Id"] for t in targets["TargetHealthDescriptions"]}
    assert registered == in_service, f"registered {registered}, in service {in_service}"
    running = {
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=[{"Name": "tag:hastack:stack", "Values": [stack]}])[
            "Reservations"
        ]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated" and mine(i)
    }
    assert running == in_service, f"stack instances {running}, group's {in_service}"

    # -- the scaling policy, and no alarm (step alarms are off by default)
    policies = autoscaling.describe_policies(AutoScalingGroupName=f"{stack}-asg")["ScalingPolicies"]
    assert [(p["PolicyName"], p["PolicyType"]) for p in policies] == [
        (f"{stack}-cpu-target", "TargetTrackingScaling")
    ], policies

    # -- and the account gained nothing else, tagged or not
    if before is not None:
        new = added(before, account_snapshot(endpoint))
        counts = Counter({kind: len(ids) for kind, ids in new.items()})
        assert counts == expected_new(azs), (
            f"the account gained {dict(counts)}, expected {dict(expected_new(azs))}: {new}"
        )
