#!/usr/bin/python
# Apache-2.0 (see the project licence)

"""The launch_template role's whole destroy in one run: launch templates, instance profile and
role, generated secrets.

Why: the role's absent made five module runs (two template lookups, the template delete, the
identity delete, the secrets delete), ~0.6 s of start-up each, for a handful of calls. The
identity and secrets code is shared with the deploy's modules (module_utils/).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: app_teardown
short_description: Delete the app's launch templates, instance role and profile, generated secrets
description:
  - Deletes the launch templates named I(name) or tagged C(hastack:stack=<stack_name>) and
    C(hastack:role=app) (a run interrupted between creating and tagging leaves the template
    untagged; the name is the stack's own).
  - Then deletes the instance profile and the role named I(name) (managed policies detached,
    inline policies deleted first), each only if it carries C(hastack:stack=<stack_name>), as IAM
    names are account-wide.
  - Then deletes the SSM parameters tagged C(hastack:stack=<stack_name>), which are those
    hastack generated; a secret the team created is never touched.
  - Check mode reads only and reports what would be deleted. A second run changes nothing.
  - IAM actions ec2:DescribeLaunchTemplates, ec2:DeleteLaunchTemplate, iam:GetInstanceProfile,
    iam:RemoveRoleFromInstanceProfile, iam:DeleteInstanceProfile, iam:GetRole,
    iam:ListAttachedRolePolicies, iam:DetachRolePolicy, iam:ListRolePolicies,
    iam:DeleteRolePolicy, iam:ListInstanceProfilesForRole, iam:DeleteRole,
    ssm:DescribeParameters, ssm:ListTagsForResource, ssm:DeleteParameter.
  - "Upstream: amazon.aws.iam_role and iam_instance_profile with C(state=absent) delete by name
    whatever the tags (IAM names are account-wide), community.aws.ssm_parameter cannot select by
    tag, and the five module runs cost about 0.6 s of start-up each."
options:
  name:
    description: Name of the launch template, the role and the profile.
    type: str
    required: true
  stack_name: {description: The stack whose resources are deleted., type: str, required: true}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Remove the app's template, identity and generated secrets
  hastack.stack.app_teardown:
    name: shop-prod-app
    stack_name: shop-prod
"""

RETURN = r"""
launch_templates: {description: Template ids deleted (or would be)., returned: always, type: list}
actions: {description: IAM changes made (or that would be)., returned: always, type: list}
deleted_secrets: {description: Parameters deleted (or that would be)., returned: always, type: list}
"""

import contextlib

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.hastack.stack.plugins.module_utils.app_secrets import delete_generated
from ansible_collections.hastack.stack.plugins.module_utils.identity import Identity
from ansible_collections.hastack.stack.plugins.module_utils.tags import owned, stack_filters


def launch_templates(module: AnsibleAWSModule, ec2) -> list[str]:
    """Delete the templates of this name or with the stack's app tags; their ids."""
    p = module.params
    lookups = (
        [{"Name": "launch-template-name", "Values": [p["name"]]}],
        stack_filters(p["stack_name"], "app"),
    )
    found: dict[str, dict] = {}
    try:
        for filters in lookups:
            pages = ec2.get_paginator("describe_launch_templates").paginate(Filters=filters)
            for template in pages.build_full_result().get("LaunchTemplates", []):
                found[template["LaunchTemplateId"]] = template
    except is_boto3_error_code("InvalidLaunchTemplateName.NotFoundException"):
        pass
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to look up the launch templates")
    # A filter an API ignores must not widen the delete: check each candidate again.
    doomed = sorted(
        tid
        for tid, t in found.items()
        if t["LaunchTemplateName"] == p["name"] or owned(t.get("Tags"), p["stack_name"], "app")
    )
    if not module.check_mode:
        for tid in doomed:
            try:
                ec2.delete_launch_template(aws_retry=True, LaunchTemplateId=tid)
            except is_boto3_error_code("InvalidLaunchTemplateId.NotFound"):
                continue
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to delete launch template {tid}")
    return doomed


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "stack_name": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    retry = AWSRetry.jittered_backoff()
    templates = launch_templates(module, module.client("ec2", retry_decorator=retry))
    actions = Identity(module).absent()
    secrets = delete_generated(
        module, module.client("ssm", retry_decorator=retry), module.params["stack_name"]
    )
    module.exit_json(
        changed=bool(templates or actions or secrets),
        launch_templates=templates,
        actions=actions,
        deleted_secrets=secrets,
    )


if __name__ == "__main__":
    main()
