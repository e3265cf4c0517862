#!/usr/bin/python
# Apache-2.0 (see the project licence)
"""A stack's NAT gateways, their Elastic IPs and the private default routes, in one module call.

Why not the amazon.aws modules in loops: each module call costs a start-up (~0.65 s), and
ec2_vpc_route_table sleeps about 5 s after every change, so the loops of the role cost 11 s on
a cold two-zone deploy where the API calls themselves take a fraction of a second. This module
reads everything with three Describe calls, requests every missing gateway before waiting for
any (so on AWS their 1.5-2 min of provisioning overlap), and sets each route with one
CreateRoute or ReplaceRoute.

Exactly one gateway and one Elastic IP per zone, also when the API misbehaves:
- every call goes through AWSRetry.jittered_backoff (throttling, 5xx), on top of botocore's
  own retries (dropped connections, which resend the request as it was);
- CreateNatGateway carries a ClientToken derived from the stack, zone, subnet and allocation
  id: a retried request, or the next run after one whose answer was lost, gets the gateway
  the first request made instead of a second one (AWS honours the token; moto ignores it,
  where the already-associated Elastic IP refuses the second gateway and the module adopts
  the first);
- Elastic IPs carry their tags from the AllocateAddress call itself (TagSpecifications), so
  one allocated by a call whose answer was lost is found by tag and released as surplus.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: nat_gateways
short_description: A stack's NAT gateways with their Elastic IPs and private default routes
author: hastack maintainers (@hastack)
description:
  - With I(state=present), gives each zone the mode wants one NAT gateway with its own tagged
    Elastic IP, points each private route table's 0.0.0.0/0 route at the gateway of its zone
    (C(single) mode, at the one gateway), and removes gateways of zones the mode no longer
    wants, releasing their Elastic IPs once the gateways are deleted.
  - Gateways and Elastic IPs are found by their C(hastack:stack), C(hastack:role=nat) and
    C(hastack:az) tags, checked client-side as well (moto ignores tag filters on NAT gateways).
  - An existing zone's Elastic IP is reused, also after its gateway was deleted by hand.
  - With I(state=absent), deletes every gateway of the stack, waits until all are deleted and
    then releases the stack's NAT Elastic IPs (AWS refuses to release an EIP still in use).
  - Check mode makes no mutating call and reports what would change in C(actions).
  - "Upstream: amazon.aws.ec2_vpc_nat_gateway creates and waits for one gateway per module run, so
    the zones' 1.5-2 min of provisioning cannot overlap, and amazon.aws.ec2_vpc_route_table sleeps
    a fixed 5 s after every change."
options:
  state:
    description: present builds and converges; absent removes gateways and Elastic IPs.
    type: str
    choices: [present, absent]
    default: present
  stack_name:
    description: Value of the C(hastack:stack) tag that marks the stack's resources.
    type: str
    required: true
  mode:
    description: C(per_az) one gateway per zone, C(single) one for all zones, C(none) no egress.
    type: str
    choices: [per_az, single, none]
    default: per_az
  vpc_id:
    description: VPC of the gateways; required with I(state=present).
    type: str
  public_subnets:
    description: Public subnets as C([{id, az}]); a zone's gateway goes in its public subnet.
    type: list
    elements: dict
    default: []
  private_route_tables:
    description: Private route tables as C([{id, az}]); each gets 0.0.0.0/0 to its zone's gateway.
    type: list
    elements: dict
    default: []
  tags:
    description:
      - Tags for new gateways and Elastic IPs, also added to existing ones that lack them.
      - C(hastack:stack), C(hastack:role=nat), C(hastack:az) and C(Name) are set by the module.
    type: dict
    default: {}
  wait:
    description:
      - Wait until every wanted gateway is available (and surplus ones deleted, so their
        Elastic IPs can be released) before returning.
      - Without it, gateways are requested and routes set at once; a later call with
        I(wait=true) waits and finishes the releases.
    type: bool
    default: true
  wait_timeout:
    description: Seconds all the waiting of one call may take together.
    type: int
    default: 600
  wait_delay:
    description: Seconds between two looks at the gateways while waiting.
    type: int
    default: 10
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: One NAT gateway per zone, private subnets routed to their own zone's
  hastack.stack.nat_gateways:
    stack_name: web
    mode: per_az
    vpc_id: "{{ vpc_result.vpc_id }}"
    public_subnets: "{{ vpc_result.public_subnets }}"
    private_route_tables: "{{ vpc_result.private_route_tables }}"
    tags: {"hastack:stack": web}

- name: Remove them and their Elastic IPs
  hastack.stack.nat_gateways:
    stack_name: web
    state: absent
"""

