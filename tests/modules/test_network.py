"""The vpc role's one module call (hastack.stack.network) on the emulator, and its retries on stubs.

The role is run as site.yml runs it (``--tags vpc``: preflight, then the vpc role), through a
forwarding proxy that records every API call. What the emulator holds afterwards is checked
with boto3, apart from what the role printed: one VPC, a subnet per zone and tier, the route
tables with their routes and associations, the gateway attached, the default group empty.
A second run must make Describe calls only; a --check run on a network broken by hand must
say what it would change without a single mutating call; a normal run then repairs it.

The emulator cannot answer like a busy or eventually consistent AWS, so the last tests drive
the module's code with botocore's Stubber (as test_vpc_teardown.py does).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import (
    RetryingBotoClientWrapper,
)
from botocore.stub import Stubber

from tests.support import (
    REGION,
    PlaybookRun,
    client,
    load_source,
    recording_proxy,
    run_playbook,
    tag_filter,
    tags_of,
)

BUILD_TASK = "present | Build the network"
RESULT_KEYS = {
    "vpc_id",
    "cidr_block",
    "azs",
    "igw_id",
    "public_route_table_id",
    "public_subnets",
    "private_subnets",
    "public_subnet_ids",
    "private_subnet_ids",
    "private_route_tables",
}
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]


# -- driving the role ------------------------------------------------------------------------


def converge(
    endpoint: str, stack: str, zones: int, *, check: bool = False
) -> tuple[PlaybookRun, list[tuple[str, str]]]:
    """Run the vpc role as site.yml does, through a recording proxy: (run, EC2 calls)."""
    args = ["--tags", "vpc"] + (["--check", "--diff"] if check else [])
    with recording_proxy(endpoint) as (proxy, calls):
        run = run_playbook(
            "site.yml",
            extra_vars={"stack_name": stack, "vpc_az_count": zones},
            env={"AWS_ENDPOINT_URL": proxy},
            args=args,
        )
    assert run.rc == 0, run.failures() or run.stderr[-3000:]
    return run, [op for service, op in calls if service == "ec2"]


def destroy(stack: str) -> None:
    run = run_playbook("destroy.yml", extra_vars={"stack_name": stack}, args=["--tags", "vpc"])
    assert run.rc == 0, run.failures() or run.stderr[-3000:]


def task_result(run: PlaybookRun, name: str) -> dict[str, Any]:
    for play in run.data.get("plays", []):
        for task in play["tasks"]:
            if task["task"]["name"].removeprefix("hastack.stack.vpc : ").startswith(name):
                return task["hosts"]["localhost"]
    raise AssertionError(f"no task {name!r} in {run.ran_tasks()}")


def vpc_result(run: PlaybookRun) -> dict[str, Any]:
    return task_result(run, "present | Publish the network")["ansible_facts"]["vpc_result"]


def vpc_changes(run: PlaybookRun) -> list[str]:
    """The vpc role's changed tasks, without the role prefix and the task name's tail."""
    return [
        t.removeprefix("hastack.stack.vpc : ").split(" (")[0]
        for t in run.changed_tasks()
        if t.startswith("hastack.stack.vpc : ")
    ]


def mutating(calls: list[str]) -> list[str]:
    return [op for op in calls if not op.startswith("Describe")]


# -- what the emulator holds -----------------------------------------------------------------


def snapshot(endpoint: str, stack: str) -> dict[str, Any]:
    """Everything of the stack's network the emulator holds, as boto3 returns it."""
    ec2 = client("ec2", endpoint)
    vpcs = ec2.describe_vpcs(Filters=tag_filter(stack))["Vpcs"]
    assert len(vpcs) == 1, [v["VpcId"] for v in vpcs]
    vpc_id = vpcs[0]["VpcId"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    return {
        "vpc": vpcs[0],
        "dns": {
            attr: ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attr)[
                attr[0].upper() + attr[1:]
            ]["Value"]
            for attr in ("enableDnsSupport", "enableDnsHostnames")
        },
        "subnets": sorted(
            ec2.describe_subnets(Filters=in_vpc)["Subnets"], key=lambda s: s["CidrBlock"]
        ),
        "route_tables": sorted(
            ec2.describe_route_tables(Filters=in_vpc)["RouteTables"],
            key=lambda t: t["RouteTableId"],
        ),
        "igws": ec2.describe_internet_gateways(Filters=tag_filter(stack))["InternetGateways"],
        "default_sg": ec2.describe_security_groups(
            Filters=[*in_vpc, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"][0],
    }


def by_name(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {tags_of(r)["Name"]: r for r in resources if "Name" in tags_of(r)}


def assert_network(net: dict[str, Any], stack: str, zones: int) -> None:
    """The stack's network is exactly what the vpc role promises for ``zones`` zones."""
    stack_tags = {
        "hastack:stack": stack,
        "hastack:environment": "local",
        "hastack:managed-by": "hastack",
    }
    azs = ZONES[:zones]
    vpc = net["vpc"]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert tags_of(vpc) == {**stack_tags, "Name": f"{stack}-vpc"}
    assert net["dns"] == {"enableDnsSupport": True, "enableDnsHostnames": True}

    subnets = by_name(net["subnets"])
    assert len(net["subnets"]) == 2 * zones
    for index, az in enumerate(azs):
        for tier, cidr in (
            ("public", f"10.0.{1 + index}.0/24"),
            ("private", f"10.0.{11 + index}.0/24"),
        ):
            subnet = subnets[f"{stack}-{tier}-{az}"]
            assert subnet["CidrBlock"] == cidr
            assert subnet["AvailabilityZone"] == az
            assert subnet["MapPublicIpOnLaunch"] is False
            assert tags_of(subnet) == {
                **stack_tags,
                "Name": f"{stack}-{tier}-{az}",
                "hastack:tier": tier,
            }

    [igw] = net["igws"]
    assert igw["Attachments"] == [{"State": "available", "VpcId": vpc["VpcId"]}]
    assert tags_of(igw) == {**stack_tags, "Name": f"{stack}-igw"}

    tables = by_name(net["route_tables"])
    assert len(net["route_tables"]) == 1 + 1 + zones  # the main table, public, one per zone
    public = tables[f"{stack}-public"]
    assert tags_of(public) == {**stack_tags, "Name": f"{stack}-public", "hastack:tier": "public"}
    assert sorted((r["DestinationCidrBlock"], r["GatewayId"]) for r in public["Routes"]) == [
        ("0.0.0.0/0", igw["InternetGatewayId"]),
        ("10.0.0.0/16", "local"),
    ]
    assert sorted(a["SubnetId"] for a in public["Associations"]) == sorted(
        subnets[f"{stack}-public-{az}"]["SubnetId"] for az in azs
    )
    for az in azs:
        table = tables[f"{stack}-private-{az}"]
        assert tags_of(table) == {
            **stack_tags,
            "Name": f"{stack}-private-{az}",
            "hastack:tier": "private",
            "hastack:az": az,
        }
        assert [a["SubnetId"] for a in table["Associations"]] == [
            subnets[f"{stack}-private-{az}"]["SubnetId"]
        ]
    main = [t for t in net["route_tables"] if any(a.get("Main") for a in t["Associations"])]
    assert len(main) == 1
    assert [a for a in main[0]["Associations"] if not a.get("Main")] == []

    sg = net["default_sg"]
    assert sg["IpPermissions"] == []
    assert sg["IpPermissionsEgress"] == []
    assert tags_of(sg) == {**stack_tags, "Name": f"{stack}-default"}


def assert_published(result: dict[str, Any], net: dict[str, Any], stack: str, zones: int) -> None:
    """vpc_result has the shape the other roles read, and says what the emulator holds."""
    assert set(result) == RESULT_KEYS
    azs = ZONES[:zones]
    subnets = by_name(net["subnets"])
    tables = by_name(net["route_tables"])
    assert result["vpc_id"] == net["vpc"]["VpcId"]
    assert result["cidr_block"] == "10.0.0.0/16"
    assert result["azs"] == azs
    assert result["igw_id"] == net["igws"][0]["InternetGatewayId"]
    assert result["public_route_table_id"] == tables[f"{stack}-public"]["RouteTableId"]
    for tier in ("public", "private"):
        expected = [
            {
                "id": subnets[f"{stack}-{tier}-{az}"]["SubnetId"],
                "az": az,
                "cidr": subnets[f"{stack}-{tier}-{az}"]["CidrBlock"],
            }
            for az in azs
        ]
        assert result[f"{tier}_subnets"] == expected
        assert result[f"{tier}_subnet_ids"] == [s["id"] for s in expected]
    assert result["private_route_tables"] == [
        {
            "id": tables[f"{stack}-private-{az}"]["RouteTableId"],
            "az": az,
            "subnet_id": subnets[f"{stack}-private-{az}"]["SubnetId"],
        }
        for az in azs
    ]


# -- on the emulator -------------------------------------------------------------------------


@pytest.mark.emulator
@pytest.mark.parametrize("zones", [2, 3])
def test_cold_deploy_then_a_second_run_only_reads(aws_env: str, zones: int) -> None:
    stack = f"netmod-{zones}az"
    try:
        run, calls = converge(aws_env, stack, zones)
        assert vpc_changes(run) == [BUILD_TASK]
        net = snapshot(aws_env, stack)
        assert_network(net, stack, zones)
        assert_published(vpc_result(run), net, stack, zones)
        # Created with their tags: no CreateTags except the default group's (AWS makes it).
        made = Counter(mutating(calls))
        assert made["CreateVpc"] == 1
        assert made["CreateSubnet"] == 2 * zones
        assert made["CreateRouteTable"] == 1 + zones
        assert made["AssociateRouteTable"] == 2 * zones
        assert made["CreateTags"] == 1

        # -- a second run: changed=0, and only one Describe call per kind of resource
        again, calls = converge(aws_env, stack, zones)
        assert again.changed == 0, again.changed_tasks()
        assert mutating(calls) == [], calls
        read = Counter(calls)
        assert read["DescribeSubnets"] == 1
        assert read["DescribeRouteTables"] == 1
        assert read["DescribeSecurityGroups"] == 1
        assert read["DescribeInternetGateways"] == 1
        assert len(calls) <= 8, calls
        assert snapshot(aws_env, stack) == net
        assert vpc_result(again) == vpc_result(run)

        # -- and a dry run of a deployed network sees no drift either
        plan, calls = converge(aws_env, stack, zones, check=True)
        assert plan.changed == 0, plan.changed_tasks()
        assert mutating(calls) == []
        assert vpc_result(plan) == vpc_result(run)
    finally:
        destroy(stack)


@pytest.mark.emulator
def test_drift_is_reported_by_check_mode_then_repaired(aws_env: str) -> None:
    stack = "netmod-drift"
    ec2 = client("ec2", aws_env)
    try:
        deployed, _ = converge(aws_env, stack, 2)
        good = snapshot(aws_env, stack)
        subnets = by_name(good["subnets"])
        tables = by_name(good["route_tables"])
        public = tables[f"{stack}-public"]["RouteTableId"]
        private_a = tables[f"{stack}-private-us-east-1a"]
        private_b = tables[f"{stack}-private-us-east-1b"]["RouteTableId"]
        igw = good["igws"][0]["InternetGatewayId"]
        sg = good["default_sg"]["GroupId"]
        # The nat role's default route in a private table (an IGW stands in for the NAT).
        ec2.create_route(RouteTableId=private_b, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)

        # -- broken by hand
        ec2.delete_route(RouteTableId=public, DestinationCidrBlock="0.0.0.0/0")
        ec2.create_route(RouteTableId=public, DestinationCidrBlock="192.168.0.0/16", GatewayId=igw)
        ec2.disassociate_route_table(
            AssociationId=private_a["Associations"][0]["RouteTableAssociationId"]
        )
        moved = subnets[f"{stack}-public-us-east-1b"]["SubnetId"]
        association = next(
            a["RouteTableAssociationId"]
            for a in tables[f"{stack}-public"]["Associations"]
            if a["SubnetId"] == moved
        )
        ec2.replace_route_table_association(AssociationId=association, RouteTableId=private_b)
        ec2.authorize_security_group_ingress(
            GroupId=sg,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                },
                {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": sg}]},
            ],
        )
        private_subnet_a = subnets[f"{stack}-private-us-east-1a"]["SubnetId"]
        ec2.modify_subnet_attribute(SubnetId=private_subnet_a, MapPublicIpOnLaunch={"Value": True})
        ec2.delete_tags(Resources=[private_subnet_a], Tags=[{"Key": "hastack:tier"}])
        ec2.create_tags(Resources=[public], Tags=[{"Key": "owner", "Value": "someone"}])
        ec2.modify_vpc_attribute(VpcId=good["vpc"]["VpcId"], EnableDnsHostnames={"Value": False})
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=good["vpc"]["VpcId"])
        broken = snapshot(aws_env, stack)

        # -- the dry run says what it would change, and changes nothing
        plan, calls = converge(aws_env, stack, 2, check=True)
        assert mutating(calls) == [], calls
        assert snapshot(aws_env, stack) == broken
        assert vpc_changes(plan) == [BUILD_TASK]
        result = task_result(plan, BUILD_TASK)
        changes = "\n".join(result["changes"])
        for expected in (
            f"attach internet gateway {igw}",
            f"add route 0.0.0.0/0 -> {igw} to {public}",
            f"delete route 192.168.0.0/16 -> {igw} from {public}",
            f"associate {private_a['Associations'][0]['SubnetId']}",
            f"move {moved} ({stack}-public-us-east-1b) from route table {private_b} to {public}",
            f"revoke the ingress rules of {sg}",
            f"set map-public-ip-on-launch false on {private_subnet_a}",
            f"tag {private_subnet_a} ({stack}-private-us-east-1a): set hastack:tier=private",
            f"tag {public} ({stack}-public): remove owner",
            "enable DNS hostnames",
        ):
            assert expected in changes, changes
        assert "private-us-east-1b): " not in changes  # the nat role's route is not drift
        assert result["diff"]["before"] != result["diff"]["after"]
        assert result["diff"]["after"]["route_tables"][f"{stack}-public"]["routes"] == [
            f"0.0.0.0/0 -> {igw}"
        ]
        assert vpc_result(plan) == vpc_result(deployed)

        # -- a normal run repairs it all, keeping every resource (the gateway re-attached)
        repaired, calls = converge(aws_env, stack, 2)
        assert "AttachInternetGateway" in calls
        assert "CreateInternetGateway" not in calls
        made = Counter(mutating(calls))
        assert (made["CreateTags"], made["DeleteTags"]) == (1, 1)
        net = snapshot(aws_env, stack)
        nat_route = [
            r
            for r in by_name(net["route_tables"])[f"{stack}-private-us-east-1b"]["Routes"]
            if r["DestinationCidrBlock"] == "0.0.0.0/0"
        ]
        assert [r["GatewayId"] for r in nat_route] == [igw]
        ec2.delete_route(RouteTableId=private_b, DestinationCidrBlock="0.0.0.0/0")
        net = snapshot(aws_env, stack)
        assert_network(net, stack, 2)
        assert vpc_result(repaired) == vpc_result(deployed)

        plan, calls = converge(aws_env, stack, 2, check=True)
        assert plan.changed == 0, plan.changed_tasks()

        # -- a third zone: only its subnets and table are added, the others are kept
        grown, calls = converge(aws_env, stack, 3)
        net = snapshot(aws_env, stack)
        assert_network(net, stack, 3)
        assert_published(vpc_result(grown), net, stack, 3)
        assert vpc_result(grown)["public_subnets"][:2] == vpc_result(deployed)["public_subnets"]
        assert Counter(mutating(calls)) == Counter(
            {"CreateSubnet": 2, "CreateRouteTable": 1, "AssociateRouteTable": 2}
        )
    finally:
        destroy(stack)


@pytest.mark.emulator
@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        (
            {"vpc_azs": ["us-east-1a", "us-east-1z"]},
            'vpc_azs: ["us-east-1z"] not available in us-east-1; available zones: '
            "us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1e, us-east-1f.",
        ),
        (
            {"vpc_az_count": 7},
            "vpc_az_count: 7 zones requested but us-east-1 has 6 available (us-east-1a, "
            "us-east-1b, us-east-1c, us-east-1d, us-east-1e, us-east-1f).",
        ),
    ],
    ids=["zone-not-in-region", "more-zones-than-the-region"],
)
def test_missing_zones_fail_before_any_change(
    aws_env: str, extra_vars: dict[str, Any], message: str
) -> None:
    with recording_proxy(aws_env) as (proxy, calls):
        run = run_playbook(
            "site.yml",
            extra_vars={"stack_name": "netmod-zones", **extra_vars},
            env={"AWS_ENDPOINT_URL": proxy},
            args=["--tags", "vpc"],
        )
    assert run.rc != 0
    assert [m for _, m in run.failures()] == [message]
    assert [op for _, op in calls if not op.startswith(("Describe", "GetCallerIdentity"))] == []


