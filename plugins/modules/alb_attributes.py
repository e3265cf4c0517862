#!/usr/bin/python
# Apache-2.0 (see the project licence)
"""Set attributes of an ELBv2 load balancer, changing only those that differ.

Why not elb_application_lb's own options: it reads every attribute it is given with
``attributes[key]``, and moto (the embedded emulator) returns ``idle_timeout.timeout_seconds``
and ``routing.http.drop_invalid_header_fields.enabled`` only once they were set, so the module
fails with a KeyError on the emulator. AWS always returns every attribute; this module treats a
missing attribute as different and behaves the same on both.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: alb_attributes
short_description: Set attributes of an Application Load Balancer
author: hastack maintainers (@hastack)
description:
  - Compares the given attributes with the load balancer's and modifies only those that differ.
  - An attribute the API does not return counts as different.
  - "Upstream: amazon.aws.elb_application_lb compares its few attributes by indexing what
    DescribeLoadBalancerAttributes returned, so it fails with a KeyError where an attribute is
    listed only once set (moto); on real AWS it works, and this module only saves a module
    start-up and takes any attribute key."
options:
  load_balancer_arn:
    description: ARN of the load balancer.
    type: str
    required: true
  attributes:
    description:
      - Attribute keys as the ELBv2 API names them (C(idle_timeout.timeout_seconds)), with values.
      - Booleans are written as C(true)/C(false), numbers as strings.
    type: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Drop invalid headers and close idle connections after 60 s
  hastack.stack.alb_attributes:
    load_balancer_arn: "{{ lb.load_balancer_arn }}"
    attributes:
      routing.http.drop_invalid_header_fields.enabled: true
      idle_timeout.timeout_seconds: 60
"""

RETURN = r"""
attributes:
  description: Every attribute of the load balancer after the change, keys as the API names them.
  returned: always
  type: dict
modified:
  description: The attributes that were (or, in check mode, would be) changed.
  returned: always
  type: dict
"""

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.elb_utils import (
    AnsibleELBv2Error,
    describe_load_balancer_attributes,
    modify_load_balancer_attributes,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def _api_value(value: Any) -> str:
    """The string the API stores: booleans lowercase, everything else as str()."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "load_balancer_arn": {"type": "str", "required": True},
            "attributes": {"type": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    client = module.client("elbv2")
    arn = module.params["load_balancer_arn"]
    wanted = {key: _api_value(value) for key, value in module.params["attributes"].items()}

    try:
        current = {a["Key"]: a["Value"] for a in describe_load_balancer_attributes(client, arn)}
        modified = {key: value for key, value in wanted.items() if current.get(key) != value}
        if modified and not module.check_mode:
            modify_load_balancer_attributes(
                client, arn, [{"Key": key, "Value": value} for key, value in modified.items()]
            )
            current = {a["Key"]: a["Value"] for a in describe_load_balancer_attributes(client, arn)}
    except AnsibleELBv2Error as e:
        module.fail_json_aws_error(e)

    module.exit_json(changed=bool(modified), attributes=current, modified=modified)


if __name__ == "__main__":
    main()
