#!/usr/bin/python
# Apache-2.0 (see the project licence)
"""Build or converge a stack's whole network in one module call.

Why not the amazon.aws modules: the network took ten module calls (AZ lookup, VPC, a subnet
loop, internet gateway, route table lookup, public table, a private table loop, default group),
each paying a module start-up, and `ec2_vpc_route_table` sleeps five seconds after every
change. This module reads the network with one batch of Describe calls (one per kind, for the
whole VPC), compares it with the wanted layout and makes only the calls that close the gap: a
no-op makes Describe calls only; check mode makes no other call and reports each change.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: network
short_description: Converge a stack's VPC, subnets, internet gateway, route tables and default group
author: hastack maintainers (@hastack)
description:
  - Looks up the region's available zones and picks the wanted ones (C(azs), or the first
    C(az_count) by name); fails before any change when they are not there.
  - Finds the stack's VPC by its C(hastack:stack) tag (creating it when there is none), then
    makes sure of, in that VPC, DNS support and hostnames; an internet gateway attached (a
    detached one of the stack is re-attached before a new one is created); a public and a
    private subnet per zone (found by CIDR); a public route table sending 0.0.0.0/0 to the
    gateway and associated with exactly the public subnets (other routes it was given with
    CreateRoute are deleted); one private route table per zone associated with exactly that
    zone's private subnet (its routes are never touched, the nat role owns them); the default
    security group with no rules. Every resource carries C(tags) plus its own C(Name).
  - Reads with one Describe call per kind of resource for the whole VPC; a network that
    matches makes no other call. Resources are created with their tags (TagSpecifications);
    tag changes are batched into one CreateTags / DeleteTags per distinct set of tags.
  - Throttling and server errors are retried with jittered exponential backoff; right after
    a create, NotFound answers (eventual consistency) are retried the same way. No fixed sleeps.
  - Check mode makes Describe calls only and reports what would change (C(changes), and a
    before/after C(diff) with --diff).
  - "Upstream: amazon.aws.ec2_vpc_route_table sleeps a fixed 5 s after every change, and the
    network took ten module runs (subnets and private route tables one per resource in loops),
    each paying a module start-up and its own Describe calls."
options:
  stack_name:
    description: Name of the stack; prefix of every resource Name and value of C(hastack:stack).
    type: str
    required: true
  tags:
    description: Tags every resource carries (besides its Name); tags not listed are removed.
    type: dict
    required: true
  cidr_block:
    description: CIDR of the VPC. A VPC's CIDR cannot change; a different one fails.
    type: str
    required: true
  azs:
    description: Zones to use, in order; empty picks the first C(az_count) zones of the region.
    type: list
    elements: str
    default: []
  az_count:
    description: Number of zones when C(azs) is empty.
    type: int
    default: 2
  public_subnet_cidrs:
    description: CIDR of the public subnet of each zone, in zone order.
    type: list
    elements: str
    required: true
  private_subnet_cidrs:
    description: CIDR of the private subnet of each zone, in zone order.
    type: list
    elements: str
    required: true
  map_public_ip:
    description: Give instances launched in the public subnets a public IP.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Build the network
  hastack.stack.network:
    stack_name: web-prod
    tags: {"hastack:stack": web-prod}
    cidr_block: 10.0.0.0/16
    az_count: 2
    public_subnet_cidrs: [10.0.1.0/24, 10.0.2.0/24]
    private_subnet_cidrs: [10.0.11.0/24, 10.0.12.0/24]
"""

RETURN = r"""
setting_error:
  description:
    - True when a setting is wrong (zones not in the region, one subnet CIDR per zone) and
      nothing was changed.
  returned: when such a setting failed
  type: bool
network:
  description:
    - The network as the vpc role publishes it (C(vpc_result)). In check mode, IDs of
      resources that do not exist yet are null.
  returned: always
  type: dict
  sample:
    vpc_id: vpc-1
    cidr_block: 10.0.0.0/16
    azs: [us-east-1a, us-east-1b]
    igw_id: igw-1
    public_route_table_id: rtb-1
    public_subnets: [{id: subnet-1, az: us-east-1a, cidr: 10.0.1.0/24}]
    private_subnets: [{id: subnet-3, az: us-east-1a, cidr: 10.0.11.0/24}]
    public_subnet_ids: [subnet-1]
    private_subnet_ids: [subnet-3]
    private_route_tables: [{id: rtb-2, az: us-east-1a, subnet_id: subnet-3}]
changes:
  description: What was changed (in check mode, what would be), one line per change.
  returned: always
  type: list
  elements: str
  sample: ["add route 0.0.0.0/0 -> igw-1 to rtb-1 (web-prod-public)"]
diff:
  description: The managed network before and after, with --diff.
  returned: when requested
  type: dict
"""

