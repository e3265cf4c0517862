#!/usr/bin/python
# Apache-2.0 (see the project licence)
# ruff: noqa: E402  (Ansible modules put DOCUMENTATION before their imports)
"""Check that the app's secret SSM parameters exist, and create the missing ones, in one call.

Why: the role used community.aws.ssm_parameter once per secret to create the missing ones
and an ssm_parameter lookup per secret to check them; this reads them all with one
GetParameters (never decrypting) and writes only the missing ones. Its absent state finds
the parameters hastack generated (by the stack's tag) and deletes them, also in one call.
The role's deploy does the present half inside hastack_launch_inputs (one run fewer); the
code is shared through module_utils/hastack_secrets.py.
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

from ansible.module_utils.hastack_secrets import (
    create_secrets,
    delete_generated,
    fail_missing,
    missing_secrets,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def present(module: AnsibleAWSModule, ssm) -> None:
    p = module.params
    created = missing_secrets(module, ssm, p["secrets"])
    if created and not p["create_missing"]:
        fail_missing(module, p["secrets"], created)
    if created and not module.check_mode:
        create_secrets(module, ssm, created, p["description"], p["tags"])
    module.exit_json(changed=bool(created), created=created, deleted=[])


def absent(module: AnsibleAWSModule, ssm) -> None:
    if not module.params["stack_name"]:
        module.fail_json(msg="stack_name is required with state=absent")
    deleted = delete_generated(module, ssm, module.params["stack_name"])
    module.exit_json(changed=bool(deleted), created=[], deleted=deleted)


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
