#!/usr/bin/python
# Apache-2.0 (see the project licence)

"""Delete a stack's load balancers, listeners and target groups, then wait for the interfaces.

Why one module: the destroy used to run six (info, attributes, elb_application_lb,
elb_target_group_info, elb_target_group, ec2_security_group_info, ec2_eni_info), each costing
a module start-up, and the load balancer and target group ones once per resource. This module
does the same steps in the same order in one run, under one deadline.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: alb_teardown
short_description: Delete a stack's load balancers and target groups, then wait for their interfaces
description:
  - Lists the region's load balancers and selects those tagged C(hastack:stack=<stack_name>)
    and C(hastack:role=alb) (ELBv2 has no server-side tag filter).
  - Fails before deleting anything when one has deletion protection on, unless
    I(confirm_delete_protected) is true; then it turns protection off first.
  - Deletes each load balancer's listeners, then the load balancer, and waits until
    DescribeLoadBalancers no longer returns it.
  - Deletes the stack's target groups (same two tags), retrying C(ResourceInUse) with jittered
    backoff (a target group is in use until its listeners are gone).
  - Waits until no network interface uses the stack's load balancer security groups (on AWS a
    deleted load balancer's interfaces linger for a while). The groups themselves are left to
    the vpc role.
  - All the waits share one deadline, I(wait_timeout) seconds after the module starts.
  - Check mode finds everything, reports what would be deleted, changes nothing and waits for
    nothing. A second run finds nothing and changes nothing.
  - "IAM actions: elasticloadbalancing:DescribeLoadBalancers, elasticloadbalancing:DescribeTags,
    elasticloadbalancing:DescribeLoadBalancerAttributes,
    elasticloadbalancing:ModifyLoadBalancerAttributes, elasticloadbalancing:DescribeListeners,
    elasticloadbalancing:DeleteListener, elasticloadbalancing:DeleteLoadBalancer,
    elasticloadbalancing:DescribeTargetGroups, elasticloadbalancing:DeleteTargetGroup,
    ec2:DescribeSecurityGroups, ec2:DescribeNetworkInterfaces."
  - "Upstream: amazon.aws.elb_application_lb and community.aws.elb_target_group delete one
    resource per module run and by name (ELBv2 has no tag filter), elb_target_group does not retry
    C(ResourceInUse) while listeners go, and nothing waits for a deleted load balancer's network
    interfaces, which block the VPC's deletion."
options:
  stack_name:
    description: Value of the C(hastack:stack) tag of the resources to delete.
    type: str
    required: true
  confirm_delete_protected:
    description:
      - Turn deletion protection off, then delete. Without it, a protected load balancer fails
        the run before anything is deleted.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds all the waits together may take (load balancers gone, target groups free,
        network interfaces gone).
    type: int
    default: 600
  wait_delay:
    description:
      - Seconds between two looks at the network interfaces, and the longest pause between
        two other attempts.
    type: int
    default: 10
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Delete the stack's load balancer tier
  hastack.stack.alb_teardown:
    stack_name: shop-prod
    confirm_delete_protected: true
    wait_timeout: 600
    wait_delay: 10
"""

RETURN = r"""
refused:
  description: True when nothing was deleted because a load balancer has deletion protection.
  returned: when refused
  type: bool
load_balancers:
  description: Names of the load balancers deleted (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
target_groups:
  description: Names of the target groups deleted (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
security_group_ids:
  description: The stack's load balancer security groups whose network interfaces were waited on.
  returned: always
  type: list
  elements: str
"""

import contextlib
from typing import Any, NoReturn

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore.exceptions

    AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.hastack.stack.plugins.module_utils.tags import (
    elbv2_tags,
    owned,
    stack_filters,
)
from ansible_collections.hastack.stack.plugins.module_utils.waits import (
    Deadline,
    error_code,
    poll,
)

GONE = ("LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound")


@AWSRetry.jittered_backoff()
def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict]:
    return client.get_paginator(operation).paginate(**kwargs).build_full_result().get(key, [])


