"""The nat role's one module call (plugins/modules/nat_gateways.py), on the emulator.

Exactly one NAT gateway and one Elastic IP per zone, whatever happened before: a first build
on two or three zones, a re-run (Describe calls only), answers lost on the way back (a proxy
that forwards the request and drops the answer), throttling and 5xx answers, a gateway
deleted by hand, a mode switch, a dry run on drift, and the removal.

moto does NOT honour CreateNatGateway's ClientToken (moto/ec2/responses/nat_gateways.py never
reads it). A second identical request is refused there only because the Elastic IP is already
associated with the first gateway; the module then adopts the first one. So these tests show
that the token is sent, the same on every attempt at one gateway and derived as documented;
that AWS answers a repeated token with the first gateway is AWS's documented idempotency.

The behaviours moto cannot show (gateways pending for minutes, an ID not found right after it
was made, a token answering with a gateway since deleted) are driven with botocore's Stubber
at the end of this file.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import (
    RetryingBotoClientWrapper,
)
from botocore.stub import ANY, Stubber

from tests.support import (
    PlaybookRun,
    client,
    load_source,
    recording_proxy,
    run_playbook,
    serving,
    tags_of,
)

NAT_ONLY = """---
- name: The nat role alone, on a network built before
  hosts: hastack
  gather_facts: false
  environment: "{{ preflight_aws_env | default({}) }}"
  roles:
    - role: hastack.stack.preflight
    - role: hastack.stack.nat
"""

# nat_wait false, something else, then the wait entry point (what site.yml may do on AWS).
REQUEST_THEN_WAIT = """---
- name: Request the NAT gateways, do something else, then wait for them
  hosts: hastack
  gather_facts: false
  environment: "{{ preflight_aws_env | default({}) }}"
  roles:
    - role: hastack.stack.preflight
    - role: hastack.stack.nat
      nat_wait: false
  tasks:
    - name: Stand-in for the load balancer provisioning meanwhile
      ansible.builtin.set_fact:
        __requested: "{{ nat_result }}"

    - name: Wait for the NAT gateways
      ansible.builtin.include_role:
        name: hastack.stack.nat
        tasks_from: wait
"""

PRESENT_TASK = (
    "hastack.stack.nat : present | Create the NAT gateways and route each private subnet"
    " to the NAT gateway of its zone"
)
MUTATING = ("Create", "Delete", "Replace", "Allocate", "Release", "Associate", "Disassociate")


def load_module() -> Any:
    return load_source("plugins/modules/nat_gateways.py")


# -- the emulator's view -----------------------------------------------------------------


def network(endpoint: str, stack: str) -> dict[str, Any]:
    """The stack's network as the nat role's inputs: vpc id, public subnets, private tables."""
    ec2 = client("ec2", endpoint)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:hastack:stack", "Values": [stack]}])["Vpcs"][0]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    subnets = ec2.describe_subnets(Filters=in_vpc)["Subnets"]
    tables = ec2.describe_route_tables(
        Filters=[*in_vpc, {"Name": "tag:hastack:tier", "Values": ["private"]}]
    )["RouteTables"]
    public = sorted(
        (
            {"id": s["SubnetId"], "az": s["AvailabilityZone"]}
            for s in subnets
            if tags_of(s).get("hastack:tier") == "public"
        ),
        key=lambda s: s["az"],
    )
    private = sorted(
        ({"id": t["RouteTableId"], "az": tags_of(t)["hastack:az"]} for t in tables),
        key=lambda t: t["az"],
    )
    return {
        "nat_vpc_id": vpc["VpcId"],
        "nat_public_subnets": public,
        "nat_private_route_tables": private,
    }


def nat_state(endpoint: str, stack: str) -> dict[str, Any]:
    """Live gateways and NAT EIPs of the stack (tag checked here: moto ignores the filter)."""
    ec2 = client("ec2", endpoint)
    nats = [
        n
        for n in ec2.describe_nat_gateways()["NatGateways"]
        if tags_of(n).get("hastack:stack") == stack and n["State"] in ("pending", "available")
    ]
    eips = [
        a
        for a in ec2.describe_addresses()["Addresses"]
        if tags_of(a).get("hastack:stack") == stack and tags_of(a).get("hastack:role") == "nat"
    ]
    routes = {}
    net = network(endpoint, stack)
    tables = ec2.describe_route_tables(
        Filters=[
            {"Name": "route-table-id", "Values": [t["id"] for t in net["nat_private_route_tables"]]}
        ]
    )["RouteTables"]
    for table in tables:
        route = next(
            (r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"), {}
        )
        routes[tags_of(table)["hastack:az"]] = route.get("NatGatewayId")
    return {"nats": nats, "eips": eips, "routes": routes, "net": net}


def assert_one_per_zone(state: dict[str, Any], azs: list[str]) -> None:
    """Exactly one available gateway and one EIP per zone, each private table to its zone's."""
    nats, eips = state["nats"], state["eips"]
    assert sorted(tags_of(n)["hastack:az"] for n in nats) == sorted(azs), nats
    assert all(n["State"] == "available" for n in nats)
    assert sorted(tags_of(a)["hastack:az"] for a in eips) == sorted(azs), eips
    subnet_of = {s["az"]: s["id"] for s in state["net"]["nat_public_subnets"]}
    for nat in nats:
        az = tags_of(nat)["hastack:az"]
        assert nat["SubnetId"] == subnet_of[az]
        eip = next(a for a in eips if tags_of(a)["hastack:az"] == az)
        assert nat["NatGatewayAddresses"][0]["AllocationId"] == eip["AllocationId"]
    nat_of = {tags_of(n)["hastack:az"]: n["NatGatewayId"] for n in nats}
    assert state["routes"] == nat_of, (state["routes"], nat_of)


