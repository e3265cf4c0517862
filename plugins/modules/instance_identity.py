#!/usr/bin/python
# Apache-2.0 (see the project licence)

"""The app instances' IAM role, its policies and its instance profile, in one call.

Why: the role needed five module runs (iam_role, iam_policy, iam_policy_info, iam_policy
absent for strays, iam_instance_profile) on every deploy and four on every destroy, each
~0.65 s of start-up for a handful of IAM reads. One run does the same reads and writes only
what differs.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: instance_identity
short_description: IAM role with exactly the given policies, and its instance profile
description:
  - C(present) creates or converges the role (trust policy, description, tags), attaches
    exactly I(managed_policy_arns), sets the inline policy I(inline_policy_name) and deletes
    any other inline policy, then creates or converges the instance profile of the same name
    (the role as its only role, the same tags).
  - C(absent) deletes the profile and the role (managed policies detached, inline policies
    deleted first), each only if it carries C(hastack:stack=<stack_name>), as IAM names are
    account-wide.
  - Check mode reads only and reports what would change.
  - IAM actions iam:GetRole, iam:CreateRole, iam:UpdateRole, iam:UpdateAssumeRolePolicy,
    iam:TagRole, iam:UntagRole, iam:ListAttachedRolePolicies,
    iam:AttachRolePolicy, iam:DetachRolePolicy, iam:ListRolePolicies, iam:GetRolePolicy,
    iam:PutRolePolicy, iam:DeleteRolePolicy, iam:GetInstanceProfile,
    iam:CreateInstanceProfile, iam:TagInstanceProfile,
    iam:UntagInstanceProfile, iam:AddRoleToInstanceProfile, iam:RemoveRoleFromInstanceProfile,
    iam:ListInstanceProfilesForRole, iam:DeleteInstanceProfile, iam:DeleteRole.
  - "Upstream: amazon.aws.iam_role cannot set inline policies (amazon.aws.iam_policy does, one per
    run, and strays need iam_policy_info first) and deletes by name whatever the tags; the role
    took five module runs (about 0.65 s of start-up each) on every deploy."
options:
  name: {description: Name of the role and of the instance profile., type: str, required: true}
  state: {description: present or absent., type: str, choices: [present, absent], default: present}
  description: {description: Role description., type: str, default: ""}
  trust_policy: {description: Assume-role policy document., type: dict}
  managed_policy_arns:
    description: Managed policies to attach (others are detached).
    type: list
    elements: str
    default: []
  inline_policy_name: {description: Name of the only inline policy., type: str}
  inline_policy: {description: Its document., type: dict}
  tags: {description: Tags of the role and the profile., type: dict, default: {}}
  stack_name: {description: "With C(absent), the stack tag a role must carry.", type: str}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Instance role and profile
  hastack.stack.instance_identity:
    name: shop-prod-app
    trust_policy: "{{ trust }}"
    managed_policy_arns: [arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore]
    inline_policy_name: read-app-parameters
    inline_policy: "{{ policy }}"
    tags: {hastack:stack: shop-prod}
"""

RETURN = r"""
role_name: {description: Role name., returned: state=present, type: str}
role_arn: {description: Role ARN ('' in check mode before creation)., returned: success, type: str}
instance_profile_arn: {description: Profile ARN ('' likewise)., returned: state=present, type: str}
actions: {description: What was (or would be) done., returned: always, type: list, elements: str}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.hastack.stack.plugins.module_utils.identity import Identity


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "description": {"type": "str", "default": ""},
            "trust_policy": {"type": "dict"},
            "managed_policy_arns": {"type": "list", "elements": "str", "default": []},
            "inline_policy_name": {"type": "str"},
            "inline_policy": {"type": "dict"},
            "tags": {"type": "dict", "default": {}},
            "stack_name": {"type": "str"},
        },
        required_if=[("state", "present", ["trust_policy"])],
        supports_check_mode=True,
    )
    identity = Identity(module)
    if module.params["state"] == "present":
        identity.present()  # exits with the role's and profile's details
    actions = identity.absent()
    module.exit_json(changed=bool(actions), actions=actions)


if __name__ == "__main__":
    main()
