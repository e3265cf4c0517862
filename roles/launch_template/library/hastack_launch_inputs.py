#!/usr/bin/python
# Apache-2.0 (see the project licence)
# ruff: noqa: E402  (Ansible modules put DOCUMENTATION before their imports)
"""Read what the launch template is built from: the account, the AMI id and the AMI itself.

Why: the role made three module runs (aws_caller_info, the SSM parameter lookup and
ec2_ami_info) for three reads; one run makes them all. Read only.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: hastack_launch_inputs
short_description: The account, and the AMI given or named by a public SSM parameter
description:
  - Calls GetCallerIdentity; reads I(ami_ssm_parameter) when I(ami_id) is empty; reads the AMI
    with DescribeImages by an C(image-id) filter (an unknown id gives no image, not an error).
  - Read only (runs in check mode too).
  - IAM actions sts:GetCallerIdentity, ssm:GetParameter, ec2:DescribeImages.
options:
  ami_id: {description: AMI id; empty reads I(ami_ssm_parameter)., type: str, default: ""}
  ami_ssm_parameter: {description: SSM parameter holding an AMI id., type: str, default: ""}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack
"""

EXAMPLES = r"""
- name: Account and AMI
  hastack_launch_inputs:
    ami_ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
"""

RETURN = r"""
account: {description: Account id., returned: always, type: str}
partition: {description: The account's partition (aws ...)., returned: always, type: str}
ami_id: {description: The AMI id used., returned: always, type: str}
images: {description: The AMI as ec2_ami_info gives it., returned: always, type: list}
"""

import contextlib

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "ami_id": {"type": "str", "default": ""},
            "ami_ssm_parameter": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    retry = AWSRetry.jittered_backoff()
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    try:
        caller = module.client("sts", retry_decorator=retry).get_caller_identity(aws_retry=True)
    except errors as e:
        module.fail_json_aws(e, msg="Failed to look up the account")
    ami_id = module.params["ami_id"]
    if not ami_id:
        name = module.params["ami_ssm_parameter"]
        try:
            ssm = module.client("ssm", retry_decorator=retry)
            ami_id = ssm.get_parameter(aws_retry=True, Name=name)["Parameter"]["Value"]
        except is_boto3_error_code("ParameterNotFound"):
            module.fail_json(
                msg=f"SSM parameter {name} (launch_template_ami_ssm_parameter) does not exist in "
                f"{module.region}; name an AMI parameter of this region or set "
                "launch_template_ami_id."
            )
        except errors as e:
            module.fail_json_aws(e, msg=f"Failed to read SSM parameter {name}")
    try:
        ec2 = module.client("ec2", retry_decorator=retry)
        images = ec2.describe_images(
            aws_retry=True, Filters=[{"Name": "image-id", "Values": [ami_id]}]
        )["Images"]
    except errors as e:
        module.fail_json_aws(e, msg=f"Failed to read AMI {ami_id}")
    module.exit_json(
        changed=False,
        account=caller["Account"],
        partition=caller["Arn"].split(":")[1],
        ami_id=ami_id,
        images=[camel_dict_to_snake_dict(i, ignore_list=["Tags"]) for i in images],
    )


if __name__ == "__main__":
    main()
