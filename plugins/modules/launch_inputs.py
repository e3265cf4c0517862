#!/usr/bin/python
# Apache-2.0 (see the project licence)

"""Read what the launch template is built from: the account, the AMI id, the AMI itself and
the app's secret parameters; create the missing secrets if asked, once the AMI is known good.

Why: the role made four module runs (aws_caller_info, the SSM parameter lookup, ec2_ami_info
and the secrets check) for these reads; one run makes them all. Secrets are created last and
only when the AMI fits (exactly one image, available, EBS root no larger than
I(root_volume_size)), so a deploy with a bad AMI still creates nothing.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: launch_inputs
short_description: The account, the AMI (given or named by an SSM parameter), the app secrets
description:
  - Calls GetCallerIdentity; reads I(ami_ssm_parameter) when I(ami_id) is empty; reads the AMI
    with DescribeImages by an C(image-id) filter (an unknown id gives no image, not an error).
  - Reads every parameter of I(secrets) with GetParameters (no decryption). A missing one fails
    the task naming it, or with I(create_missing_secrets) gets a random 50-character
    SecureString value (PutParameter without overwrite), but only when the AMI is usable;
    otherwise the caller's AMI check fails first and nothing is created.
  - Check mode reads only and reports the secrets it would create. Values are never returned.
  - IAM actions sts:GetCallerIdentity, ssm:GetParameter, ec2:DescribeImages, ssm:GetParameters,
    ssm:PutParameter, ssm:AddTagsToResource.
  - "Upstream: nothing is missing (aws_caller_info, the amazon.aws.ssm_parameter lookup,
    ec2_ami_info and community.aws.ssm_parameter do these reads and writes); this module saves
    their four module start-ups, and aws_caller_info's AWSRetry on top of botocore's retries."
options:
  ami_id: {description: AMI id; empty reads I(ami_ssm_parameter)., type: str, default: ""}
  ami_ssm_parameter: {description: SSM parameter holding an AMI id., type: str, default: ""}
  root_volume_size:
    description: Root volume size (GiB) the AMI's root snapshot must fit.
    type: int
    default: 0
  secrets:
    description: Environment variable name to SSM parameter name, as C(app_secrets).
    type: dict
    default: {}
  create_missing_secrets: {description: Create missing secret parameters., type: bool, default: no}
  secrets_description: {description: Description of created parameters., type: str, default: ""}
  secrets_tags: {description: Tags of created parameters., type: dict, default: {}}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Account and AMI
  hastack.stack.launch_inputs:
    ami_ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
"""

RETURN = r"""
account: {description: Account id., returned: always, type: str}
partition: {description: The account's partition (aws ...)., returned: always, type: str}
ami_id: {description: The AMI id used., returned: always, type: str}
images: {description: The AMI as ec2_ami_info gives it., returned: always, type: list}
ami_usable:
  description: Exactly one image, available, with an EBS root that fits.
  returned: always
  type: bool
created: {description: Secret parameters created (or that would be)., returned: always, type: list}
secrets_pending:
  description: Missing secrets not created because the AMI is not usable.
  returned: always
  type: list
"""

import contextlib

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.hastack.stack.plugins.module_utils.app_secrets import (
    create_secrets,
    fail_missing,
    missing_secrets,
)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "ami_id": {"type": "str", "default": ""},
            "ami_ssm_parameter": {"type": "str", "default": ""},
            "root_volume_size": {"type": "int", "default": 0},
            "secrets": {"type": "dict", "default": {}, "no_log": False},
            "create_missing_secrets": {"type": "bool", "default": False},
            "secrets_description": {"type": "str", "default": "", "no_log": False},
            "secrets_tags": {"type": "dict", "default": {}, "no_log": False},
        },
        supports_check_mode=True,
    )
    retry = AWSRetry.jittered_backoff()
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    ssm = module.client("ssm", retry_decorator=retry)  # the AMI parameter and the secrets
    try:
        caller = module.client("sts", retry_decorator=retry).get_caller_identity(aws_retry=True)
    except errors as e:
        module.fail_json_aws(e, msg="Failed to look up the account")
    ami_id = module.params["ami_id"]
    if not ami_id:
        name = module.params["ami_ssm_parameter"]
        try:
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
    p = module.params
    missing = []
    if p["secrets"]:
        missing = missing_secrets(module, ssm, p["secrets"])
    if missing and not p["create_missing_secrets"]:
        fail_missing(module, p["secrets"], missing)
    usable = ami_usable(images, p["root_volume_size"])
    created = missing if usable else []
    if created and not module.check_mode:
        create_secrets(module, ssm, created, p["secrets_description"], p["secrets_tags"])
    module.exit_json(
        changed=bool(created),
        account=caller["Account"],
        partition=caller["Arn"].split(":")[1],
        ami_id=ami_id,
        images=[camel_dict_to_snake_dict(i, ignore_list=["Tags"]) for i in images],
        ami_usable=usable,
        created=created,
        secrets_pending=[] if usable else missing,
    )


def ami_usable(images: list, root_volume_size: int) -> bool:
    """Exactly one image, available, EBS-backed, its root snapshot within root_volume_size.

    The role's assert makes the same checks and words the error; this only decides whether
    secrets may be created before that assert runs.
    """
    if len(images) != 1:
        return False
    image = images[0]
    if image.get("State") != "available" or image.get("RootDeviceType") != "ebs":
        return False
    root = next(
        (
            m.get("Ebs", {}).get("VolumeSize", 0)
            for m in image.get("BlockDeviceMappings", [])
            if m.get("DeviceName") == image.get("RootDeviceName")
        ),
        0,
    )
    return root <= root_volume_size


if __name__ == "__main__":
    main()
