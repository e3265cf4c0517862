"""The network tier deployed by site.yml into the embedded emulator, checked by what it holds.

One stack goes through its life (deploy, re-deploy with no change, NAT mode switches, destroy)
while a neighbouring stack in the same region must come through untouched.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import PlaybookRun, client, run_playbook, tag_filter, tags_of

pytestmark = pytest.mark.emulator

MAIN = "net-main"
NEIGHBOUR = "net-neighbour"


def deploy(stack: str, **extra: Any) -> PlaybookRun:
    run = run_playbook("site.yml", extra_vars={"stack_name": stack, **extra})
    assert run.rc == 0, run.failures() or run.stderr[-3000:]
    return run


def destroy(stack: str) -> PlaybookRun:
    run = run_playbook("destroy.yml", extra_vars={"stack_name": stack})
    assert run.rc == 0, run.failures() or run.stderr[-3000:]
    return run


def network(endpoint: str, stack: str) -> dict[str, Any]:
    """What the emulator holds for ``stack``: VPCs, subnets, route tables, NATs, EIPs."""
    ec2 = client("ec2", endpoint)
    vpcs = ec2.describe_vpcs(Filters=tag_filter(stack))["Vpcs"]
    vpc_ids = [v["VpcId"] for v in vpcs]
    in_vpc = [{"Name": "vpc-id", "Values": vpc_ids}]
    return {
        "vpcs": vpcs,
        "subnets": ec2.describe_subnets(Filters=in_vpc)["Subnets"] if vpc_ids else [],
        "route_tables": ec2.describe_route_tables(Filters=in_vpc)["RouteTables"] if vpc_ids else [],
        "igws": ec2.describe_internet_gateways(Filters=tag_filter(stack))["InternetGateways"],
        "nats": [
            n
            for n in ec2.describe_nat_gateways(Filters=tag_filter(stack))["NatGateways"]
            # moto ignores tag filters on NAT gateways: check the tag here too
            if n["State"] in ("pending", "available") and tags_of(n).get("hastack:stack") == stack
        ],
        "eips": ec2.describe_addresses(Filters=tag_filter(stack))["Addresses"],
        "default_sgs": ec2.describe_security_groups(
            Filters=[*in_vpc, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
        if vpc_ids
        else [],
    }


def tier(net: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [s for s in net["subnets"] if tags_of(s).get("hastack:tier") == name]


def default_route(net: dict[str, Any], subnet_id: str) -> dict[str, Any] | None:
    for rt in net["route_tables"]:
        if any(a.get("SubnetId") == subnet_id for a in rt["Associations"]):
            return next(
                (r for r in rt["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None
            )
    raise AssertionError(f"{subnet_id} has no route table of its own")


def nat_az(net: dict[str, Any], nat_id: str) -> str:
    subnet_az = {s["SubnetId"]: s["AvailabilityZone"] for s in net["subnets"]}
    return next(subnet_az[n["SubnetId"]] for n in net["nats"] if n["NatGatewayId"] == nat_id)


def test_network_lifecycle_leaves_the_neighbour_alone(aws_env: str) -> None:
    # -- a neighbour in the same region, with the single-NAT layout of dev
    deploy(NEIGHBOUR, vpc_cidr_block="10.50.0.0/16", nat_mode="single")
    neighbour_before = network(aws_env, NEIGHBOUR)
    assert len(neighbour_before["nats"]) == 1

    # -- per_az over three zones
    deploy(MAIN, vpc_az_count=3, nat_mode="per_az")
    net = network(aws_env, MAIN)
    assert len(net["vpcs"]) == 1
    vpc = net["vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert tags_of(vpc)["hastack:stack"] == MAIN
    assert tags_of(vpc)["hastack:managed-by"] == "hastack"
    assert tags_of(vpc)["hastack:environment"] == "local"
    public, private = tier(net, "public"), tier(net, "private")
    assert sorted(s["CidrBlock"] for s in public) == ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]
    assert sorted(s["CidrBlock"] for s in private) == [
        "10.0.11.0/24",
        "10.0.12.0/24",
        "10.0.13.0/24",
    ]
    assert len({s["AvailabilityZone"] for s in public}) == 3
    assert {s["AvailabilityZone"] for s in private} == {s["AvailabilityZone"] for s in public}
    assert not any(s["MapPublicIpOnLaunch"] for s in private)
    assert all(tags_of(s)["hastack:stack"] == MAIN for s in net["subnets"])
    # public subnets go to the IGW, private ones each to the NAT in their own zone
    igw_id = net["igws"][0]["InternetGatewayId"]
    assert all(default_route(net, s["SubnetId"])["GatewayId"] == igw_id for s in public)
    assert len(net["nats"]) == 3
    assert len(net["eips"]) == 3
    assert {n["SubnetId"] for n in net["nats"]} == {s["SubnetId"] for s in public}
    for subnet in private:
        route = default_route(net, subnet["SubnetId"])
        assert route is not None, f"{subnet['SubnetId']} has no default route"
        assert nat_az(net, route["NatGatewayId"]) == subnet["AvailabilityZone"]
    # the VPC's default security group is left with no rules
    assert net["default_sgs"][0]["IpPermissions"] == []
    assert net["default_sgs"][0]["IpPermissionsEgress"] == []

    # -- a second run changes nothing, and makes no second NAT or EIP
    again = deploy(MAIN, vpc_az_count=3, nat_mode="per_az")
    assert again.changed == 0, again.changed_tasks()
    rerun = network(aws_env, MAIN)
    assert sorted(n["NatGatewayId"] for n in rerun["nats"]) == sorted(
        n["NatGatewayId"] for n in net["nats"]
    )
    assert len(rerun["eips"]) == 3

    # -- per_az -> single: one NAT serves every zone, the others and their EIPs are gone
    deploy(MAIN, vpc_az_count=3, nat_mode="single")
    single = network(aws_env, MAIN)
    assert len(single["nats"]) == 1
    assert len(single["eips"]) == 1
    only_nat = single["nats"][0]["NatGatewayId"]
    assert all(
        default_route(single, s["SubnetId"])["NatGatewayId"] == only_nat
        for s in tier(single, "private")
    )

    # -- single -> none: no NAT, no EIP, no default route out of the private subnets
    deploy(MAIN, vpc_az_count=3, nat_mode="none")
    none = network(aws_env, MAIN)
    assert none["nats"] == []
    assert none["eips"] == []
    assert all(default_route(none, s["SubnetId"]) is None for s in tier(none, "private"))

    # -- destroy: nothing of the stack is left, the neighbour is exactly as it was
    destroy(MAIN)
    gone = network(aws_env, MAIN)
    assert gone["vpcs"] == []
    assert gone["igws"] == []
    assert gone["nats"] == []
    assert gone["eips"] == []
    neighbour_after = network(aws_env, NEIGHBOUR)
    for key in ("vpcs", "subnets", "nats", "eips", "igws"):
        assert len(neighbour_after[key]) == len(neighbour_before[key]), key
    assert [n["NatGatewayId"] for n in neighbour_after["nats"]] == [
        n["NatGatewayId"] for n in neighbour_before["nats"]
    ]

    # -- destroying twice is harmless
    destroy(MAIN)
    destroy(NEIGHBOUR)
    assert network(aws_env, NEIGHBOUR)["vpcs"] == []


def test_zone_missing_from_the_region_fails_before_anything_is_created(aws_env: str) -> None:
    run = run_playbook(
        "site.yml",
        extra_vars={"stack_name": "net-badzone", "vpc_azs": ["us-east-1a", "us-east-1z"]},
    )
    assert run.rc != 0
    messages = " ".join(m for _, m in run.failures())
    assert "vpc_azs" in messages, messages
    assert "us-east-1z" in messages, messages
    assert network(aws_env, "net-badzone")["vpcs"] == []


def test_more_zones_than_the_region_has_fails_before_anything_is_created(aws_env: str) -> None:
    run = run_playbook("site.yml", extra_vars={"stack_name": "net-toomany", "vpc_az_count": 8})
    assert run.rc != 0
    messages = " ".join(m for _, m in run.failures())
    assert "vpc_az_count: 8" in messages, messages
    assert network(aws_env, "net-toomany")["vpcs"] == []
