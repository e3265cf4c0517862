#!/usr/bin/python
"""Read an Auto Scaling group's scaling policies (amazon.aws has no info module for them)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: autoscaling_policy_info
short_description: List the scaling policies of an Auto Scaling group
description:
  - Returns every scaling policy of one Auto Scaling group, as DescribePolicies gives them.
  - Read only; used by verify playbooks and check.yml to audit what AWS holds.
  - "Upstream: neither amazon.aws nor community.aws has an info module for Auto Scaling scaling
    policies (community.aws.autoscaling_policy only writes)."
options:
  asg_name:
    description: Name of the Auto Scaling group.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Read the group's policies
  hastack.stack.autoscaling_policy_info:
    asg_name: shop-prod-asg
  register: policies
"""

RETURN = r"""
policies:
  description: The group's scaling policies, keys in snake_case.
  returned: always
  type: list
  elements: dict
"""

import contextlib

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={"asg_name": {"type": "str", "required": True}}, supports_check_mode=True
    )
    client = module.client("autoscaling", retry_decorator=AWSRetry.jittered_backoff())
    try:
        paginator = client.get_paginator("describe_policies")
        group = module.params["asg_name"]
        pages = paginator.paginate(AutoScalingGroupName=group).build_full_result()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to describe scaling policies")
    policies = [
        camel_dict_to_snake_dict(p, ignore_list=["Dimensions"])
        for p in pages.get("ScalingPolicies", [])
    ]
    module.exit_json(changed=False, policies=policies)


if __name__ == "__main__":
    main()