RETURN = r"""
gateways:
  description: The wanted zones' gateways, in zone order (empty with state=absent or mode none).
  returned: always
  type: list
  elements: dict
  sample:
    - {az: us-east-1a, id: nat-0123, subnet_id: subnet-1, public_ip: 198.51.100.7,
       allocation_id: eipalloc-1}
pending:
  description: IDs of wanted gateways not available yet (only when wait is false, or check mode).
  returned: always
  type: list
  elements: str
actions:
  description: What was done (in check mode, what would be done), in order.
  returned: always
  type: list
  elements: str
"""

import contextlib
import hashlib
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import (
    AWSRetry,
    RetryingBotoClientWrapper,
)
from ansible_collections.hastack.stack.plugins.module_utils.tags import (
    AZ_TAG,
    ROLE_TAG,
    STACK_TAG,
    owned,
    stack_filters,
    tag_list,
    tags_of,
)
from ansible_collections.hastack.stack.plugins.module_utils.waits import (
    Deadline,
    error_code,
    poll,
)

LIVE = ("pending", "available")
DEAD = ("deleting", "deleted", "failed")
DEFAULT_ROUTE = "0.0.0.0/0"
NAT_ROLE = {ROLE_TAG: "nat"}
# Right after a create, AWS may not know the new ID yet (eventual consistency).
FRESH_NOT_FOUND = [
    "InvalidNatGatewayID.NotFound",
    "NatGatewayNotFound",
    "InvalidAllocationID.NotFound",
]
GONE = (
    "InvalidNatGatewayID.NotFound",
    "NatGatewayNotFound",
    "InvalidAllocationID.NotFound",
    "InvalidAssociationID.NotFound",
    "InvalidRoute.NotFound",
)


def _allocation_of(nat: dict[str, Any]) -> str:
    return next(
        (a["AllocationId"] for a in nat.get("NatGatewayAddresses") or [] if a.get("AllocationId")),
        "",
    )


def client_token(stack: str, az: str, subnet_id: str, allocation_id: str, salt: list[str]) -> str:
    """The CreateNatGateway idempotency token of a zone's gateway: the same for every attempt at
    the same gateway (a retry, or the next run after a lost answer), different once that
    gateway is dead (``salt`` names the dead ones), so a replacement is really created."""
    text = "|".join(["hastack-nat", stack, az, subnet_id, allocation_id, *sorted(salt)])
    return hashlib.sha256(text.encode()).hexdigest()  # 64 ASCII characters, AWS's maximum