import contextlib
import copy
import ipaddress
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
    STACK_TAG,
    TIER_TAG,
    stack_filters,
    tag_list,
    tags_of,
)
from ansible_collections.hastack.stack.plugins.module_utils.waits import Deadline

ANY_IPV4 = "0.0.0.0/0"
# What AWS answers for a few seconds after a create, until the new resource is visible to every
# endpoint; retried only on calls that use a resource this run created.
NOT_YET_VISIBLE = [
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidGatewayID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidID",
]
# Seconds to wait for a new VPC's default security group to be listed.
DEFAULT_GROUP_WAIT = 120
ROUTE_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "NetworkInterfaceId",
    "InstanceId",
    "EgressOnlyInternetGatewayId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
)


def route_target(route: dict[str, Any]) -> str:
    return next((route[k] for k in ROUTE_TARGETS if route.get(k)), "?")


def route_dest(route: dict[str, Any]) -> str:
    return (
        route.get("DestinationCidrBlock")
        or route.get("DestinationIpv6CidrBlock")
        or route.get("DestinationPrefixListId")
        or "?"
    )


def rule_text(rule: dict[str, Any]) -> list[str]:
    """One line per source/destination of a security group rule, for the diff."""
    proto = rule.get("IpProtocol", "-1")
    ports = "all" if proto == "-1" else f"{proto} {rule.get('FromPort')}-{rule.get('ToPort')}"
    peers = [r["CidrIp"] for r in rule.get("IpRanges", [])]
    peers += [r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])]
    peers += [p["PrefixListId"] for p in rule.get("PrefixListIds", [])]
    peers += [p.get("GroupId", "?") for p in rule.get("UserIdGroupPairs", [])]
    return [f"{ports} {peer}" for peer in peers] or [ports]


