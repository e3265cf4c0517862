# Apache-2.0 (see the project licence)
"""The app's secret SSM parameters: check they exist, create the missing ones, delete the
generated ones. Shared by plugins/modules/launch_inputs.py (present, in the same run as the
other reads) and plugins/modules/app_teardown.py (absent).

Values are never returned or logged: parameters are read without decryption and a created
value goes only to PutParameter.
"""

from __future__ import annotations

import contextlib
import secrets as random
import string

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.hastack.stack.plugins.module_utils.tags import STACK_TAG, owned

ALPHABET = string.ascii_letters + string.digits


def _errors():
    return (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


def missing_secrets(module, ssm, wanted: dict) -> list[str]:
    """Names of the parameters of ``wanted`` (env name -> parameter) that do not exist.

    One GetParameters per 10 names (its limit), without decryption.
    """
    names = sorted(set(wanted.values()))
    missing: set[str] = set()
    try:
        for i in range(0, len(names), 10):
            answer = ssm.get_parameters(
                aws_retry=True, Names=names[i : i + 10], WithDecryption=False
            )
            missing.update(answer.get("InvalidParameters", []))
    except _errors() as e:
        module.fail_json_aws(e, msg="Failed to read the app secret parameters")
    return sorted(missing)


def fail_missing(module, wanted: dict, missing: list[str]) -> None:
    """Fail naming the first missing secret's setting and both ways to fix it."""
    key, name = next((k, v) for k, v in sorted(wanted.items()) if v in missing)
    module.fail_json(
        msg=(
            f"app_secrets.{key}: SSM parameter {name} does not exist in {module.region}. "
            "Create it before deploying, e.g. aws ssm put-parameter --type SecureString "
            f"--name {name} --value '...', or set launch_template_create_missing_secrets=true "
            "to have hastack generate a random one."
        ),
        missing=missing,
    )


def create_secrets(module, ssm, names: list[str], description: str, tags: dict) -> None:
    """PutParameter a random 50-character SecureString for each name, never overwriting."""
    tag_list = [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
    for name in names:
        try:
            ssm.put_parameter(
                aws_retry=True,
                Name=name,
                Description=description[:1024],
                Value="".join(random.choice(ALPHABET) for _char in range(50)),
                Type="SecureString",
                Overwrite=False,
                **({"Tags": tag_list} if tag_list else {}),
            )
        except is_boto3_error_code("ParameterAlreadyExists"):
            # A retried put whose first attempt landed, or a concurrent run: it exists.
            continue
        except _errors() as e:
            module.fail_json_aws(e, msg=f"Failed to create parameter {name}")


def delete_generated(module, ssm, stack: str) -> list[str]:
    """Delete every parameter tagged hastack:stack=<stack> (those hastack generated)."""
    tagged = [{"Key": f"tag:{STACK_TAG}", "Option": "Equals", "Values": [stack]}]
    try:
        paginator = ssm.get_paginator("describe_parameters")
        found = (
            paginator.paginate(ParameterFilters=tagged).build_full_result().get("Parameters", [])
        )
    except _errors() as e:
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
        except _errors() as e:
            module.fail_json_aws(e, msg=f"Failed to read the tags of {parameter['Name']}")
        if owned(tags, stack):
            doomed.append(parameter["Name"])
    if not module.check_mode:
        for name in doomed:
            try:
                ssm.delete_parameter(aws_retry=True, Name=name)
            except is_boto3_error_code("ParameterNotFound"):
                continue
            except _errors() as e:
                module.fail_json_aws(e, msg=f"Failed to delete parameter {name}")
    return sorted(doomed)