@pytest.mark.emulator
def test_layouts_the_live_network_cannot_take_fail_before_any_change(aws_env: str) -> None:
    stack = "netmod-layout"
    try:
        converge(aws_env, stack, 2)
        net = snapshot(aws_env, stack)
        for extra_vars, expected in (
            (
                {"vpc_cidr_block": "10.1.0.0/16"},
                "vpc_cidr_block: the stack's VPC {vpc} has the CIDR 10.0.0.0/16, not 10.1.0.0/16",
            ),
            (
                {"vpc_azs": ["us-east-1b", "us-east-1a"]},
                "vpc_public_subnet_cidrs: subnet {public_a} (10.0.1.0/24) of the stack's VPC is "
                "in us-east-1a, but this run puts 10.0.1.0/24 in us-east-1b",
            ),
        ):
            with recording_proxy(aws_env) as (proxy, calls):
                run = run_playbook(
                    "site.yml",
                    extra_vars={"stack_name": stack, **extra_vars},
                    env={"AWS_ENDPOINT_URL": proxy},
                    args=["--tags", "vpc"],
                )
            assert run.rc != 0
            message = " ".join(m for _, m in run.failures())
            assert (
                expected.format(
                    vpc=net["vpc"]["VpcId"],
                    public_a=by_name(net["subnets"])[f"{stack}-public-us-east-1a"]["SubnetId"],
                )
                in message
            ), message
            reads = ("Describe", "GetCallerIdentity")
            assert [op for _, op in calls if not op.startswith(reads)] == []
            assert snapshot(aws_env, stack) == net
    finally:
        destroy(stack)