def revocable(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as DescribeSecurityGroups returned it, cut to what Revoke* accepts."""
    out = {k: rule[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in rule}
    for key, fields in (
        ("IpRanges", ("CidrIp",)),
        ("Ipv6Ranges", ("CidrIpv6",)),
        ("PrefixListIds", ("PrefixListId",)),
        ("UserIdGroupPairs", ("GroupId", "UserId")),
    ):
        if rule.get(key):
            out[key] = [{f: peer[f] for f in fields if f in peer} for peer in rule[key]]
    return out


def live_associations(table: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's subnet associations that are in force (not the main one, not being removed)."""
    return [
        a
        for a in table.get("Associations", [])
        if a.get("SubnetId")
        and not a.get("Main")
        and a.get("AssociationState", {}).get("State", "associated")
        in ("associated", "associating")
    ]


class Network:
    """Read the stack's network once, then make only the calls that close the gap."""

    read_workers = 8  # independent Describe calls at once (1: one after the other)

    def __init__(self, module: Any) -> None:
        self.module = module
        self.check_mode = module.check_mode
        params = module.params
        self.stack = params["stack_name"]
        self.tags = {str(k): str(v) for k, v in (params["tags"] or {}).items()}
        self.tags[STACK_TAG] = self.stack
        self.cidr = params["cidr_block"]
        self.client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
        # For calls on resources this run created: also wait out "not found yet". The same
        # botocore client (a second one would load the EC2 service model again).
        self.fresh_client = RetryingBotoClientWrapper(
            self.client.client,
            AWSRetry.jittered_backoff(
                retries=10, delay=1, max_delay=10, catch_extra_error_codes=NOT_YET_VISIBLE
            ),
        )
        self.new_ids: set[str] = set()  # created by this run (or, in check mode, placeholders)
        self.changes: list[str] = []
        self.tag_sets: dict[tuple, list[str]] = {}
        self.tag_unsets: dict[tuple, list[str]] = {}
        # The live network, kept up to date in memory as changes are made.
        self.zones: list[str] = []
        self.vpc: dict[str, Any] | None = None
        self.dns: dict[str, bool] = {}
        self.subnets: list[dict[str, Any]] = []
        self.igw: dict[str, Any] | None = None
        self.route_tables: list[dict[str, Any]] = []
        self.default_sg: dict[str, Any] | None = None
        self.specs: list[dict[str, Any]] = []  # wanted subnets: tier, az, cidr, name, subnet
        self.public_rt: dict[str, Any] | None = None
        self.private_rts: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (spec, table)

    # -- calls ---------------------------------------------------------------------------

    def fail(self, msg: str, setting_error: bool = False) -> None:
        """Fail; ``setting_error``: a setting is wrong and nothing was changed yet."""
        extra = {"setting_error": True} if setting_error and not self.changes else {}
        self.module.fail_json(msg=msg, changes=self.changes, **extra)

    def read(self, operation: str, key: str | None = None, **kwargs: Any) -> Any:
        """One Describe call (every page of it), retried on throttling; raises on errors."""
        method = getattr(self.client, operation)
        found: list[Any] = []
        while True:
            page = method(aws_retry=True, **kwargs)
            if key is None:
                return page
            found += page.get(key, [])
            if not page.get("NextToken"):
                return found
            kwargs = {**kwargs, "NextToken": page["NextToken"]}

    def read_all(self, calls: dict[str, tuple[str, Callable[[], Any]]]) -> dict[str, Any]:
        """Independent reads at once: the run waits for the slowest, not for their sum."""
        with ThreadPoolExecutor(max_workers=min(self.read_workers, len(calls))) as pool:
            futures = {name: pool.submit(call) for name, (_what, call) in calls.items()}
        results = {}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                self.module.fail_json_aws(e, msg=f"Failed to {calls[name][0]}")
        return results

    def call(self, what: str, operation: str, ids: tuple[str, ...], **kwargs: Any) -> Any:
        """One mutating call (never in check mode)."""
        fresh = any(i in self.new_ids for i in ids)
        client = self.fresh_client if fresh else self.client
        try:
            return getattr(client, operation)(aws_retry=True, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to {what}", changes=self.changes)
        return None

    def change(self, what: str, operation: str, ids: tuple[str, ...] = (), **kwargs: Any) -> Any:
        """Record a change and make it, unless in check mode (then None)."""
        self.changes.append(what)
        if self.check_mode:
            return None
        return self.call(what, operation, ids, **kwargs)

    def placeholder(self, kind: str) -> str:
        """Stands for the ID of what check mode would create (never sent to AWS)."""
        new_id = f"(new {kind})"
        self.new_ids.add(new_id)
        return new_id

    def known(self, resource_id: str | None) -> str | None:
        """An ID for the published network: None for what check mode would create."""
        return None if resource_id is None or resource_id.startswith("(") else resource_id

    # -- tags ----------------------------------------------------------------------------

    def spec(self, resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
        return [{"ResourceType": resource_type, "Tags": tag_list(tags, sort=True)}]

    def ensure_tags(self, resource: dict[str, Any], rid: str, label: str, want: dict) -> None:
        """Queue one resource's tag changes (flush_tags makes them); apply them in memory."""
        current = tags_of(resource)
        to_set = {k: v for k, v in want.items() if current.get(k) != v}
        to_unset = sorted(k for k in current if k not in want and not k.startswith("aws:"))
        if not to_set and not to_unset:
            return
        parts = [f"set {k}={v}" for k, v in sorted(to_set.items())]
        parts += [f"remove {k}" for k in to_unset]
        self.changes.append(f"tag {rid} ({label}): {', '.join(parts)}")
        if to_set:
            self.tag_sets.setdefault(tuple(sorted(to_set.items())), []).append(rid)
        if to_unset:
            self.tag_unsets.setdefault(tuple(to_unset), []).append(rid)
        kept = {k: v for k, v in current.items() if k not in to_unset}
        resource["Tags"] = tag_list({**kept, **to_set}, sort=True)

    def flush_tags(self) -> None:
        """One CreateTags per distinct set of tags to add, one DeleteTags per set to remove."""
        if self.check_mode:
            return
        for items, ids in self.tag_sets.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                self.call(
                    f"tag {', '.join(chunk)}",
                    "create_tags",
                    tuple(chunk),
                    Resources=chunk,
                    Tags=[{"Key": k, "Value": v} for k, v in items],
                )
        for keys, ids in self.tag_unsets.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                self.call(
                    f"remove tags {', '.join(keys)} from {', '.join(chunk)}",
                    "delete_tags",
                    tuple(chunk),
                    Resources=chunk,
                    Tags=[{"Key": k} for k in keys],
                )

    # -- read and validate (before any change) -------------------------------------------

    def pick_zones(self, region_zones: list[str]) -> list[str]:
        """The zones to use, or fail with the message the role has always given."""
        azs = self.module.params["azs"] or []
        count = len(azs) if azs else self.module.params["az_count"]
        zones = azs if azs else region_zones[:count]
        region = self.module.region
        missing = [z for z in azs if z not in region_zones]
        if missing:
            self.fail(
                f"vpc_azs: {json.dumps(missing)} not available in {region}; available zones: "
                f"{', '.join(region_zones)}.",
                setting_error=True,
            )
        if len(zones) != count:
            self.fail(
                f"vpc_az_count: {count} zones requested but {region} has {len(region_zones)} "
                f"available ({', '.join(region_zones)}).",
                setting_error=True,
            )
        return zones

    def read_network(self) -> None:
        vpc_filter = stack_filters(self.stack)
        first = self.read_all(
            {
                "zones": (
                    "list the region's availability zones",
                    lambda: self.read(
                        "describe_availability_zones",
                        "AvailabilityZones",
                        Filters=[
                            {"Name": "zone-type", "Values": ["availability-zone"]},
                            {"Name": "state", "Values": ["available"]},
                        ],
                    ),
                ),
                "vpcs": (
                    "find the stack's VPC",
                    lambda: self.read("describe_vpcs", "Vpcs", Filters=vpc_filter),
                ),
            }
        )
        self.zones = self.pick_zones(sorted(z["ZoneName"] for z in first["zones"]))
        vpcs = [v for v in first["vpcs"] if tags_of(v).get(STACK_TAG) == self.stack]
        if len(vpcs) > 1:
            found = ", ".join(
                f"{v['VpcId']} ({v['CidrBlock']}, {tags_of(v).get('Name', 'no Name')})"
                for v in sorted(vpcs, key=lambda v: v["VpcId"])
            )
            self.fail(
                f"The stack {self.stack} has {len(vpcs)} VPCs tagged {STACK_TAG}={self.stack} "
                f"({found}); it must have exactly one. Delete the one(s) that should not be "
                "there (destroy.yml removes them all), then deploy again."
            )
        self.specs = [
            {"tier": tier, "az": az, "cidr": cidr, "name": f"{self.stack}-{tier}-{az}"}
            for tier in ("public", "private")
            for az, cidr in zip(self.zones, self.module.params[f"{tier}_subnet_cidrs"], strict=True)
        ]
        if not vpcs:
            return
        self.vpc = vpcs[0]
        if self.vpc["CidrBlock"] != self.cidr:
            self.fail(
                f"vpc_cidr_block: the stack's VPC {self.vpc['VpcId']} has the CIDR "
                f"{self.vpc['CidrBlock']}, not {self.cidr}, and a VPC's CIDR cannot change. Set "
                f"vpc_cidr_block: {self.vpc['CidrBlock']}, or destroy the stack and deploy it anew."
            )
        vpc_id = self.vpc["VpcId"]
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        found = self.read_all(
            {
                "dns_support": (
                    f"read enableDnsSupport of {vpc_id}",
                    lambda: self.read(
                        "describe_vpc_attribute", VpcId=vpc_id, Attribute="enableDnsSupport"
                    ),
                ),
                "dns_hostnames": (
                    f"read enableDnsHostnames of {vpc_id}",
                    lambda: self.read(
                        "describe_vpc_attribute", VpcId=vpc_id, Attribute="enableDnsHostnames"
                    ),
                ),
                "subnets": (
                    f"list the subnets of {vpc_id}",
                    lambda: self.read("describe_subnets", "Subnets", Filters=in_vpc),
                ),
                "igws": (
                    f"list the internet gateways of {vpc_id}",
                    lambda: self.read(
                        "describe_internet_gateways",
                        "InternetGateways",
                        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}],
                    ),
                ),
                "route_tables": (
                    f"list the route tables of {vpc_id}",
                    lambda: self.read("describe_route_tables", "RouteTables", Filters=in_vpc),
                ),
                "groups": (
                    f"read the default security group of {vpc_id}",
                    lambda: self.read(
                        "describe_security_groups",
                        "SecurityGroups",
                        Filters=[*in_vpc, {"Name": "group-name", "Values": ["default"]}],
                    ),
                ),
            }
        )
        self.dns = {
            "enableDnsSupport": found["dns_support"]["EnableDnsSupport"]["Value"],
            "enableDnsHostnames": found["dns_hostnames"]["EnableDnsHostnames"]["Value"],
        }
        self.subnets = found["subnets"]
        self.igw = min(found["igws"], key=lambda g: g["InternetGatewayId"], default=None)
        self.route_tables = found["route_tables"]
        self.default_sg = found["groups"][0] if found["groups"] else None
        self.check_subnets()

    def check_subnets(self) -> None:
        """Fail, before any change, on subnets AWS would refuse or that cannot be fixed."""
        by_cidr = {s["CidrBlock"]: s for s in self.subnets}
        for spec in self.specs:
            setting = f"vpc_{spec['tier']}_subnet_cidrs"
            subnet = by_cidr.get(spec["cidr"])
            if subnet is not None:
                if subnet["AvailabilityZone"] != spec["az"]:
                    self.fail(
                        f"{setting}: subnet {subnet['SubnetId']} ({spec['cidr']}) of the stack's "
                        f"VPC is in {subnet['AvailabilityZone']}, but this run puts {spec['cidr']} "
                        f"in {spec['az']}, and a subnet cannot change zone. Keep the zones in the "
                        "order the stack was deployed with, or give the subnets new CIDRs."
                    )
                continue
            wanted = ipaddress.ip_network(spec["cidr"])
            for other in self.subnets:
                if wanted.overlaps(ipaddress.ip_network(other["CidrBlock"])):
                    self.fail(
                        f"{setting}: {spec['cidr']} overlaps subnet {other['SubnetId']} "
                        f"({other['CidrBlock']}, {tags_of(other).get('Name', 'no Name')}) "
                        "already in the stack's VPC; pick CIDRs that do not overlap it, or "
                        "delete that subnet."
                    )

    # -- converge ------------------------------------------------------------------------

    def ensure_vpc(self) -> str:
        name = f"{self.stack}-vpc"
        want = {**self.tags, "Name": name}
        if self.vpc is None:
            answer = self.change(
                f"create VPC {name} ({self.cidr})",
                "create_vpc",
                CidrBlock=self.cidr,
                TagSpecifications=self.spec("vpc", want),
            )
            vpc_id = answer["Vpc"]["VpcId"] if answer else self.placeholder(name)
            self.new_ids.add(vpc_id)
            self.vpc = {"VpcId": vpc_id, "CidrBlock": self.cidr, "Tags": tag_list(want, sort=True)}
            # What AWS gives every new VPC (not the default VPC): DNS support, no hostnames.
            self.dns = {"enableDnsSupport": True, "enableDnsHostnames": False}
        vpc_id = self.vpc["VpcId"]
        for attribute, label in (
            ("enableDnsSupport", "DNS support"),
            ("enableDnsHostnames", "DNS hostnames"),
        ):
            if not self.dns.get(attribute):
                key = attribute[0].upper() + attribute[1:]
                self.change(
                    f"enable {label} on {vpc_id}",
                    "modify_vpc_attribute",
                    (vpc_id,),
                    VpcId=vpc_id,
                    **{key: {"Value": True}},
                )
                self.dns[attribute] = True
        self.ensure_tags(self.vpc, vpc_id, name, want)
        return vpc_id

    def ensure_internet_gateway(self, vpc_id: str) -> str:
        name = f"{self.stack}-igw"
        want = {**self.tags, "Name": name}
        if self.igw is None:
            # A gateway of the stack detached by hand is attached again, not replaced.
            try:
                gateways = self.read(
                    "describe_internet_gateways",
                    "InternetGateways",
                    Filters=stack_filters(self.stack),
                )
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                self.module.fail_json_aws(e, msg="Failed to list the stack's internet gateways")
            detached = sorted(
                (
                    g
                    for g in gateways
                    if tags_of(g).get(STACK_TAG) == self.stack and not g.get("Attachments")
                ),
                key=lambda g: g["InternetGatewayId"],
            )
            if detached:
                self.igw = detached[0]
            else:
                answer = self.change(
                    f"create internet gateway {name}",
                    "create_internet_gateway",
                    TagSpecifications=self.spec("internet-gateway", want),
                )
                igw_id = (
                    answer["InternetGateway"]["InternetGatewayId"]
                    if answer
                    else self.placeholder(name)
                )
                self.new_ids.add(igw_id)
                self.igw = {
                    "InternetGatewayId": igw_id,
                    "Tags": tag_list(want, sort=True),
                    "Attachments": [],
                }
            igw_id = self.igw["InternetGatewayId"]
            self.change(
                f"attach internet gateway {igw_id} to {vpc_id}",
                "attach_internet_gateway",
                (igw_id, vpc_id),
                InternetGatewayId=igw_id,
                VpcId=vpc_id,
            )
            self.igw["Attachments"] = [{"VpcId": vpc_id, "State": "available"}]
        igw_id = self.igw["InternetGatewayId"]
        self.ensure_tags(self.igw, igw_id, name, want)
        return igw_id

    def ensure_subnets(self, vpc_id: str) -> None:
        by_cidr = {s["CidrBlock"]: s for s in self.subnets}
        map_public = self.module.params["map_public_ip"]
        for spec in self.specs:
            want = {**self.tags, "Name": spec["name"], TIER_TAG: spec["tier"]}
            subnet = by_cidr.get(spec["cidr"])
            if subnet is None:
                answer = self.change(
                    f"create subnet {spec['name']} ({spec['cidr']} in {spec['az']})",
                    "create_subnet",
                    (vpc_id,),
                    VpcId=vpc_id,
                    CidrBlock=spec["cidr"],
                    AvailabilityZone=spec["az"],
                    TagSpecifications=self.spec("subnet", want),
                )
                subnet_id = (
                    answer["Subnet"]["SubnetId"] if answer else self.placeholder(spec["name"])
                )
                self.new_ids.add(subnet_id)
                subnet = {
                    "SubnetId": subnet_id,
                    "CidrBlock": spec["cidr"],
                    "AvailabilityZone": spec["az"],
                    "MapPublicIpOnLaunch": False,
                    "Tags": tag_list(want, sort=True),
                }
                self.subnets.append(subnet)
            spec["subnet"] = subnet
            subnet_id = subnet["SubnetId"]
            wanted_map = spec["tier"] == "public" and map_public
            if bool(subnet.get("MapPublicIpOnLaunch")) != wanted_map:
                self.change(
                    f"set map-public-ip-on-launch {str(wanted_map).lower()} on {subnet_id} "
                    f"({spec['name']})",
                    "modify_subnet_attribute",
                    (subnet_id,),
                    SubnetId=subnet_id,
                    MapPublicIpOnLaunch={"Value": wanted_map},
                )
                subnet["MapPublicIpOnLaunch"] = wanted_map
            self.ensure_tags(subnet, subnet_id, spec["name"], want)

    def ensure_route_table(self, vpc_id: str, name: str, want: dict[str, str]) -> dict:
        # Found by Name among the stack's tables: a changed stack_extra_tags must not make a second.
        ours = sorted(
            (
                t
                for t in self.route_tables
                if tags_of(t).get(STACK_TAG) == self.stack and tags_of(t).get("Name") == name
            ),
            key=lambda t: (not live_associations(t), t["RouteTableId"]),
        )
        if ours:
            table = ours[0]
        else:
            answer = self.change(
                f"create route table {name}",
                "create_route_table",
                (vpc_id,),
                VpcId=vpc_id,
                TagSpecifications=self.spec("route-table", want),
            )
            table_id = answer["RouteTable"]["RouteTableId"] if answer else self.placeholder(name)
            self.new_ids.add(table_id)
            table = {
                "RouteTableId": table_id,
                "VpcId": vpc_id,
                "Routes": [
                    {
                        "DestinationCidrBlock": self.cidr,
                        "GatewayId": "local",
                        "Origin": "CreateRouteTable",
                    }
                ],
                "Associations": [],
                "Tags": tag_list(want, sort=True),
            }
            self.route_tables.append(table)
        self.ensure_tags(table, table["RouteTableId"], name, want)
        return table

    def ensure_public_routes(self, table: dict[str, Any], igw_id: str) -> None:
        """0.0.0.0/0 -> the gateway; the other routes made with CreateRoute are deleted.

        Local routes, propagated ones and those of gateway endpoints (prefix lists) stay.
        """
        rtb = table["RouteTableId"]
        label = f"{rtb} ({self.stack}-public)"
        default = next(
            (r for r in table["Routes"] if r.get("DestinationCidrBlock") == ANY_IPV4), None
        )
        if default is None:
            self.change(
                f"add route {ANY_IPV4} -> {igw_id} to {label}",
                "create_route",
                (rtb, igw_id),
                RouteTableId=rtb,
                DestinationCidrBlock=ANY_IPV4,
                GatewayId=igw_id,
            )
            table["Routes"].append(
                {"DestinationCidrBlock": ANY_IPV4, "GatewayId": igw_id, "Origin": "CreateRoute"}
            )
        elif default.get("GatewayId") != igw_id:
            self.change(
                f"replace route {ANY_IPV4} -> {route_target(default)} with -> {igw_id} in {label}",
                "replace_route",
                (rtb, igw_id),
                RouteTableId=rtb,
                DestinationCidrBlock=ANY_IPV4,
                GatewayId=igw_id,
            )
            default.clear()
            default.update(
                {"DestinationCidrBlock": ANY_IPV4, "GatewayId": igw_id, "Origin": "CreateRoute"}
            )
        for route in list(table["Routes"]):
            if (
                route.get("Origin") != "CreateRoute"
                or route.get("DestinationCidrBlock") == ANY_IPV4
            ):
                continue
            if route.get("DestinationCidrBlock"):
                dest = {"DestinationCidrBlock": route["DestinationCidrBlock"]}
            elif route.get("DestinationIpv6CidrBlock"):
                dest = {"DestinationIpv6CidrBlock": route["DestinationIpv6CidrBlock"]}
            else:
                continue  # a gateway endpoint's route: the endpoint owns it
            self.change(
                f"delete route {route_dest(route)} -> {route_target(route)} from {label}",
                "delete_route",
                (rtb,),
                RouteTableId=rtb,
                **dest,
            )
            table["Routes"].remove(route)

    def ensure_associations(self, wanted: list[tuple[dict, dict, str]]) -> None:
        """Each (table, subnet, label) associated; then every other subnet off those tables."""
        names = {s["subnet"]["SubnetId"]: s["name"] for s in self.specs}
        for table, subnet, table_name in wanted:
            rtb, subnet_id = table["RouteTableId"], subnet["SubnetId"]
            where = f"{subnet_id} ({names[subnet_id]})"
            current = next(
                (
                    (t, a)
                    for t in self.route_tables
                    for a in live_associations(t)
                    if a["SubnetId"] == subnet_id
                ),
                None,
            )
            if current and current[0] is table:
                continue
            if current:
                old_table, old = current
                answer = self.change(
                    f"move {where} from route table {old_table['RouteTableId']} to {rtb} "
                    f"({table_name})",
                    "replace_route_table_association",
                    (rtb,),
                    AssociationId=old["RouteTableAssociationId"],
                    RouteTableId=rtb,
                )
                old_table["Associations"].remove(old)
                association_id = answer["NewAssociationId"] if answer else "(new association)"
            else:
                answer = self.change(
                    f"associate {where} with route table {rtb} ({table_name})",
                    "associate_route_table",
                    (rtb, subnet_id),
                    RouteTableId=rtb,
                    SubnetId=subnet_id,
                )
                association_id = answer["AssociationId"] if answer else "(new association)"
            table["Associations"].append(
                {
                    "RouteTableAssociationId": association_id,
                    "RouteTableId": rtb,
                    "SubnetId": subnet_id,
                    "Main": False,
                    "AssociationState": {"State": "associated"},
                }
            )
        keep = {(id(t), s["SubnetId"]) for t, s, _name in wanted}
        tables = {id(t): (t, n) for t, _subnet, n in wanted}
        for table, table_name in tables.values():
            for association in live_associations(table):
                if (id(table), association["SubnetId"]) in keep:
                    continue
                subnet_id = association["SubnetId"]
                self.change(
                    f"disassociate {subnet_id} ({names.get(subnet_id, 'not in the layout')}) from "
                    f"route table {table['RouteTableId']} ({table_name})",
                    "disassociate_route_table",
                    (table["RouteTableId"],),
                    AssociationId=association["RouteTableAssociationId"],
                )
                table["Associations"].remove(association)

    def ensure_route_tables(self, vpc_id: str, igw_id: str) -> None:
        public_name = f"{self.stack}-public"
        self.public_rt = self.ensure_route_table(
            vpc_id, public_name, {**self.tags, "Name": public_name, TIER_TAG: "public"}
        )
        self.ensure_public_routes(self.public_rt, igw_id)
        wanted = [
            (self.public_rt, s["subnet"], public_name) for s in self.specs if s["tier"] == "public"
        ]
        # One table per zone, so the nat role can route each zone to its own NAT gateway.
        for spec in (s for s in self.specs if s["tier"] == "private"):
            name = f"{self.stack}-private-{spec['az']}"
            want = {**self.tags, "Name": name, TIER_TAG: "private", AZ_TAG: spec["az"]}
            table = self.ensure_route_table(vpc_id, name, want)
            self.private_rts.append((spec, table))
            wanted.append((table, spec["subnet"], name))
        self.ensure_associations(wanted)

    def ensure_default_group(self, vpc_id: str) -> None:
        name = f"{self.stack}-default"
        want = {**self.tags, "Name": name}
        if self.default_sg is None and vpc_id in self.new_ids and self.check_mode:
            # What AWS gives a new VPC: a group admitting itself, sending anywhere.
            self.default_sg = {
                "GroupId": self.placeholder(name),
                "IpPermissions": [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "self"}]}],
                "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": ANY_IPV4}]}],
                "Tags": [],
            }
        if self.default_sg is None:
            self.default_sg = self.wait_for_default_group(vpc_id)
        group = self.default_sg
        sg = group["GroupId"]
        for key, direction, operation in (
            ("IpPermissions", "ingress", "revoke_security_group_ingress"),
            ("IpPermissionsEgress", "egress", "revoke_security_group_egress"),
        ):
            rules = group.get(key) or []
            if rules:
                lines = [line for rule in rules for line in rule_text(rule)]
                self.change(
                    f"revoke the {direction} rules of {sg} (default group): {'; '.join(lines)}",
                    operation,
                    (sg, vpc_id),
                    GroupId=sg,
                    IpPermissions=[revocable(r) for r in rules],
                )
                group[key] = []
        self.ensure_tags(group, sg, name, want)

    def wait_for_default_group(self, vpc_id: str) -> dict[str, Any]:
        """A new VPC's default group, which AWS may list only a moment after the VPC."""
        deadline = Deadline(DEFAULT_GROUP_WAIT)
        delay = 0.25
        while True:
            try:
                groups = self.read(
                    "describe_security_groups",
                    "SecurityGroups",
                    Filters=[
                        {"Name": "vpc-id", "Values": [vpc_id]},
                        {"Name": "group-name", "Values": ["default"]},
                    ],
                )
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                self.module.fail_json_aws(
                    e, msg=f"Failed to read the default security group of {vpc_id}"
                )
            if groups:
                return groups[0]
            left = deadline.left()
            if left <= 0:
                self.fail(
                    f"AWS listed no default security group for {vpc_id} within "
                    f"{DEFAULT_GROUP_WAIT}s of creating it; run the deploy again."
                )
            delay = deadline.backoff(delay, 8, left)

    # -- results -------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """The managed network in a form a diff can compare (names, not IDs, where stable)."""
        names = {s["subnet"]["SubnetId"]: s["name"] for s in self.specs if "subnet" in s}
        by_cidr = {s["CidrBlock"]: s for s in self.subnets}
        out: dict[str, Any] = {}
        if self.vpc:
            out["vpc"] = {
                "id": self.vpc["VpcId"],
                "cidr_block": self.vpc["CidrBlock"],
                "dns_support": self.dns.get("enableDnsSupport"),
                "dns_hostnames": self.dns.get("enableDnsHostnames"),
                "tags": tags_of(self.vpc),
            }
        if self.igw:
            out["internet_gateway"] = {
                "id": self.igw["InternetGatewayId"],
                "attached_to": sorted(a["VpcId"] for a in self.igw.get("Attachments", [])),
                "tags": tags_of(self.igw),
            }
        subnets = {}
        for spec in self.specs:
            subnet = by_cidr.get(spec["cidr"])
            if subnet:
                subnets[spec["name"]] = {
                    "id": subnet["SubnetId"],
                    "cidr": subnet["CidrBlock"],
                    "zone": subnet["AvailabilityZone"],
                    "map_public_ip_on_launch": bool(subnet.get("MapPublicIpOnLaunch")),
                    "tags": tags_of(subnet),
                }
        if subnets:
            out["subnets"] = subnets
        tables = {}
        for table in self.route_tables:
            tags = tags_of(table)
            if tags.get(STACK_TAG) != self.stack or "Name" not in tags:
                continue
            entry = {
                "id": table["RouteTableId"],
                "subnets": sorted(
                    names.get(a["SubnetId"], a["SubnetId"]) for a in live_associations(table)
                ),
                "tags": tags,
            }
            if tags.get(TIER_TAG) == "public":  # private routes are the nat role's
                entry["routes"] = sorted(
                    f"{route_dest(r)} -> {route_target(r)}"
                    for r in table["Routes"]
                    if r.get("GatewayId") != "local"
                )
            tables[tags["Name"]] = entry
        if tables:
            out["route_tables"] = tables
        if self.default_sg:
            out["default_security_group"] = {
                "id": self.default_sg["GroupId"],
                "ingress": [
                    x for r in self.default_sg.get("IpPermissions") or [] for x in rule_text(r)
                ],
                "egress": [
                    x
                    for r in self.default_sg.get("IpPermissionsEgress") or []
                    for x in rule_text(r)
                ],
                "tags": tags_of(self.default_sg),
            }
        return out

    def published(self, vpc_id: str, igw_id: str) -> dict[str, Any]:
        """The network as the role publishes it (vpc_result)."""
        by_tier: dict[str, list[dict[str, Any]]] = {"public": [], "private": []}
        for spec in self.specs:
            by_tier[spec["tier"]].append(
                {
                    "id": self.known(spec["subnet"]["SubnetId"]),
                    "az": spec["az"],
                    "cidr": spec["cidr"],
                }
            )
        return {
            "vpc_id": self.known(vpc_id),
            "cidr_block": self.cidr,
            "azs": list(self.zones),
            "igw_id": self.known(igw_id),
            "public_route_table_id": self.known(self.public_rt["RouteTableId"]),
            "public_subnets": by_tier["public"],
            "private_subnets": by_tier["private"],
            "public_subnet_ids": [s["id"] for s in by_tier["public"]],
            "private_subnet_ids": [s["id"] for s in by_tier["private"]],
            "private_route_tables": [
                {
                    "id": self.known(table["RouteTableId"]),
                    "az": spec["az"],
                    "subnet_id": self.known(spec["subnet"]["SubnetId"]),
                }
                for spec, table in self.private_rts
            ],
        }

    def run(self) -> dict[str, Any]:
        self.read_network()
        before = copy.deepcopy(self.view())
        vpc_id = self.ensure_vpc()
        igw_id = self.ensure_internet_gateway(vpc_id)
        self.ensure_subnets(vpc_id)
        self.ensure_route_tables(vpc_id, igw_id)
        self.ensure_default_group(vpc_id)
        self.flush_tags()
        result: dict[str, Any] = {
            "changed": bool(self.changes),
            "changes": self.changes,
            "network": self.published(vpc_id, igw_id),
        }
        if self.module._diff:
            after = "would be" if self.check_mode else "now"
            result["diff"] = {
                "before": before,
                "after": self.view(),
                "before_header": f"network of {self.stack} (live)",
                "after_header": f"network of {self.stack} ({after})",
            }
        return result


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "stack_name": {"type": "str", "required": True},
            "tags": {"type": "dict", "required": True},
            "cidr_block": {"type": "str", "required": True},
            "azs": {"type": "list", "elements": "str", "default": []},
            "az_count": {"type": "int", "default": 2},
            "public_subnet_cidrs": {"type": "list", "elements": "str", "required": True},
            "private_subnet_cidrs": {"type": "list", "elements": "str", "required": True},
            "map_public_ip": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    count = len(params["azs"]) if params["azs"] else params["az_count"]
    for tier in ("public", "private"):
        if len(params[f"{tier}_subnet_cidrs"]) != count:
            module.fail_json(
                msg=f"{tier}_subnet_cidrs: {len(params[f'{tier}_subnet_cidrs'])} CIDRs for "
                f"{count} zones; give one per zone.",
                setting_error=True,
            )
    module.exit_json(**Network(module).run())


if __name__ == "__main__":
    main()