def published(run: PlaybookRun) -> dict[str, Any]:
    """The last nat_result the run set."""
    found: dict[str, Any] = {}
    for play in run.data.get("plays", []):
        for task in play["tasks"]:
            for res in task["hosts"].values():
                if "nat_result" in res.get("ansible_facts", {}):
                    found = res["ansible_facts"]["nat_result"]
    return found


# -- runs ----------------------------------------------------------------------------------


def build(stack: str, az_count: int, mode: str = "per_az") -> PlaybookRun:
    """The vpc and nat roles together (molecule/nat/converge.yml), as a deploy runs them."""
    run = run_playbook(
        "molecule/nat/converge.yml",
        extra_vars={"stack_name": stack, "vpc_az_count": az_count, "nat_mode": mode},
    )
    assert run.rc == 0, run.failures() or run.stdout[-3000:]
    return run


def nat_role(
    tmp_path: Path,
    stack: str,
    net: dict[str, Any],
    *,
    playbook: str = NAT_ONLY,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    ok: bool = True,
    **extra: Any,
) -> PlaybookRun:
    path = tmp_path / "nat.yml"
    path.write_text(playbook)
    run = run_playbook(
        str(path), extra_vars={"stack_name": stack, **net, **extra}, env=env, args=args
    )
    if ok:
        assert run.rc == 0, run.failures() or run.stdout[-3000:]
    return run


def teardown(stack: str) -> None:
    run_playbook("molecule/nat/destroy.yml", extra_vars={"stack_name": stack})


def ec2_calls(calls: list[tuple[str, str]]) -> list[str]:
    return [op for service, op in calls if service == "ec2"]


# -- a proxy that loses answers and answers with faults -------------------------------------


