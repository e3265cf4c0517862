#!/usr/bin/python
# Apache-2.0 (see the project licence)
"""Delete VPCs with everything inside them, in the order AWS requires, in one module call.

Why not the amazon.aws modules in a loop: none of them retries DependencyViolation, which AWS
answers for minutes after a load balancer, NAT gateway or instance is deleted (their network
interfaces linger), and a loop of five modules costs a module start-up per resource. This
module deletes, per VPC: route tables other than the main one (after disassociating them),
internet gateways (detached first), security groups other than the default one (rules that
refer to another of them revoked first, so no group waits for another), subnets, the VPC.
Every deletion refused with DependencyViolation is retried with jittered exponential backoff
until one shared deadline; on timeout the error names the resource and what still uses it.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: vpc_teardown
short_description: Delete VPCs and everything inside them, retrying DependencyViolation
author: hastack maintainers (@hastack)
description:
  - For each VPC, deletes the non-main route tables, the internet gateways, the non-default
    security groups, the subnets and then the VPC itself.
  - Everything inside a VPC belongs to that VPC's owner; run it only on the stack's own VPCs,
    after the load balancers, NAT gateways and instances in them are deleted.
  - A deletion AWS refuses with DependencyViolation (network interfaces of deleted resources
    linger for minutes) is retried with jittered exponential backoff until C(timeout).
  - Resources already gone are skipped, so a second run changes nothing.
  - "Upstream: no amazon.aws module retries C(DependencyViolation), which AWS answers for minutes
    after a load balancer, NAT gateway or instance is deleted, and the deletes take a module run
    per resource."
options:
  vpc_ids:
    description:
      - IDs of the VPCs to delete. Omitted, the VPCs tagged C(hastack:stack=<stack_name>) are
        found and deleted (the tag checked again on each, so an ignored filter cannot widen
        the delete).
    type: list
    elements: str
  stack_name:
    description:
      - Also delete internet gateways tagged C(hastack:stack) with this value that are attached
        to no VPC (left by a hand-made detach, or by a VPC deleted by hand).
      - Required when I(vpc_ids) is omitted.
    type: str
  timeout:
    description: Seconds all the retries together may take before the module gives up.
    type: int
    default: 300
  max_delay:
    description: Longest pause between two attempts at one deletion, in seconds.
    type: int
    default: 20
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Delete the stack's VPCs with their contents
  hastack.stack.vpc_teardown:
    vpc_ids: ["vpc-0123456789abcdef0"]
    timeout: 600

- name: Delete every VPC of a stack, found by its tag
  hastack.stack.vpc_teardown:
    stack_name: shop-prod
"""

RETURN = r"""
vpc_ids: {description: The VPCs given or found., returned: always, type: list}
deleted:
  description: IDs deleted (or, in check mode, to delete), by kind, in deletion order.
  returned: always
  type: dict
  sample:
    route_tables: [rtb-1]
    internet_gateways: [igw-1]
    security_groups: [sg-1]
    subnets: [subnet-1]
    vpcs: [vpc-1]
retries:
  description: How many attempts were refused with DependencyViolation and retried.
  returned: always
  type: int
"""

import contextlib
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.hastack.stack.plugins.module_utils.tags import owned, stack_filters
from ansible_collections.hastack.stack.plugins.module_utils.waits import Deadline, error_code

KINDS = ("route_tables", "internet_gateways", "security_groups", "subnets", "vpcs")
GONE = (
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidAssociationID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidGroup.NotFound",
    "Gateway.NotAttached",
    "InvalidPermission.NotFound",
)