class NatGateways:
    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.stack = self.params["stack_name"]
        self.ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
        # Calls that name something just created also retry the NotFound of eventual consistency.
        self.ec2_fresh = RetryingBotoClientWrapper(
            self.ec2.client, AWSRetry.jittered_backoff(catch_extra_error_codes=FRESH_NOT_FOUND)
        )
        # An EIP is briefly still "in use" after its gateway reached deleted.
        self.ec2_release = RetryingBotoClientWrapper(
            self.ec2.client,
            AWSRetry.jittered_backoff(catch_extra_error_codes=["InvalidIPAddress.InUse"]),
        )
        self.deadline = Deadline(self.params["wait_timeout"])
        self.actions: list[str] = []
        self.changed = False

    # -- helpers ---------------------------------------------------------------------------

    def fail(self, error: Exception, msg: str) -> None:
        self.module.fail_json_aws(error, msg=msg)

    def act(self, what: str) -> None:
        self.actions.append(what)
        self.changed = True

    def mine(self, resource: dict[str, Any]) -> bool:
        tags = tags_of(resource)
        return tags.get(STACK_TAG) == self.stack and tags.get(ROLE_TAG, "nat") == "nat"

    def tag_spec(self, kind: str, az: str) -> list[dict[str, Any]]:
        tags = self.wanted_tags(az)
        return [{"ResourceType": kind, "Tags": tag_list(tags)}]

    def wanted_tags(self, az: str) -> dict[str, str]:
        return {
            **{k: str(v) for k, v in (self.params["tags"] or {}).items()},
            "Name": f"{self.stack}-nat-{az}",
            STACK_TAG: self.stack,
            **NAT_ROLE,
            AZ_TAG: az,
        }

    def describe_nats(self, extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        filters = [*stack_filters(self.stack), *(extra or [])]
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Filter": filters}
        try:
            while True:
                page = self.ec2.describe_nat_gateways(aws_retry=True, **kwargs)
                found += page.get("NatGateways", [])
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, "Failed to list the stack's NAT gateways")
        # moto ignores the tag filter on NAT gateways: never act on another stack's gateway.
        return [n for n in found if owned(n.get("Tags"), self.stack)]

    def describe_eips(self) -> list[dict[str, Any]]:
        try:
            found = self.ec2.describe_addresses(
                aws_retry=True, Filters=stack_filters(self.stack, "nat")
            )["Addresses"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, "Failed to list the stack's NAT Elastic IPs")
        return [a for a in found if owned(a.get("Tags"), self.stack, "nat")]

    def poll(
        self, ids: set[str], done: Any, what: str, timeout_hint: str
    ) -> dict[str, dict[str, Any]]:
        """Look at the gateways ``ids`` every wait_delay seconds until ``done(states)``, where
        ``states`` maps each id to its gateway (missing: not visible yet, or long gone)."""

        def look() -> dict[str, dict[str, Any]]:
            return {
                n["NatGatewayId"]: n
                for n in self.describe_nats([{"Name": "nat-gateway-id", "Values": sorted(ids)}])
            }

        def timed_out(seen: dict[str, dict[str, Any]]) -> None:
            states = ", ".join(
                f"{i} {seen[i]['State'] if i in seen else 'not visible'}" for i in sorted(ids)
            )
            self.module.fail_json(
                msg=f"{what} after nat_wait_timeout={self.params['wait_timeout']}s"
                f" ({states}); {timeout_hint}",
                actions=self.actions,
                changed=self.changed,
            )

        return poll(self.deadline, look, done, self.params["wait_delay"], timed_out)

    def delete_nat(self, nat: dict[str, Any]) -> None:
        nat_id = nat["NatGatewayId"]
        self.act(f"delete NAT gateway {nat_id} ({tags_of(nat).get(AZ_TAG, '?')})")
        if not self.check:
            self.unless_gone(
                f"delete NAT gateway {nat_id}", self.ec2.delete_nat_gateway, NatGatewayId=nat_id
            )

    def release(self, eip: dict[str, Any]) -> None:
        allocation = eip["AllocationId"]
        self.act(
            f"release Elastic IP {allocation} {eip.get('PublicIp', '')}"
            f" ({tags_of(eip).get(AZ_TAG, '?')})"
        )
        if not self.check:
            self.unless_gone(
                f"release Elastic IP {allocation}",
                self.ec2_release.release_address,
                AllocationId=allocation,
            )

    def unless_gone(self, what: str, call: Any, **kwargs: Any) -> None:
        """Make a deleting call; a resource already gone is not an error."""
        try:
            call(aws_retry=True, **kwargs)
        except botocore.exceptions.ClientError as e:
            if error_code(e) not in GONE:
                self.fail(e, f"Failed to {what}")
        except botocore.exceptions.BotoCoreError as e:
            self.fail(e, f"Failed to {what}")

    # -- state=absent ----------------------------------------------------------------------

    def absent(self) -> None:
        nats = self.describe_nats()
        for nat in nats:
            if nat["State"] in ("pending", "available", "failed"):
                self.delete_nat(nat)
        waiting = {n["NatGatewayId"] for n in nats if n["State"] != "deleted"}
        if waiting and not self.check:
            # Deleting a gateway does not release its EIP, and AWS refuses to release an EIP
            # whose gateway still exists: every deletion ends before the first release.
            self.poll(
                waiting,
                lambda seen: all(seen[i]["State"] == "deleted" for i in waiting if i in seen),
                f"NAT gateways {', '.join(sorted(waiting))} were still not deleted",
                "their Elastic IPs are kept until they are gone."
                " Run the destroy again, or raise nat_wait_timeout.",
            )
        for eip in self.describe_eips():
            self.release(eip)

    # -- state=present ---------------------------------------------------------------------

    def present(self) -> dict[str, Any]:
        mode = self.params["mode"]
        subnets = [(s["az"], s["id"]) for s in self.params["public_subnets"]]
        subnet_by_az = dict(subnets)
        azs = [az for az, _subnet in subnets]
        wanted = azs if mode == "per_az" else (azs[:1] if mode == "single" else [])
        if mode != "none" and not wanted:
            self.module.fail_json(
                msg="public_subnets is empty: run the vpc role first or pass its vpc_result"
            )

        in_vpc = [{"Name": "vpc-id", "Values": [self.params["vpc_id"]]}]
        nats = [n for n in self.describe_nats(in_vpc) if self.mine(n)]
        eips = self.describe_eips()
        by_az: dict[str, dict[str, Any]] = {}
        surplus: list[dict[str, Any]] = []
        # Available, then oldest first: of two live gateways in one zone, the first one stays.
        for nat in sorted(
            nats, key=lambda n: (n["State"] != "available", str(n.get("CreateTime", "")))
        ):
            az = tags_of(nat).get(AZ_TAG, "")
            if nat["State"] not in LIVE:
                continue
            if az in wanted and az not in by_az and nat.get("SubnetId") == subnet_by_az[az]:
                by_az[az] = nat
            else:
                surplus.append(nat)
        dead = [n for n in nats if n["State"] in DEAD]
        existing = dict(by_az)

        # A zone whose only EIP is still held by a gateway AWS is deleting (deleted by hand):
        # wait for that deletion, so the zone keeps its public IP instead of getting another.
        missing = [az for az in wanted if az not in by_az]
        held = {
            n["NatGatewayId"]
            for n in dead
            if n["State"] == "deleting"
            and tags_of(n).get(AZ_TAG) in missing
            and not any(
                self.usable(a, dead)
                for a in eips
                if tags_of(a).get(AZ_TAG) == tags_of(n).get(AZ_TAG)
            )
        }
        if held and not self.check:
            seen = self.poll(
                held,
                lambda s: all(s[i]["State"] == "deleted" for i in held if i in s),
                f"NAT gateways {', '.join(sorted(held))} (deleted by hand) were still deleting",
                "raise nat_wait_timeout, or run again once they are deleted.",
            )
            dead = [seen.get(n["NatGatewayId"], n) for n in dead]
            eips = self.describe_eips()

        # Request every missing gateway before waiting for any.
        for az in missing:
            by_az[az] = self.create_nat(az, subnet_by_az[az], eips, dead)
        if missing and not self.check:
            # Also finds an EIP allocated by a request whose answer was lost (released below).
            eips = self.describe_eips()

        if self.params["wait"] and not self.check:
            pending = {n["NatGatewayId"] for n in by_az.values() if n["State"] != "available"}
            if pending:
                seen = self.poll(
                    pending,
                    lambda s: all(i in s and s[i]["State"] != "pending" for i in pending),
                    f"NAT gateways {', '.join(sorted(pending))} were not available",
                    "raise nat_wait_timeout or look at the gateway's failure message"
                    " in the VPC console.",
                )
                by_az = {az: seen.get(n["NatGatewayId"], n) for az, n in by_az.items()}
                failed = [n for n in by_az.values() if n["State"] != "available"]
                if failed:
                    self.module.fail_json(
                        msg="NAT gateways failed: "
                        + "; ".join(
                            f"{n['NatGatewayId']} ({tags_of(n).get(AZ_TAG)}):"
                            f" {n.get('FailureMessage') or n['State']}"
                            for n in failed
                        )
                        + ". Run the deploy again: a failed gateway is replaced.",
                        actions=self.actions,
                        changed=self.changed,
                    )

        self.routes(mode, wanted, by_az)

        # Gateways of zones the mode no longer wants (no route uses them any more), duplicates.
        for nat in surplus:
            self.delete_nat(nat)
        deleting = {n["NatGatewayId"] for n in surplus} | {
            n["NatGatewayId"] for n in dead if n["State"] == "deleting"
        }
        if deleting and self.params["wait"] and not self.check:
            seen = self.poll(
                deleting,
                lambda s: all(s[i]["State"] == "deleted" for i in deleting if i in s),
                f"NAT gateways {', '.join(sorted(deleting))} were still not deleted",
                "their Elastic IPs are kept until they are;"
                " run the deploy again, or raise nat_wait_timeout.",
            )
            dead = [{**n, "State": "deleted"} for n in surplus] + [
                {
                    **n,
                    "State": seen[n["NatGatewayId"]]["State"]
                    if n["NatGatewayId"] in seen
                    else "deleted",
                }
                if n["NatGatewayId"] in deleting
                else n
                for n in dead
            ]
        in_use = {_allocation_of(n) for n in by_az.values()}
        self.release_surplus(eips, in_use, dead)

        for az, nat in existing.items():
            self.converge_tags(nat.get("NatGatewayId", ""), tags_of(nat), az, "NAT gateway")
            for eip in eips:
                if eip["AllocationId"] == _allocation_of(nat):
                    self.converge_tags(eip["AllocationId"], tags_of(eip), az, "Elastic IP")

        gateways = []
        for az in wanted:
            nat = by_az[az]
            allocation = _allocation_of(nat)
            address = next(
                (a for a in nat.get("NatGatewayAddresses") or [] if a.get("AllocationId")), {}
            )
            eip = next((a for a in eips if a["AllocationId"] == allocation), {})
            gateways.append(
                {
                    "az": az,
                    "id": nat.get("NatGatewayId", ""),
                    "subnet_id": subnet_by_az[az],
                    "public_ip": address.get("PublicIp") or eip.get("PublicIp", ""),
                    "allocation_id": allocation,
                }
            )
        pending = sorted(
            n["NatGatewayId"]
            for n in by_az.values()
            if n["State"] != "available" and n.get("NatGatewayId")
        )
        return {"gateways": gateways, "pending": pending}

    def usable(self, eip: dict[str, Any], dead: list[dict[str, Any]]) -> bool:
        """Free for a new gateway: not associated, or only to a dead gateway's interface (moto
        keeps that association after DeleteNatGateway; AWS drops it when the gateway is deleted)."""
        if not eip.get("AssociationId"):
            return True
        return any(
            a.get("NetworkInterfaceId") == eip.get("NetworkInterfaceId")
            and n["State"] in ("deleted", "failed")
            for n in dead
            for a in n.get("NatGatewayAddresses") or []
        )

    def converge_tags(self, rid: str, have: dict[str, str], az: str, kind: str) -> None:
        """Add the tags an existing gateway or EIP lacks (stack_tags changed); others stay."""
        add = {k: v for k, v in self.wanted_tags(az).items() if have.get(k) != v}
        if not add:
            return
        self.act(f"tag {kind} {rid} with {', '.join(sorted(add))}")
        if self.check:
            return
        try:
            self.ec2.createtags_of(
                aws_retry=True,
                Resources=[rid],
                Tags=tag_list(add),
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"Failed to tag {kind} {rid}")

    def create_nat(
        self, az: str, subnet_id: str, eips: list[dict[str, Any]], dead: list[dict[str, Any]]
    ) -> dict[str, Any]:
        zone_eips = [a for a in eips if tags_of(a).get(AZ_TAG) == az]
        eip = next((a for a in zone_eips if not a.get("AssociationId")), None) or next(
            (a for a in zone_eips if self.usable(a, dead)), None
        )
        if eip is None:
            self.act(f"allocate an Elastic IP for {az}")
            if self.check:
                self.act(f"create a NAT gateway in {az} ({subnet_id})")
                return {"State": "pending", "NatGatewayAddresses": []}
            try:
                eip = self.ec2.allocate_address(
                    aws_retry=True, Domain="vpc", TagSpecifications=self.tag_spec("elastic-ip", az)
                )
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                self.fail(e, f"Failed to allocate an Elastic IP for {az}")
            eip.setdefault("Tags", self.tag_spec("elastic-ip", az)[0]["Tags"])
            eips.append(eip)
        elif eip.get("AssociationId"):
            # moto only: the association of a deleted gateway's interface lingers.
            self.act(
                f"disassociate Elastic IP {eip['AllocationId']}"
                " from a deleted NAT gateway's interface"
            )
            if not self.check:
                try:
                    self.ec2.disassociate_address(
                        aws_retry=True, AssociationId=eip["AssociationId"]
                    )
                except botocore.exceptions.ClientError as e:
                    if error_code(e) not in GONE:
                        self.fail(e, f"Failed to disassociate Elastic IP {eip['AllocationId']}")
                except botocore.exceptions.BotoCoreError as e:
                    self.fail(e, f"Failed to disassociate Elastic IP {eip['AllocationId']}")
        allocation = eip["AllocationId"]
        self.act(f"create a NAT gateway in {az} ({subnet_id}) with Elastic IP {allocation}")
        if self.check:
            return {"State": "pending", "NatGatewayAddresses": [{"AllocationId": allocation}]}
        salt = sorted(n["NatGatewayId"] for n in dead if _allocation_of(n) == allocation)
        for _attempt in range(3):
            token = client_token(self.stack, az, subnet_id, allocation, salt)
            try:
                nat = self.ec2_fresh.create_nat_gateway(
                    aws_retry=True,
                    SubnetId=subnet_id,
                    AllocationId=allocation,
                    ConnectivityType="public",
                    ClientToken=token,
                    TagSpecifications=self.tag_spec("natgateway", az),
                )["NatGateway"]
            except botocore.exceptions.ClientError as e:
                # The first of two identical requests made it (its answer was lost and the
                # emulator does not honour the token), or the token was used with other tags.
                if error_code(e) not in (
                    "Resource.AlreadyAssociated",
                    "IdempotentParameterMismatch",
                ):
                    self.fail(e, f"Failed to create the NAT gateway of {az}")
                adopted = [
                    n
                    for n in self.describe_nats([{"Name": "subnet-id", "Values": [subnet_id]}])
                    if n["State"] in LIVE
                    and _allocation_of(n) == allocation
                    and tags_of(n).get(AZ_TAG) == az
                ]
                if adopted:
                    return adopted[0]
                if error_code(e) == "Resource.AlreadyAssociated":
                    self.fail(
                        e, f"Elastic IP {allocation} of {az} is associated with something else"
                    )
                salt.append(f"mismatch-{len(salt)}")
                continue
            except botocore.exceptions.BotoCoreError as e:
                self.fail(e, f"Failed to create the NAT gateway of {az}")
            if nat["State"] in LIVE:
                nat.setdefault("Tags", self.tag_spec("natgateway", az)[0]["Tags"])
                if not _allocation_of(nat):
                    nat["NatGatewayAddresses"] = [{"AllocationId": allocation}]
                return nat
            # AWS answered with the dead gateway this token once made: salt and make a new one.
            salt.append(nat["NatGatewayId"])
        self.module.fail_json(
            msg=f"CreateNatGateway in {az} keeps answering with dead gateways", actions=self.actions
        )
        return {}

    def routes(self, mode: str, wanted: list[str], by_az: dict[str, dict[str, Any]]) -> None:
        tables = self.params["private_route_tables"]
        if not tables:
            return
        ids = [t["id"] for t in tables]
        try:
            found = self.ec2.describe_route_tables(
                aws_retry=True, Filters=[{"Name": "route-table-id", "Values": ids}]
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, "Failed to read the private route tables")
        current = {t["RouteTableId"]: t for t in found["RouteTables"]}
        for table in tables:
            rtb, az = table["id"], table["az"]
            if rtb not in current:
                self.module.fail_json(
                    msg=f"Private route table {rtb} ({az}) does not exist: run the vpc role first"
                )
            route = next(
                (
                    r
                    for r in current[rtb].get("Routes", [])
                    if r.get("DestinationCidrBlock") == DEFAULT_ROUTE
                ),
                None,
            )
            if mode == "none":
                if route is not None:
                    self.route_call("delete", rtb, None)
                continue
            target_az = az if mode == "per_az" else wanted[0]
            if target_az not in by_az:
                self.module.fail_json(
                    msg=f"Route table {rtb} is in {az}, which has no public subnet"
                    " for a NAT gateway"
                )
            target = by_az[target_az].get("NatGatewayId")
            if route is None:
                self.route_call("create", rtb, target)
            elif route.get("NatGatewayId") != target or route.get("State") == "blackhole":
                self.route_call("replace", rtb, target)

    def route_call(self, verb: str, rtb: str, target: str | None) -> None:
        self.act(
            f"{verb} route {rtb} {DEFAULT_ROUTE}"
            + (f" -> {target or '(new NAT gateway)'}" if verb != "delete" else "")
        )
        if self.check:
            return
        args: dict[str, Any] = {"RouteTableId": rtb, "DestinationCidrBlock": DEFAULT_ROUTE}
        if target:
            args["NatGatewayId"] = target
        call = {
            "create": self.ec2_fresh.create_route,
            "replace": self.ec2_fresh.replace_route,
            "delete": self.ec2.delete_route,
        }
        try:
            call[verb](aws_retry=True, **args)
        except botocore.exceptions.ClientError as e:
            code = error_code(e)
            if verb == "create" and code == "RouteAlreadyExists":  # made since we looked
                self.route_call_raw(self.ec2_fresh.replace_route, rtb, args)
            elif verb == "replace" and code == "InvalidRoute.NotFound":  # removed since we looked
                self.route_call_raw(self.ec2_fresh.create_route, rtb, args)
            elif not (verb == "delete" and code in GONE):
                self.fail(e, f"Failed to {verb} the default route of {rtb}")
        except botocore.exceptions.BotoCoreError as e:
            self.fail(e, f"Failed to {verb} the default route of {rtb}")

    def route_call_raw(self, call: Any, rtb: str, args: dict[str, Any]) -> None:
        try:
            call(aws_retry=True, **args)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"Failed to set the default route of {rtb}")

    def release_surplus(
        self, eips: list[dict[str, Any]], in_use: set[str], gone: list[dict[str, Any]]
    ) -> None:
        """Release every NAT EIP no wanted gateway uses, once nothing holds it: a zone the mode
        no longer wants (after its gateway is deleted), or a second EIP allocated for a zone by
        a request whose answer was lost. An EIP still held by a gateway that is being deleted
        (or by anything else) is kept for a later call."""
        for eip in eips:
            if eip["AllocationId"] not in in_use and self.usable(eip, gone):
                self.release(eip)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "stack_name": {"type": "str", "required": True},
            "mode": {"type": "str", "choices": ["per_az", "single", "none"], "default": "per_az"},
            "vpc_id": {"type": "str"},
            "public_subnets": {"type": "list", "elements": "dict", "default": []},
            "private_route_tables": {"type": "list", "elements": "dict", "default": []},
            "tags": {"type": "dict", "default": {}},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 600},
            "wait_delay": {"type": "int", "default": 10},
        },
        required_if=[("state", "present", ["vpc_id"])],
        supports_check_mode=True,
    )
    if module.params["wait_timeout"] <= 0 or module.params["wait_delay"] <= 0:
        module.fail_json(msg="wait_timeout and wait_delay must be positive numbers of seconds")
    nat = NatGateways(module)
    if module.params["state"] == "absent":
        nat.absent()
        module.exit_json(changed=nat.changed, gateways=[], pending=[], actions=nat.actions)
    result = nat.present()
    module.exit_json(changed=nat.changed, actions=nat.actions, **result)


if __name__ == "__main__":
    main()