class Teardown:
    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.stack = module.params["stack_name"]
        self.timeout = module.params["wait_timeout"]
        self.delay = module.params["wait_delay"]
        self.deadline = Deadline(self.timeout)
        retry = AWSRetry.jittered_backoff()
        self.elbv2 = module.client("elbv2", retry_decorator=retry)
        self.ec2 = module.client("ec2", retry_decorator=retry)
        self.changed = False
        self.load_balancers: list[str] = []
        self.target_groups: list[str] = []
        self.security_group_ids: list[str] = []

    def fail(self, msg: str, error: Exception | None = None, **outcome: bool) -> NoReturn:
        """Fail with what was already done, so a rerun's operator knows where it stopped;
        ``outcome``: what the failure means (``refused=True``)."""
        done = {
            **outcome,
            "changed": self.changed,
            "load_balancers": self.load_balancers,
            "target_groups": self.target_groups,
            "security_group_ids": self.security_group_ids,
        }
        if error is not None:
            self.module.fail_json_aws(error, msg=msg, **done)
        self.module.fail_json(msg=msg, **done)
        raise AssertionError("unreachable")  # fail_json exits

    def owned(self, resources: list[dict], arn_key: str, kind: str) -> list[dict]:
        """The resources tagged with the stack and hastack:role=alb (DescribeTags, 20 at a time)."""
        try:
            tags = elbv2_tags(self.elbv2, [r[arn_key] for r in resources], GONE)
        except AWS_ERRORS as e:
            self.fail(f"Failed to read the tags of the region's {kind}", e)
        return [r for r in resources if owned(tags.get(r[arn_key], {}), self.stack, "alb")]

    # -- load balancers -------------------------------------------------------------------

    def find_load_balancers(self) -> list[dict]:
        try:
            everything = _paginate(self.elbv2, "describe_load_balancers", "LoadBalancers")
        except AWS_ERRORS as e:
            self.fail("Failed to list the load balancers", e)
        mine = self.owned(everything, "LoadBalancerArn", "load balancers")
        for lb in mine:
            try:
                attributes = self.elbv2.describe_load_balancer_attributes(
                    aws_retry=True, LoadBalancerArn=lb["LoadBalancerArn"]
                )["Attributes"]
            except AWS_ERRORS as e:
                name = lb["LoadBalancerName"]
                self.fail(f"Failed to read the attributes of load balancer {name}", e)
            values = {a["Key"]: a["Value"] for a in attributes}
            lb["protected"] = values.get("deletion_protection.enabled") == "true"
        return sorted(mine, key=lambda lb: lb["LoadBalancerName"])

    def refuse_or_unprotect(self, lbs: list[dict]) -> None:
        protected = [lb for lb in lbs if lb["protected"]]
        if protected and not self.module.params["confirm_delete_protected"]:
            names = ", ".join(lb["LoadBalancerName"] for lb in protected)
            self.fail(
                f"Load balancer {names} has deletion protection on (alb_deletion_protection); "
                "nothing was deleted. To delete it anyway, run again with "
                "alb_confirm_delete_protected=true (it turns protection off, then deletes).",
                refused=True,
            )
        for lb in protected:
            self.changed = True
            if self.module.check_mode:
                continue
            try:
                self.elbv2.modify_load_balancer_attributes(
                    aws_retry=True,
                    LoadBalancerArn=lb["LoadBalancerArn"],
                    Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}],
                )
            except AWS_ERRORS as e:
                name = lb["LoadBalancerName"]
                self.fail(f"Failed to turn deletion protection off on load balancer {name}", e)

    def delete_load_balancers(self, lbs: list[dict]) -> None:
        for lb in lbs:
            name, arn = lb["LoadBalancerName"], lb["LoadBalancerArn"]
            if self.module.check_mode:
                self.load_balancers.append(name)
                self.changed = True
                continue
            # Listeners first, as elb_application_lb does (AWS would delete them with the LB).
            try:
                listeners = _paginate(
                    self.elbv2, "describe_listeners", "Listeners", LoadBalancerArn=arn
                )
                for listener in listeners:
                    self.delete_listener(listener["ListenerArn"])
                self.elbv2.delete_load_balancer(aws_retry=True, LoadBalancerArn=arn)
                self.load_balancers.append(name)
                self.changed = True
            except AWS_ERRORS as e:
                if error_code(e) == "LoadBalancerNotFound":
                    continue  # deleted meanwhile
                if error_code(e) == "OperationNotPermitted":
                    self.fail(
                        f"AWS refused to delete load balancer {name}: deletion protection was "
                        "turned on during the destroy (alb_deletion_protection). Run again with "
                        "alb_confirm_delete_protected=true.",
                        e,
                    )
                self.fail(f"Failed to delete load balancer {name} or its listeners", e)
        if not self.module.check_mode:
            self.wait_load_balancers_gone(lbs)

    def delete_listener(self, arn: str) -> None:
        try:
            self.elbv2.delete_listener(aws_retry=True, ListenerArn=arn)
            self.changed = True
        except AWS_ERRORS as e:
            if error_code(e) != "ListenerNotFound":  # deleted meanwhile: fine
                raise

    def wait_load_balancers_gone(self, lbs: list[dict]) -> None:
        pending = {lb["LoadBalancerArn"]: lb["LoadBalancerName"] for lb in lbs}
        delay = 1.0
        while True:
            for arn in list(pending):
                try:
                    self.elbv2.describe_load_balancers(aws_retry=True, LoadBalancerArns=[arn])
                except AWS_ERRORS as e:
                    if error_code(e) != "LoadBalancerNotFound":
                        self.fail(f"Failed to read load balancer {pending[arn]} being deleted", e)
                    del pending[arn]
            if not pending:
                return
            if self.deadline.passed():
                self.fail(
                    f"Load balancer {', '.join(sorted(pending.values()))} is still listed "
                    f"{self.timeout}s after its deletion began (alb_wait_timeout). Run the "
                    "destroy again, or raise alb_wait_timeout."
                )
            delay = self.deadline.backoff(delay, self.delay)

    # -- target groups --------------------------------------------------------------------

    def delete_target_groups(self) -> None:
        try:
            everything = _paginate(self.elbv2, "describe_target_groups", "TargetGroups")
        except AWS_ERRORS as e:
            self.fail("Failed to list the target groups", e)
        for tg in sorted(
            self.owned(everything, "TargetGroupArn", "target groups"),
            key=lambda tg: tg["TargetGroupName"],
        ):
            if self.module.check_mode or self.delete_target_group(tg):
                self.target_groups.append(tg["TargetGroupName"])
                self.changed = True

    def delete_target_group(self, tg: dict) -> bool:
        """Delete one target group, retrying ResourceInUse; False if it was already gone."""
        name = tg["TargetGroupName"]
        delay = 1.0
        while True:
            try:
                self.elbv2.delete_target_group(aws_retry=True, TargetGroupArn=tg["TargetGroupArn"])
                return True
            except AWS_ERRORS as e:
                code = error_code(e)
                if code == "TargetGroupNotFound":
                    return False
                if code != "ResourceInUse":
                    self.fail(f"Failed to delete target group {name}", e)
                if self.deadline.passed():
                    users = ", ".join(tg.get("LoadBalancerArns", [])) or "a listener or rule"
                    self.fail(
                        f"Target group {name} is still in use (ResourceInUse, by {users}) after "
                        f"alb_wait_timeout={self.timeout}s. Delete what uses it, then run the "
                        "destroy again, or raise alb_wait_timeout.",
                        e,
                    )
                delay = self.deadline.backoff(delay, self.delay)

    # -- security groups' network interfaces ----------------------------------------------

    def find_security_groups(self) -> None:
        try:
            groups = _paginate(
                self.ec2,
                "describe_security_groups",
                "SecurityGroups",
                Filters=stack_filters(self.stack, "alb"),
            )
        except AWS_ERRORS as e:
            self.fail("Failed to list the stack's load balancer security groups", e)
        for group in groups:
            # Selected client-side too: a filter an API ignores must not widen the wait.
            if owned(group.get("Tags"), self.stack, "alb"):
                self.security_group_ids.append(group["GroupId"])
        self.security_group_ids.sort()

    def wait_interfaces_gone(self) -> None:
        if not self.security_group_ids or self.module.check_mode:
            return
        filters = [{"Name": "group-id", "Values": self.security_group_ids}]

        def look() -> list[dict]:
            try:
                return _paginate(
                    self.ec2,
                    "describe_network_interfaces",
                    "NetworkInterfaces",
                    Filters=filters,
                )
            except AWS_ERRORS as e:
                self.fail("Failed to list the network interfaces of the load balancer's group", e)

        def timed_out(enis: list[dict]) -> NoReturn:
            ids = ", ".join(e["NetworkInterfaceId"] for e in enis)
            what = "; ".join(
                e.get("Description") or e.get("InterfaceType") or "no description" for e in enis
            )
            self.fail(
                f"Network interfaces {ids} still use the load balancer security group "
                f"{', '.join(self.security_group_ids)} after alb_wait_timeout={self.timeout}s "
                f"({what}). Run the destroy again, or raise alb_wait_timeout."
            )

        poll(self.deadline, look, lambda enis: not enis, self.delay, timed_out)

    def run(self) -> None:
        lbs = self.find_load_balancers()
        self.refuse_or_unprotect(lbs)  # before anything is deleted
        self.delete_load_balancers(lbs)
        self.delete_target_groups()
        self.find_security_groups()
        self.wait_interfaces_gone()


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "stack_name": {"type": "str", "required": True},
            "confirm_delete_protected": {"type": "bool", "default": False},
            "wait_timeout": {"type": "int", "default": 600},
            "wait_delay": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    if module.params["wait_timeout"] < 0 or module.params["wait_delay"] < 1:
        module.fail_json(
            msg=(
                f"wait_timeout={module.params['wait_timeout']} and "
                f"wait_delay={module.params['wait_delay']}: use 0 or more seconds for "
                "alb_wait_timeout and 1 or more for alb_wait_delay."
            )
        )
    teardown = Teardown(module)
    teardown.run()
    module.exit_json(
        changed=teardown.changed,
        load_balancers=teardown.load_balancers,
        target_groups=teardown.target_groups,
        security_group_ids=teardown.security_group_ids,
    )


if __name__ == "__main__":
    main()
