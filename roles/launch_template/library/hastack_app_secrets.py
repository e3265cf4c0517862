#!/usr/bin/python
# Apache-2.0 (see the project licence)
# ruff: noqa: E402  (Ansible modules put DOCUMENTATION before their imports)
"""Check that the app's secret SSM parameters exist, and create the missing ones, in one call.

Why: the role used community.aws.ssm_parameter once per secret to create the missing ones
and an ssm_parameter lookup per secret to check them; this reads them all with one
GetParameters (never decrypting) and writes only the missing ones. Its absent state finds
the parameters hastack generated (by the stack's tag) and deletes them, also in one call.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: hastack_app_secrets
short_description: The app's secret SSM parameters exist (created with random values if asked)
description:
  - C(present) reads every parameter of I(secrets) with GetParameters (no decryption). A
    missing one fails the task naming it, or with I(create_missing) gets a random 50-character
    SecureString value (PutParameter without overwrite; an existing value is never touched).
  - C(absent) deletes every parameter tagged C(hastack:stack=<stack_name>), i.e. those it
    generated; a secret the team created is never touched.
  - Check mode reads only and reports what would change. Values are never returned or logged.
  - IAM actions ssm:GetParameters, ssm:PutParameter, ssm:AddTagsToResource,
    ssm:DescribeParameters, ssm:ListTagsForResource, ssm:DeleteParameter.
options:
  secrets:
    description: Environment variable name to SSM parameter name, as C(app_secrets).
    type: dict
    default: {}
  create_missing: {description: Create missing parameters., type: bool, default: false}
  description: {description: Description of created parameters., type: str, default: ""}
  tags: {description: Tags of created parameters., type: dict, default: {}}
  stack_name: {description: Stack whose generated parameters C(absent) deletes., type: str}
  state: {description: present or absent., type: str, choices: [present, absent], default: present}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack
"""

EXAMPLES = r"""
- name: Every secret exists
  hastack_app_secrets:
    secrets: {DJANGO_SECRET_KEY: /shop-prod/django-secret-key}
"""

RETURN = r"""
created: {description: Parameters created (or that would be)., returned: always, type: list}
deleted: {description: Parameters deleted (or that would be)., returned: always, type: list}
"""

import contextlib
import secrets as random
import string

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

STACK_TAG = "hastack:stack"
ALPHABET = string.ascii_letters + string.digits


def present(module: AnsibleAWSModule, ssm) -> None:
    p = module.params
    wanted = p["secrets"]
    names = sorted(set(wanted.values()))
    missing: set[str] = set()
    try:
        for i in range(0, len(names), 10):  # GetParameters takes at most 10 names
            answer = ssm.get_parameters(
                aws_retry=True, Names=names[i : i + 10], WithDecryption=False
            )
            missing.update(answer.get("InvalidParameters", []))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to read the app secret parameters")
    if missing and not p["create_missing"]:
        key, name = next((k, v) for k, v in sorted(wanted.items()) if v in missing)
        module.fail_json(
            msg=(
                f"app_secrets.{key}: SSM parameter {name} does not exist in {module.region}. "
                "Create it before deploying, e.g. aws ssm put-parameter --type SecureString "
                f"--name {name} --value '...', or set launch_template_create_missing_secrets=true "
                "to have hastack generate a random one."
            ),
            missing=sorted(missing),
        )
    created = sorted(missing)
    if not module.check_mode:
        tags = [{"Key": str(k), "Value": str(v)} for k, v in p["tags"].items()]
        for name in created:
            try:
                ssm.put_parameter(
                    aws_retry=True,
                    Name=name,
                    Description=p["description"][:1024],
                    Value="".join(random.choice(ALPHABET) for _ in range(50)),
                    Type="SecureString",
                    Overwrite=False,
                    **({"Tags": tags} if tags else {}),
                )
            except is_boto3_error_code("ParameterAlreadyExists"):
                # A retried put whose first attempt landed, or a concurrent run: it exists.
                continue
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to create parameter {name}")
    module.exit_json(changed=bool(created), created=created, deleted=[])


def absent(module: AnsibleAWSModule, ssm) -> None:
    stack = module.params["stack_name"]
    if not stack:
        module.fail_json(msg="stack_name is required with state=absent")
    tagged = [{"Key": f"tag:{STACK_TAG}", "Option": "Equals", "Values": [stack]}]
    try:
        paginator = ssm.get_paginator("describe_parameters")
        found = (
            paginator.paginate(ParameterFilters=tagged).build_full_result().get("Parameters", [])
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to list the stack's parameters")
    doomed = []
    for parameter in found:
        # A filter an API ignores must not widen the delete: read each candidate's tags.
        try:
            tags = ssm.list_tags_for_resource(
                aws_retry=True, ResourceType="Parameter", ResourceId=parameter["Name"]
            )["TagList"]
        except is_boto3_error_code(["InvalidResourceId", "ParameterNotFound"]):
            continue
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to read the tags of {parameter['Name']}")
        if any(t["Key"] == STACK_TAG and t["Value"] == stack for t in tags):
            doomed.append(parameter["Name"])
    if not module.check_mode:
        for name in doomed:
            try:
                ssm.delete_parameter(aws_retry=True, Name=name)
            except is_boto3_error_code("ParameterNotFound"):
                continue
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to delete parameter {name}")
    module.exit_json(changed=bool(doomed), created=[], deleted=sorted(doomed))


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "secrets": {"type": "dict", "default": {}},
            "create_missing": {"type": "bool", "default": False},
            "description": {"type": "str", "default": ""},
            "tags": {"type": "dict", "default": {}},
            "stack_name": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        supports_check_mode=True,
    )
    ssm = module.client("ssm", retry_decorator=AWSRetry.jittered_backoff())
    (present if module.params["state"] == "present" else absent)(module, ssm)


if __name__ == "__main__":
    main()