class _Faulty(BaseHTTPRequestHandler):
    """Forwards to the emulator; per operation, the next planned fault happens instead:
    ``drop`` forwards the request and closes the connection without an answer (the call
    happened, the caller never hears of it), ``throttle`` and ``503`` answer without
    forwarding."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        op = params.get("Action", "?")
        server: Any = self.server
        with server.lock:
            server.calls.append((op, params))
            fault = server.faults[op].pop(0) if server.faults.get(op) else None
        if fault == "throttle":
            self._answer(
                400,
                b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
                b"<Message>Request limit exceeded.</Message></Error></Errors></Response>",
            )
            return
        if fault == "503":
            self._answer(
                503,
                b"<Response><Errors><Error><Code>Unavailable</Code>"
                b"<Message>Service unavailable.</Message></Error></Errors></Response>",
            )
            return
        conn = http.client.HTTPConnection(*server.target, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request("POST", self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        conn.close()
        if fault == "drop":
            self.close_connection = True  # the request was carried out; its answer is lost
            return
        self._answer(answer.status, data, answer.getheader("Content-Type", "text/xml"))

    def _answer(self, status: int, data: bytes, content_type: str = "text/xml") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def faulty_proxy(
    endpoint: str, faults: dict[str, list[str]]
) -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    target = urlsplit(endpoint)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Faulty)
    server.calls, server.faults, server.lock = [], faults, threading.Lock()  # type: ignore[attr-defined]
    server.target = (target.hostname, target.port)  # type: ignore[attr-defined]
    with serving(server) as url:
        yield url, server.calls  # type: ignore[attr-defined]


def tag_value(params: dict[str, str], key: str) -> str:
    """A tag's value from a query-protocol request's TagSpecification.1.Tag.N.Key/Value."""
    for name, value in params.items():
        if name.startswith("TagSpecification.1.Tag.") and name.endswith(".Key") and value == key:
            return params[name[: -len("Key")] + "Value"]
    raise AssertionError(f"no tag {key} in {params}")


# -- on the emulator ---------------------------------------------------------------------


def assert_published(run: PlaybookRun, state: dict[str, Any], azs: list[str]) -> None:
    """nat_result: mode, gateways [{az, id, subnet_id, public_ip, allocation_id}]"""
    result = published(run)
    assert result["mode"] == "per_az"
    assert [g["az"] for g in result["gateways"]] == azs
    for gateway in result["gateways"]:
        assert set(gateway) == {"az", "id", "subnet_id", "public_ip", "allocation_id"}
        nat = next(n for n in state["nats"] if n["NatGatewayId"] == gateway["id"])
        assert gateway["allocation_id"] == nat["NatGatewayAddresses"][0]["AllocationId"]
        assert gateway["public_ip"] == nat["NatGatewayAddresses"][0]["PublicIp"]
        assert gateway["subnet_id"] == nat["SubnetId"]


@pytest.mark.emulator
def test_three_zones_one_gateway_and_eip_each_and_removal_in_aws_order(
    aws_env: str, tmp_path: Path
) -> None:
    stack = "natm-az3"
    try:
        run = build(stack, 3)
        state = nat_state(aws_env, stack)
        azs = [s["az"] for s in state["net"]["nat_public_subnets"]]
        assert len(azs) == 3
        assert_one_per_zone(state, azs)
        assert_published(run, state, azs)

        # -- absent: every gateway deleted, then the wait, then the EIPs released
        with recording_proxy(aws_env) as (proxy, calls):
            gone = nat_role(
                tmp_path, stack, state["net"], env={"AWS_ENDPOINT_URL": proxy}, nat_state="absent"
            )
        assert gone.changed > 0
        ops = ec2_calls(calls)
        deletes = [i for i, op in enumerate(ops) if op == "DeleteNatGateway"]
        releases = [i for i, op in enumerate(ops) if op == "ReleaseAddress"]
        assert len(deletes) == 3, ops
        assert len(releases) == 3, ops
        assert max(deletes) < min(releases), ops
        assert "DescribeNatGateways" in ops[max(deletes) : min(releases)], ops
        left = nat_state(aws_env, stack)
        assert left["nats"] == []
        assert left["eips"] == []
    finally:
        teardown(stack)


@pytest.mark.emulator
def test_lost_answers_throttling_and_5xx_still_leave_one_gateway_and_eip_per_zone(
    aws_env: str, tmp_path: Path
) -> None:
    nat_module = load_module()
    stack = "natm-faults"
    try:
        build(stack, 2, mode="none")
        net = network(aws_env, stack)
        azs = [s["az"] for s in net["nat_public_subnets"]]
        faults = {
            # The first gateway's request and the first EIP's allocation are carried out, but
            # their answers are lost: botocore sends the same request again.
            "CreateNatGateway": ["drop"],
            "AllocateAddress": ["drop"],
            "DescribeNatGateways": ["throttle", "503"],
            "DescribeAddresses": ["throttle"],
            "CreateRoute": ["503", "throttle"],
        }
        with faulty_proxy(aws_env, faults) as (proxy, calls):
            run = nat_role(tmp_path, stack, net, env={"AWS_ENDPOINT_URL": proxy})
        assert run.changed > 0
        assert all(not left for left in faults.values()), f"faults not hit: {faults}"
        state = nat_state(aws_env, stack)
        assert_one_per_zone(state, azs)

        # Two EIPs were allocated for the first zone (the lost answer); the surplus one is released.
        ops = [op for op, _ in calls]
        assert ops.count("AllocateAddress") == len(azs) + 1, ops
        assert ops.count("ReleaseAddress") == 1, ops
        # The gateway whose answer was lost was asked for twice with one and the same token,
        # the token the module derives from stack, zone, subnet and allocation id.
        creates = [p for op, p in calls if op == "CreateNatGateway"]
        assert len(creates) == len(azs) + 1, ops
        assert creates[0] == creates[1]  # the very same request, token included
        for params in creates:
            az = tag_value(params, "hastack:az")
            subnet = next(s["id"] for s in net["nat_public_subnets"] if s["az"] == az)
            assert params["ClientToken"] == nat_module.client_token(
                stack, az, subnet, params["AllocationId"], []
            )
            assert len(params["ClientToken"]) <= 64

    finally:
        teardown(stack)


@pytest.mark.emulator
def test_two_zones_rerun_drift_dry_run_hand_deleted_gateway_mode_switches_deferred_wait(
    aws_env: str, tmp_path: Path
) -> None:
    stack = "natm-az2"
    ec2 = client("ec2", aws_env)
    try:
        run = build(stack, 2)
        before = nat_state(aws_env, stack)
        net = before["net"]
        azs = [s["az"] for s in net["nat_public_subnets"]]
        assert_one_per_zone(before, azs)
        assert_published(run, before, azs)

        # -- a re-run changes nothing and only reads
        with recording_proxy(aws_env) as (proxy, calls):
            again = nat_role(tmp_path, stack, net, env={"AWS_ENDPOINT_URL": proxy})
        assert again.changed == 0, again.changed_tasks()
        assert ec2_calls(calls), "the re-run made no call at all"
        assert all(op.startswith("Describe") for op in ec2_calls(calls)), ec2_calls(calls)
        assert published(again) == published(run)

        # -- a dry run on the deployed stack has nothing to report
        with recording_proxy(aws_env) as (proxy, calls):
            dry = nat_role(tmp_path, stack, net, env={"AWS_ENDPOINT_URL": proxy}, args=["--check"])
        assert dry.changed == 0, dry.changed_tasks()
        assert all(op.startswith("Describe") for op in ec2_calls(calls)), ec2_calls(calls)

        # -- drift: zone b's gateway deleted by hand (its EIP stays allocated, as on AWS) and
        # zone a's default route removed by hand
        victim = next(n for n in before["nats"] if tags_of(n)["hastack:az"] == azs[1])
        kept_eip = victim["NatGatewayAddresses"][0]["AllocationId"]
        ec2.delete_nat_gateway(NatGatewayId=victim["NatGatewayId"])
        table_a = net["nat_private_route_tables"][0]["id"]
        ec2.delete_route(RouteTableId=table_a, DestinationCidrBlock="0.0.0.0/0")
        drifted = nat_state(aws_env, stack)

        # -- a dry run reports the change and mutates nothing
        with recording_proxy(aws_env) as (proxy, calls):
            dry = nat_role(tmp_path, stack, net, env={"AWS_ENDPOINT_URL": proxy}, args=["--check"])
        assert dry.changed > 0
        assert any("Create the NAT gateways" in t for t in dry.changed_tasks()), dry.changed_tasks()
        assert not [op for op in ec2_calls(calls) if op.startswith(MUTATING)], ec2_calls(calls)
        after_dry = nat_state(aws_env, stack)
        assert after_dry["routes"] == drifted["routes"]
        assert [n["NatGatewayId"] for n in after_dry["nats"]] == [
            n["NatGatewayId"] for n in drifted["nats"]
        ]
        assert len(after_dry["eips"]) == len(drifted["eips"])
        actions = " ".join(
            a
            for play in dry.data["plays"]
            for t in play["tasks"]
            for r in t["hosts"].values()
            for a in r.get("actions", [])
        )
        assert f"create a NAT gateway in {azs[1]}" in actions, actions
        assert f"with Elastic IP {kept_eip}" in actions, actions
        assert f"create route {table_a}" in actions, actions

        # -- the real run recreates the gateway with the zone's EIP and restores the route
        nat_role(tmp_path, stack, net)
        healed = nat_state(aws_env, stack)
        assert_one_per_zone(healed, azs)
        new = next(n for n in healed["nats"] if tags_of(n)["hastack:az"] == azs[1])
        assert new["NatGatewayId"] != victim["NatGatewayId"]
        assert new["NatGatewayAddresses"][0]["AllocationId"] == kept_eip

        # -- per_az -> single: one gateway for both zones, the other EIP released
        single = nat_role(tmp_path, stack, net, nat_mode="single")
        one = nat_state(aws_env, stack)
        assert len(one["nats"]) == 1
        assert len(one["eips"]) == 1
        only = one["nats"][0]
        assert tags_of(only)["hastack:az"] == azs[0]
        assert set(one["routes"].values()) == {only["NatGatewayId"]}
        assert [g["id"] for g in published(single)["gateways"]] == [only["NatGatewayId"]]
        assert nat_role(tmp_path, stack, net, nat_mode="single").changed == 0

        # -- back to per_az with nat_wait false, waited for by the wait entry point
        deferred = nat_role(tmp_path, stack, net, playbook=REQUEST_THEN_WAIT)
        assert_one_per_zone(nat_state(aws_env, stack), azs)
        changed = deferred.changed_tasks()
        assert PRESENT_TASK in changed
        wait_task = "hastack.stack.nat : wait | Wait for every NAT gateway to be available"
        assert wait_task not in changed
        assert [g["az"] for g in published(deferred)["gateways"]] == azs

        # -- none: no gateway, no EIP, no default route
        nat_role(tmp_path, stack, net, nat_mode="none")
        none = nat_state(aws_env, stack)
        assert none["nats"] == []
        assert none["eips"] == []
        assert set(none["routes"].values()) == {None}
    finally:
        teardown(stack)


# -- what only AWS does, driven with botocore's Stubber -----------------------------------

STACK = "stub"
VPC = "vpc-0123456789abcdef0"
AZS = ["us-east-1a", "us-east-1b"]
SUBNETS = {"us-east-1a": "subnet-0aaaaaaaaaaaaaaa1", "us-east-1b": "subnet-0bbbbbbbbbbbbbbb2"}
TABLES = {"us-east-1a": "rtb-0aaaaaaaaaaaaaaa1", "us-east-1b": "rtb-0bbbbbbbbbbbbbbb2"}


class Failed(Exception):
    pass


class FakeModule:
    """What the module class uses of AnsibleAWSModule."""

    def __init__(self, ec2: Any, **params: Any) -> None:
        self._client = ec2
        self.check_mode = False
        self.params = {
            "state": "present",
            "stack_name": STACK,
            "mode": "per_az",
            "vpc_id": VPC,
            "public_subnets": [{"id": SUBNETS[az], "az": az} for az in AZS],
            "private_route_tables": [{"id": TABLES[az], "az": az} for az in AZS],
            "tags": {"hastack:stack": STACK},
            "wait": True,
            "wait_timeout": 600,
            "wait_delay": 10,
            **params,
        }

    def client(self, _service: str, retry_decorator: Any) -> Any:
        return RetryingBotoClientWrapper(self._client, retry_decorator)

    def fail_json_aws(self, error: Exception, msg: str) -> None:
        raise Failed(f"{msg}: {error}")

    def fail_json(self, msg: str, **_: Any) -> None:
        raise Failed(msg)


def tags(az: str) -> list[dict[str, str]]:
    return [
        {"Key": "hastack:stack", "Value": STACK},
        {"Key": "hastack:role", "Value": "nat"},
        {"Key": "hastack:az", "Value": az},
        {"Key": "Name", "Value": f"{STACK}-nat-{az}"},
    ]


def gateway(az: str, state: str, nat_id: str | None = None, eni: str = "") -> dict[str, Any]:
    address = {"AllocationId": f"eipalloc-{az[-1]}"}
    if eni:
        address["NetworkInterfaceId"] = eni
    return {
        "NatGatewayId": nat_id or f"nat-0{az[-1] * 16}",
        "State": state,
        "SubnetId": SUBNETS[az],
        "VpcId": VPC,
        "NatGatewayAddresses": [address],
        "Tags": tags(az),
    }


def eip(az: str) -> dict[str, Any]:
    return {
        "AllocationId": f"eipalloc-{az[-1]}",
        "PublicIp": f"198.51.100.{ord(az[-1])}",
        "Domain": "vpc",
        "Tags": tags(az),
    }


def tables(targets: dict[str, str | None]) -> dict[str, Any]:
    return {
        "RouteTables": [
            {
                "RouteTableId": TABLES[az],
                "VpcId": VPC,
                "Routes": [
                    {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": t, "State": "active"}
                ]
                if t
                else [],
            }
            for az, t in targets.items()
        ]
    }


def test_gateways_are_requested_together_then_waited_for_together(ec2: Any, no_sleep: list) -> None:
    """AWS: both gateways requested before the first look; pending for two looks; routes last."""
    nat_module = load_module()
    a, b = AZS
    with Stubber(ec2) as stub:
        stub.add_response("describe_nat_gateways", {"NatGateways": []})
        stub.add_response("describe_addresses", {"Addresses": [eip(a), eip(b)]})
        for az in AZS:
            stub.add_response(
                "create_nat_gateway",
                {"NatGateway": gateway(az, "pending")},
                {
                    "SubnetId": SUBNETS[az],
                    "AllocationId": f"eipalloc-{az[-1]}",
                    "ConnectivityType": "public",
                    "ClientToken": nat_module.client_token(
                        STACK, az, SUBNETS[az], f"eipalloc-{az[-1]}", []
                    ),
                    "TagSpecifications": ANY,
                },
            )
        stub.add_response("describe_addresses", {"Addresses": [eip(a), eip(b)]})
        # Right after the create, AWS does not list one of them yet; then both pending; then up.
        stub.add_response("describe_nat_gateways", {"NatGateways": [gateway(a, "pending")]})
        stub.add_response(
            "describe_nat_gateways", {"NatGateways": [gateway(a, "pending"), gateway(b, "pending")]}
        )
        stub.add_response(
            "describe_nat_gateways",
            {"NatGateways": [gateway(a, "available"), gateway(b, "available")]},
        )
        stub.add_response("describe_route_tables", tables({a: None, b: "nat-0old"}))
        stub.add_response(
            "create_route",
            {"Return": True},
            {
                "RouteTableId": TABLES[a],
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": gateway(a, "x")["NatGatewayId"],
            },
        )
        stub.add_response(
            "replace_route",
            {},
            {
                "RouteTableId": TABLES[b],
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": gateway(b, "x")["NatGatewayId"],
            },
        )
        nat = nat_module.NatGateways(FakeModule(ec2))
        result = nat.present()
        stub.assert_no_pending_responses()
    assert no_sleep == [10, 10]  # nat_wait_delay between looks, no other pause
    assert result["pending"] == []
    assert [g["public_ip"] for g in result["gateways"]] == [eip(a)["PublicIp"], eip(b)["PublicIp"]]


def test_without_wait_routes_point_at_pending_gateways_and_a_fresh_id_is_retried(
    ec2: Any, no_sleep: list
) -> None:
    """nat_wait false: no look at the state at all; CreateRoute naming a gateway AWS does not
    know yet (eventual consistency) is retried, not failed."""
    nat_module = load_module()
    a, b = AZS
    with Stubber(ec2) as stub:
        stub.add_response("describe_nat_gateways", {"NatGateways": [gateway(a, "available")]})
        stub.add_response("describe_addresses", {"Addresses": [eip(a), eip(b)]})
        stub.add_response("create_nat_gateway", {"NatGateway": gateway(b, "pending")})
        stub.add_response("describe_addresses", {"Addresses": [eip(a), eip(b)]})
        stub.add_response(
            "describe_route_tables", tables({a: gateway(a, "x")["NatGatewayId"], b: None})
        )
        stub.add_client_error("create_route", "InvalidNatGatewayID.NotFound", http_status_code=400)
        stub.add_response("create_route", {"Return": True})
        nat = nat_module.NatGateways(FakeModule(ec2, wait=False))
        result = nat.present()
        stub.assert_no_pending_responses()
    assert len(no_sleep) == 1  # one jittered backoff pause, no wait
    assert no_sleep[0] <= 3
    assert result["pending"] == [gateway(b, "x")["NatGatewayId"]]


def test_a_token_answering_with_a_dead_gateway_gets_a_new_one(ec2: Any, no_sleep: list) -> None:
    """AWS keeps a token's answer: a zone whose gateway was deleted (and is no longer listed)
    would get that dead gateway back; the module salts the token with its ID and asks again."""
    nat_module = load_module()
    a, b = AZS
    dead = gateway(b, "deleted", "nat-0dead")
    fresh = gateway(b, "pending", "nat-0fresh")
    allocation = f"eipalloc-{b[-1]}"
    with Stubber(ec2) as stub:
        stub.add_response("describe_nat_gateways", {"NatGateways": [gateway(a, "available")]})
        stub.add_response("describe_addresses", {"Addresses": [eip(a), eip(b)]})
        stub.add_response("create_nat_gateway", {"NatGateway": dead})
        stub.add_response(
            "create_nat_gateway",
            {"NatGateway": fresh},
            {
                "SubnetId": SUBNETS[b],
                "AllocationId": allocation,
                "ConnectivityType": "public",
                "ClientToken": nat_module.client_token(
                    STACK, b, SUBNETS[b], allocation, ["nat-0dead"]
                ),
                "TagSpecifications": ANY,
            },
        )
        stub.add_response("describe_addresses", {"Addresses": [eip(a), eip(b)]})
        stub.add_response(
            "describe_route_tables", tables({a: gateway(a, "x")["NatGatewayId"], b: "nat-0fresh"})
        )
        nat = nat_module.NatGateways(FakeModule(ec2, wait=False))
        result = nat.present()
        stub.assert_no_pending_responses()
    assert [g["id"] for g in result["gateways"]] == [gateway(a, "x")["NatGatewayId"], "nat-0fresh"]


def test_absent_waits_for_every_deletion_before_the_first_release(ec2: Any, no_sleep: list) -> None:
    nat_module = load_module()
    a, b = AZS
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_nat_gateways",
            {"NatGateways": [gateway(a, "available"), gateway(b, "deleting")]},
        )
        stub.add_response("delete_nat_gateway", {"NatGatewayId": gateway(a, "x")["NatGatewayId"]})
        stub.add_response(
            "describe_nat_gateways",
            {"NatGateways": [gateway(a, "deleting"), gateway(b, "deleting")]},
        )
        stub.add_response(
            "describe_nat_gateways", {"NatGateways": [gateway(a, "deleted"), gateway(b, "deleted")]}
        )
        stub.add_response("describe_addresses", {"Addresses": [eip(a), eip(b)]})
        # The EIP is briefly still "in use" after its gateway is deleted: retried.
        stub.add_client_error("release_address", "InvalidIPAddress.InUse", http_status_code=400)
        stub.add_response("release_address", {}, {"AllocationId": eip(a)["AllocationId"]})
        stub.add_response("release_address", {}, {"AllocationId": eip(b)["AllocationId"]})
        nat = nat_module.NatGateways(FakeModule(ec2, state="absent"))
        nat.absent()
        stub.assert_no_pending_responses()
    assert no_sleep[0] == 10
    assert len(no_sleep) == 2


def test_wait_gives_up_at_nat_wait_timeout_naming_the_gateways(
    ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    nat_module = load_module()
    clock = [1000.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    a, b = AZS
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_nat_gateways", {"NatGateways": [gateway(a, "pending"), gateway(b, "pending")]}
        )
        stub.add_response("describe_addresses", {"Addresses": [eip(a), eip(b)]})
        for _ in range(4):  # looks at 0, 10, 20, 30 s: still pending at the 30 s timeout
            stub.add_response(
                "describe_nat_gateways",
                {"NatGateways": [gateway(a, "available"), gateway(b, "pending")]},
            )
        nat = nat_module.NatGateways(FakeModule(ec2, wait_timeout=30))
        with pytest.raises(
            Failed, match=r"were not available after nat_wait_timeout=30s .*pending"
        ):
            nat.present()
        stub.assert_no_pending_responses()


def test_check_mode_makes_no_mutating_call(ec2: Any, no_sleep: list) -> None:
    nat_module = load_module()
    a, b = AZS
    with Stubber(ec2) as stub:  # a mutating call would find no stubbed answer and raise
        stub.add_response("describe_nat_gateways", {"NatGateways": [gateway(a, "available")]})
        stub.add_response("describe_addresses", {"Addresses": [eip(a)]})
        stub.add_response("describe_route_tables", tables({a: None, b: None}))
        module = FakeModule(ec2)
        module.check_mode = True
        nat = nat_module.NatGateways(module)
        nat.present()
        stub.assert_no_pending_responses()
    assert nat.changed
    assert nat.actions == [
        f"allocate an Elastic IP for {b}",
        f"create a NAT gateway in {b} ({SUBNETS[b]})",
        f"create route {TABLES[a]} 0.0.0.0/0 -> {gateway(a, 'x')['NatGatewayId']}",
        f"create route {TABLES[b]} 0.0.0.0/0 -> (new NAT gateway)",
    ]
    assert no_sleep == []