class Teardown:
    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
        self.deadline = Deadline(module.params["timeout"])
        self.max_delay = module.params["max_delay"]
        self.deleted: dict[str, list[str]] = {kind: [] for kind in KINDS}
        self.retries = 0

    def describe(self, operation: str, key: str, vpc_id: str, **extra: Any) -> list[dict]:
        filters = [
            {
                "Name": "vpc-id" if key != "InternetGateways" else "attachment.vpc-id",
                "Values": [vpc_id],
            }
        ]
        try:
            paginator = self.client.get_paginator(operation)
            return paginator.paginate(Filters=filters, **extra).build_full_result()[key]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to list the {key} of {vpc_id}")
        return []

    def users_of(self, name: str, value: str) -> str:
        """The network interfaces still using a subnet or group, for the error message."""
        try:
            enis = self.client.describe_network_interfaces(
                Filters=[{"Name": name, "Values": [value]}]
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            return "unknown (could not list network interfaces)"
        found = [
            f"{eni['NetworkInterfaceId']} ({eni.get('Description') or eni.get('InterfaceType')},"
            f" {eni.get('Status')})"
            for eni in enis.get("NetworkInterfaces", [])
        ]
        return ", ".join(found) or "none listed (AWS may still be releasing them)"

    def attempt(
        self, what: str, call: Any, users: tuple[str, str] | None = None, **kwargs: Any
    ) -> bool:
        """Run one mutating call, retrying DependencyViolation; False if the target is gone."""
        if self.module.check_mode:
            return True
        delay = 1.0
        while True:
            try:
                call(aws_retry=True, **kwargs)
                return True
            except botocore.exceptions.ClientError as e:
                code = error_code(e)
                if code in GONE:
                    return False
                if code != "DependencyViolation":
                    self.module.fail_json_aws(e, msg=f"Failed to {what}")
                left = self.deadline.left()
                if left <= 0:
                    still = f"; still used by: {self.users_of(*users)}" if users else ""
                    self.module.fail_json_aws(
                        e,
                        msg=(
                            f"Gave up trying to {what} after the destroy's timeout of "
                            f"{self.module.params['timeout']}s: AWS still answers "
                            f"DependencyViolation{still}. Run the destroy again once those "
                            "are gone, or raise vpc_delete_timeout."
                        ),
                    )
                self.retries += 1
                delay = self.deadline.backoff(delay, self.max_delay, left)
            except botocore.exceptions.BotoCoreError as e:
                self.module.fail_json_aws(e, msg=f"Failed to {what}")

    def route_tables(self, vpc_id: str) -> None:
        for table in self.describe("describe_route_tables", "RouteTables", vpc_id):
            associations = table.get("Associations", [])
            if any(a.get("Main") for a in associations):
                continue
            rtb = table["RouteTableId"]
            for association in associations:
                self.attempt(
                    f"disassociate route table {rtb}",
                    self.client.disassociate_route_table,
                    AssociationId=association["RouteTableAssociationId"],
                )
            if self.attempt(
                f"delete route table {rtb}", self.client.delete_route_table, RouteTableId=rtb
            ):
                self.deleted["route_tables"].append(rtb)

    def internet_gateways(self, vpc_id: str) -> None:
        for gateway in self.describe("describe_internet_gateways", "InternetGateways", vpc_id):
            igw = gateway["InternetGatewayId"]
            # AWS refuses the detach while public addresses are mapped in the VPC (NAT EIPs).
            self.attempt(
                f"detach internet gateway {igw} from {vpc_id}",
                self.client.detach_internet_gateway,
                InternetGatewayId=igw,
                VpcId=vpc_id,
            )
            if self.attempt(
                f"delete internet gateway {igw}",
                self.client.delete_internet_gateway,
                InternetGatewayId=igw,
            ):
                self.deleted["internet_gateways"].append(igw)

    def security_groups(self, vpc_id: str) -> None:
        groups = [
            g
            for g in self.describe("describe_security_groups", "SecurityGroups", vpc_id)
            if g["GroupName"] != "default"
        ]
        ids = {g["GroupId"] for g in groups}
        # A group another group's rule refers to cannot be deleted: revoke those rules first.
        for group in groups:
            for direction, call in (
                ("IpPermissions", self.client.revoke_security_group_ingress),
                ("IpPermissionsEgress", self.client.revoke_security_group_egress),
            ):
                refs = [
                    {
                        **{k: rule[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in rule},
                        "UserIdGroupPairs": pairs,
                    }
                    for rule in group.get(direction, [])
                    if (
                        pairs := [
                            {k: p[k] for k in ("GroupId", "UserId") if k in p}
                            for p in rule.get("UserIdGroupPairs", [])
                            if p.get("GroupId") in ids
                        ]
                    )
                ]
                if refs:
                    self.attempt(
                        f"revoke the rules of {group['GroupId']} that refer to other groups",
                        call,
                        GroupId=group["GroupId"],
                        IpPermissions=refs,
                    )
        for group in groups:
            sg = group["GroupId"]
            if self.attempt(
                f"delete security group {sg} ({group['GroupName']})",
                self.client.delete_security_group,
                users=("group-id", sg),
                GroupId=sg,
            ):
                self.deleted["security_groups"].append(sg)

    def subnets(self, vpc_id: str) -> None:
        for subnet in self.describe("describe_subnets", "Subnets", vpc_id):
            subnet_id = subnet["SubnetId"]
            if self.attempt(
                f"delete subnet {subnet_id} ({subnet['CidrBlock']})",
                self.client.delete_subnet,
                users=("subnet-id", subnet_id),
                SubnetId=subnet_id,
            ):
                self.deleted["subnets"].append(subnet_id)

    def vpc(self, vpc_id: str) -> None:
        if self.attempt(
            f"delete VPC {vpc_id}", self.client.delete_vpc, users=("vpc-id", vpc_id), VpcId=vpc_id
        ):
            self.deleted["vpcs"].append(vpc_id)

    def detached_internet_gateways(self, stack_name: str) -> None:
        try:
            gateways = self.client.describe_internet_gateways(
                aws_retry=True, Filters=stack_filters(stack_name)
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg="Failed to list the stack's internet gateways")
        for gateway in gateways["InternetGateways"]:
            if not owned(gateway.get("Tags"), stack_name) or gateway.get("Attachments"):
                continue
            igw = gateway["InternetGatewayId"]
            if self.attempt(
                f"delete internet gateway {igw}",
                self.client.delete_internet_gateway,
                InternetGatewayId=igw,
            ):
                self.deleted["internet_gateways"].append(igw)

    def stack_vpcs(self, stack_name: str) -> list[str]:
        """IDs of the VPCs tagged hastack:stack=<stack_name> (a failed deploy may leave two)."""
        try:
            found = self.client.describe_vpcs(aws_retry=True, Filters=stack_filters(stack_name))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to look up the VPCs of stack {stack_name}")
        return [v["VpcId"] for v in found["Vpcs"] if owned(v.get("Tags"), stack_name)]

    def run(self, vpc_ids: list[str]) -> None:
        try:
            found = self.client.describe_vpcs(
                aws_retry=True, Filters=[{"Name": "vpc-id", "Values": vpc_ids}]
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to describe VPCs {', '.join(vpc_ids)}")
        for vpc_id in sorted(v["VpcId"] for v in found["Vpcs"]):
            self.route_tables(vpc_id)
            self.internet_gateways(vpc_id)
            self.security_groups(vpc_id)
            self.subnets(vpc_id)
            self.vpc(vpc_id)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "vpc_ids": {"type": "list", "elements": "str"},
            "stack_name": {"type": "str"},
            "timeout": {"type": "int", "default": 300},
            "max_delay": {"type": "int", "default": 20},
        },
        required_one_of=[("vpc_ids", "stack_name")],
        supports_check_mode=True,
    )
    if module.params["timeout"] <= 0 or module.params["max_delay"] <= 0:
        module.fail_json(msg="timeout and max_delay must be positive numbers of seconds")
    teardown = Teardown(module)
    vpc_ids = module.params["vpc_ids"]
    if vpc_ids is None:
        vpc_ids = teardown.stack_vpcs(module.params["stack_name"])
    if vpc_ids:
        teardown.run(vpc_ids)
    if module.params["stack_name"]:
        teardown.detached_internet_gateways(module.params["stack_name"])
    changed = any(teardown.deleted.values())
    module.exit_json(
        changed=changed, vpc_ids=vpc_ids, deleted=teardown.deleted, retries=teardown.retries
    )


if __name__ == "__main__":
    main()
