#!/usr/bin/python
# Apache-2.0 (see the project licence)

"""Find a stack's Auto Scaling groups by tag, force-delete them and wait until they are gone.

Why not amazon.aws.autoscaling_group state=absent: it sets the sizes to 0, polls the
instances every 10 s, then polls the group every 5 s, so even an emulator that ends instances
at once costs 10-15 s per group. This module does the same steps (scale to zero, wait for the
instances, delete, wait for the group) polling once a second, and the lookup and the delete
are one module call instead of two.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: asg_delete
short_description: Delete every Auto Scaling group of a stack and wait until they are gone
description:
  - Lists the region's Auto Scaling groups and selects those tagged C(hastack:stack=<stack_name>).
  - Scales each group not already being deleted to zero, polls every I(poll_interval) seconds
    until their instances are gone, calls DeleteAutoScalingGroup (with ForceDelete, so an
    instance launched meanwhile does not stop it) and polls until no group is listed.
  - Check mode lists what would be deleted and calls nothing that changes AWS.
  - IAM actions autoscaling:DescribeAutoScalingGroups, autoscaling:UpdateAutoScalingGroup,
    autoscaling:DeleteAutoScalingGroup.
  - "Upstream: amazon.aws.autoscaling_group C(state=absent) sleeps a fixed 10 s between looks at
    the instances and 5 s between looks at the group (10-15 s a group when AWS is done sooner),
    and deletes one group a run, found by name, not by tag."
options:
  stack_name:
    description: Value of the C(hastack:stack) tag of the groups to delete.
    type: str
    required: true
  wait_timeout:
    description: Seconds to wait for the groups (and their instances) to be gone.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two looks at the groups.
    type: float
    default: 1
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Delete the stack's groups
  hastack.stack.asg_delete:
    stack_name: shop-prod
    wait_timeout: 600
"""

RETURN = r"""
deleted:
  description: Names of the groups deleted (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
"""

import contextlib
import time

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.hastack.stack.plugins.module_utils.tags import owned, stack_filters
from ansible_collections.hastack.stack.plugins.module_utils.waits import Deadline


def _owned(groups: list[dict], stack_name: str) -> list[dict]:
    """Select by tag client-side as well: a filter an API ignores must not widen the delete."""
    return [g for g in groups if owned(g.get("Tags"), stack_name)]


def _describe(client, **kwargs) -> list[dict]:
    paginator = client.get_paginator("describe_auto_scaling_groups")
    pages = paginator.paginate(**kwargs).build_full_result()
    return pages.get("AutoScalingGroups", [])


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "stack_name": {"type": "str", "required": True},
            "wait_timeout": {"type": "int", "default": 600},
            "poll_interval": {"type": "float", "default": 1},
        },
        supports_check_mode=True,
    )
    stack_name = module.params["stack_name"]
    client = module.client("autoscaling", retry_decorator=AWSRetry.jittered_backoff())
    describe = AWSRetry.jittered_backoff()(_describe)
    try:
        groups = _owned(
            describe(client, Filters=stack_filters(stack_name)),
            stack_name,
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to list the Auto Scaling groups")
    names = sorted(g["AutoScalingGroupName"] for g in groups)
    if not names or module.check_mode:
        module.exit_json(changed=bool(names), deleted=names)

    deadline = Deadline(module.params["wait_timeout"])

    def wait(what: str, done) -> None:
        while True:
            try:
                left = describe(client, AutoScalingGroupNames=names)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg="Failed to read the Auto Scaling groups being deleted")
            if done(left):
                return
            if deadline.passed():
                module.fail_json(
                    msg=(
                        f"{what}: Auto Scaling group(s) "
                        f"{', '.join(g['AutoScalingGroupName'] for g in left)} not done after "
                        f"wait_timeout={module.params['wait_timeout']}s. "
                        "Run the destroy again, or raise asg_wait_timeout."
                    ),
                    deleted=names,
                )
            time.sleep(module.params["poll_interval"])

    def call(method: str, name: str, **kwargs) -> None:
        try:
            getattr(client, method)(AutoScalingGroupName=name, aws_retry=True, **kwargs)
        except botocore.exceptions.ClientError as e:
            # Gone meanwhile (another run) or already being deleted: the waits settle it.
            message = e.response.get("Error", {}).get("Message", "")
            if "not found" not in message and "in progress" not in message:
                module.fail_json_aws(e, msg=f"Failed to {method} {name}")
        except botocore.exceptions.BotoCoreError as e:
            module.fail_json_aws(e, msg=f"Failed to {method} {name}")

    # As AWS asks: scale to zero, wait until the instances are gone (their network interfaces
    # hold the security groups and subnets), then delete the group.
    active = [g for g in groups if g.get("Status") != "Delete in progress"]
    for group in active:
        if (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) != (0, 0, 0):
            call(
                "update_auto_scaling_group",
                group["AutoScalingGroupName"],
                MinSize=0,
                MaxSize=0,
                DesiredCapacity=0,
            )
    wait("instances still running", lambda left: not any(g.get("Instances") for g in left))
    for group in active:
        # ForceDelete: an instance launched meanwhile does not stop the delete.
        call("delete_auto_scaling_group", group["AutoScalingGroupName"], ForceDelete=True)
    wait("still deleting", lambda left: not left)
    module.exit_json(changed=True, deleted=names)


if __name__ == "__main__":
    main()