# -- on stubs: throttling and eventual consistency --------------------------------------------


def load_module() -> Any:
    return load_source("plugins/modules/network.py")


class Failed(Exception):
    pass


class FakeModule:
    """What Network uses of AnsibleAWSModule."""

    def __init__(self, ec2: Any, check_mode: bool = False) -> None:
        self._client = ec2
        self.check_mode = check_mode
        self._diff = False
        self.region = REGION
        self.params = {
            "stack_name": "stub",
            "tags": {"hastack:stack": "stub"},
            "cidr_block": "10.0.0.0/16",
            "azs": [],
            "az_count": 2,
            "public_subnet_cidrs": ["10.0.1.0/24", "10.0.2.0/24"],
            "private_subnet_cidrs": ["10.0.11.0/24", "10.0.12.0/24"],
            "map_public_ip": False,
        }

    def client(self, _service: str, retry_decorator: Any) -> Any:
        return RetryingBotoClientWrapper(self._client, retry_decorator)

    def fail_json(self, msg: str, **_: Any) -> None:
        raise Failed(msg)

    def fail_json_aws(self, error: Exception, msg: str, **_: Any) -> None:
        raise Failed(f"{msg}: {error}")


def error(stub: Stubber, operation: str, code: str, status: int = 400) -> None:
    stub.add_client_error(operation, service_error_code=code, http_status_code=status)


def test_cold_build_waits_out_throttling_and_not_yet_visible_resources(
    ec2: Any, no_sleep: list[float]
) -> None:
    network_module = load_module()
    network_module.Network.read_workers = 1  # the stub answers in order
    zones = {"AvailabilityZones": [{"ZoneName": z, "State": "available"} for z in ZONES[:3]]}
    with Stubber(ec2) as stub:
        error(stub, "describe_availability_zones", "RequestLimitExceeded")
        stub.add_response("describe_availability_zones", zones)
        stub.add_response("describe_vpcs", {"Vpcs": []})
        stub.add_response("create_vpc", {"Vpc": {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}})
        error(stub, "modify_vpc_attribute", "InvalidVpcID.NotFound")  # not visible yet
        stub.add_response("modify_vpc_attribute", {})
        stub.add_response("describe_internet_gateways", {"InternetGateways": []})
        stub.add_response(
            "create_internet_gateway", {"InternetGateway": {"InternetGatewayId": "igw-1"}}
        )
        error(stub, "attach_internet_gateway", "InvalidInternetGatewayID.NotFound")
        stub.add_response("attach_internet_gateway", {})
        for n in range(4):
            stub.add_response("create_subnet", {"Subnet": {"SubnetId": f"subnet-{n}"}})
        stub.add_response("create_route_table", {"RouteTable": {"RouteTableId": "rtb-pub"}})
        error(stub, "create_route", "InternalError", 500)
        stub.add_response("create_route", {"Return": True})
        stub.add_response("create_route_table", {"RouteTable": {"RouteTableId": "rtb-a"}})
        stub.add_response("create_route_table", {"RouteTable": {"RouteTableId": "rtb-b"}})
        error(stub, "associate_route_table", "InvalidSubnetID.NotFound")
        for n in range(4):
            stub.add_response("associate_route_table", {"AssociationId": f"rtbassoc-{n}"})
        stub.add_response("describe_security_groups", {"SecurityGroups": []})  # not listed yet
        stub.add_response(
            "describe_security_groups",
            {
                "SecurityGroups": [
                    {
                        "GroupId": "sg-1",
                        "GroupName": "default",
                        "IpPermissions": [
                            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-1"}]}
                        ],
                        "IpPermissionsEgress": [
                            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
                        ],
                    }
                ]
            },
        )
        stub.add_response(
            "revoke_security_group_ingress",
            {"Return": True},
            {
                "GroupId": "sg-1",
                "IpPermissions": [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-1"}]}],
            },
        )
        stub.add_response("revoke_security_group_egress", {"Return": True})
        stub.add_response(
            "create_tags",
            {},
            {
                "Resources": ["sg-1"],
                "Tags": [
                    {"Key": "Name", "Value": "stub-default"},
                    {"Key": "hastack:stack", "Value": "stub"},
                ],
            },
        )
        result = network_module.Network(FakeModule(ec2)).run()
        stub.assert_no_pending_responses()
    assert result["changed"]
    assert result["network"]["vpc_id"] == "vpc-1"
    assert result["network"]["azs"] == ZONES[:2]
    assert result["network"]["private_route_tables"] == [
        {"id": "rtb-a", "az": "us-east-1a", "subnet_id": "subnet-2"},
        {"id": "rtb-b", "az": "us-east-1b", "subnet_id": "subnet-3"},
    ]
    # Six retries (throttled, 5xx, three not-yet-visible, the group not listed), each a pause.
    assert len(no_sleep) == 6


def test_not_found_on_a_resource_this_run_did_not_create_is_not_retried(
    ec2: Any, no_sleep: list[float]
) -> None:
    network_module = load_module()
    network = network_module.Network(FakeModule(ec2))
    with Stubber(ec2) as stub:
        error(stub, "delete_route", "InvalidRouteTableID.NotFound")
        with pytest.raises(Failed, match="Failed to delete a route"):
            network.call(
                "delete a route",
                "delete_route",
                ("rtb-old",),
                RouteTableId="rtb-old",
                DestinationCidrBlock="192.168.0.0/16",
            )
    assert no_sleep == []


def test_check_mode_on_an_empty_region_only_reads(ec2: Any) -> None:
    network_module = load_module()
    network_module.Network.read_workers = 1
    with Stubber(ec2) as stub:  # any call not listed here fails the test
        stub.add_response(
            "describe_availability_zones",
            {"AvailabilityZones": [{"ZoneName": z} for z in ZONES[:2]]},
        )
        stub.add_response("describe_vpcs", {"Vpcs": []})
        stub.add_response("describe_internet_gateways", {"InternetGateways": []})
        result = network_module.Network(FakeModule(ec2, check_mode=True)).run()
        stub.assert_no_pending_responses()
    assert result["changed"]
    assert result["changes"][0] == "create VPC stub-vpc (10.0.0.0/16)"
    assert result["network"]["vpc_id"] is None
    assert result["network"]["public_subnet_ids"] == [None, None]
    assert result["network"]["azs"] == ZONES[:2]
