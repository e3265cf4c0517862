# Apache-2.0 (see the project licence)
"""The app instances' IAM role, its policies and its instance profile: converge or delete.

Shared by plugins/modules/instance_identity.py (deploy and destroy) and
plugins/modules/app_teardown.py (the role's whole destroy in one run).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.hastack.stack.plugins.module_utils.tags import owned, tag_list


class Identity:
    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.p = module.params
        self.name = self.p["name"]
        self.actions: list[str] = []
        retry = AWSRetry.jittered_backoff()
        # Reads where NoSuchEntity means "absent".
        self.iam = module.client("iam", retry_decorator=retry)
        # Writes right after a create: IAM is eventually consistent, so NoSuchEntity is retried.
        self.iam_w = module.client(
            "iam",
            retry_decorator=AWSRetry.jittered_backoff(catch_extra_error_codes=["NoSuchEntity"]),
        )

    def fail(self, e: Exception, what: str) -> None:
        self.module.fail_json_aws(e, msg=f"Failed to {what}", actions=self.actions)

    def write(self, what: str, method: str, ignore: str | list[str] = (), **kwargs) -> Any:
        self.actions.append(what)
        if self.module.check_mode:
            return None
        try:
            return getattr(self.iam_w, method)(aws_retry=True, **kwargs)
        except is_boto3_error_code(list(ignore) if not isinstance(ignore, str) else [ignore]):
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, what)

    def read(self, method: str, **kwargs) -> dict | None:
        try:
            return getattr(self.iam, method)(aws_retry=True, **kwargs)
        except is_boto3_error_code("NoSuchEntity"):
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"call {method}")

    def pages(self, method: str, key: str, **kwargs) -> list:
        try:
            paginator = self.iam.get_paginator(method)
            return paginator.paginate(**kwargs).build_full_result().get(key, [])
        except is_boto3_error_code("NoSuchEntity"):
            return []
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"call {method}")

    def converge_tags(self, kind: str, have: dict, want: dict) -> None:
        name_key = "RoleName" if kind == "Role" else "InstanceProfileName"
        drop = sorted(k for k in have if k not in want)
        put = [{"Key": k, "Value": v} for k, v in want.items() if have.get(k) != v]
        if drop:
            self.write(
                f"untag {kind} {drop}",
                f"untag_{kind_snake(kind)}",
                **{name_key: self.name},
                TagKeys=drop,
            )
        if put:
            self.write(f"tag {kind}", f"tag_{kind_snake(kind)}", **{name_key: self.name}, Tags=put)

    def present(self) -> None:
        p = self.p
        tags = {str(k): str(v) for k, v in p["tags"].items()}
        role = (self.read("get_role", RoleName=self.name) or {}).get("Role")
        if role is None:
            answer = self.write(
                f"create role {self.name}",
                "create_role",
                ignore="EntityAlreadyExists",  # a retried create whose first attempt landed
                RoleName=self.name,
                AssumeRolePolicyDocument=json.dumps(p["trust_policy"]),
                Description=p["description"],
                Tags=tag_list(tags),
            )
            role = (answer or {}).get("Role") or (
                self.read("get_role", RoleName=self.name) or {}
            ).get("Role")
            have_tags = tags
        else:
            if compare_policies(role.get("AssumeRolePolicyDocument") or {}, p["trust_policy"]):
                self.write(
                    "update the trust policy",
                    "update_assume_role_policy",
                    RoleName=self.name,
                    PolicyDocument=json.dumps(p["trust_policy"]),
                )
            if (role.get("Description") or "") != p["description"]:
                self.write(
                    "update the description",
                    "update_role",
                    RoleName=self.name,
                    Description=p["description"],
                )
            # GetRole and GetInstanceProfile answer with the tags.
            have_tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
        self.converge_tags("Role", have_tags, tags)

        attached = {
            x["PolicyArn"]
            for x in self.pages(
                "list_attached_role_policies", "AttachedPolicies", RoleName=self.name
            )
        }
        for arn in sorted(set(p["managed_policy_arns"]) - attached):
            self.write(f"attach {arn}", "attach_role_policy", RoleName=self.name, PolicyArn=arn)
        for arn in sorted(attached - set(p["managed_policy_arns"])):
            self.write(
                f"detach {arn}",
                "detach_role_policy",
                ignore="NoSuchEntity",
                RoleName=self.name,
                PolicyArn=arn,
            )

        inline = self.pages("list_role_policies", "PolicyNames", RoleName=self.name)
        wanted = p["inline_policy_name"]
        if wanted:
            doc = None
            if wanted in inline:
                answer = self.read("get_role_policy", RoleName=self.name, PolicyName=wanted)
                doc = (answer or {}).get("PolicyDocument")
            if doc is None or compare_policies(doc, p["inline_policy"]):
                self.write(
                    f"put inline policy {wanted}",
                    "put_role_policy",
                    RoleName=self.name,
                    PolicyName=wanted,
                    PolicyDocument=json.dumps(p["inline_policy"]),
                )
        for stray in sorted(x for x in inline if x != wanted):
            self.write(
                f"delete inline policy {stray}",
                "delete_role_policy",
                ignore="NoSuchEntity",
                RoleName=self.name,
                PolicyName=stray,
            )

        answer = self.read("get_instance_profile", InstanceProfileName=self.name)
        profile = (answer or {}).get("InstanceProfile")
        if profile is None:
            answer = self.write(
                f"create instance profile {self.name}",
                "create_instance_profile",
                ignore="EntityAlreadyExists",
                InstanceProfileName=self.name,
                Tags=tag_list(tags),
            )
            profile = (answer or {}).get("InstanceProfile") or (
                self.read("get_instance_profile", InstanceProfileName=self.name) or {}
            ).get("InstanceProfile")
            have_tags = tags
        else:
            have_tags = {t["Key"]: t["Value"] for t in profile.get("Tags", [])}
        self.converge_tags("InstanceProfile", have_tags, tags)
        in_profile = [r["RoleName"] for r in (profile or {}).get("Roles", [])]
        for other in sorted(r for r in in_profile if r != self.name):
            self.write(
                f"remove role {other} from the profile",
                "remove_role_from_instance_profile",
                InstanceProfileName=self.name,
                RoleName=other,
            )
        if self.name not in in_profile:
            self.write(
                "add the role to the profile",
                "add_role_to_instance_profile",
                ignore="LimitExceeded",  # a retried add whose first attempt landed
                InstanceProfileName=self.name,
                RoleName=self.name,
            )
        self.module.exit_json(
            changed=bool(self.actions),
            actions=self.actions,
            role_name=self.name,
            role_arn=(role or {}).get("Arn", ""),
            instance_profile_arn=(profile or {}).get("Arn", ""),
        )

    def owned(self, resource: dict) -> bool:
        return owned(resource.get("Tags"), self.p["stack_name"])

    def absent(self) -> list[str]:
        """Delete the profile and the role if they carry the stack's tag; the actions taken."""
        if not self.p["stack_name"]:
            self.module.fail_json(msg="stack_name is required with state=absent")
        profile = (self.read("get_instance_profile", InstanceProfileName=self.name) or {}).get(
            "InstanceProfile"
        )
        if profile and self.owned(profile):
            for r in profile.get("Roles", []):
                self.write(
                    f"remove role {r['RoleName']} from the profile",
                    "remove_role_from_instance_profile",
                    ignore="NoSuchEntity",
                    InstanceProfileName=self.name,
                    RoleName=r["RoleName"],
                )
            self.write(
                f"delete instance profile {self.name}",
                "delete_instance_profile",
                ignore="NoSuchEntity",
                InstanceProfileName=self.name,
            )
        role = (self.read("get_role", RoleName=self.name) or {}).get("Role")
        if role and self.owned(role):
            for x in self.pages(
                "list_attached_role_policies", "AttachedPolicies", RoleName=self.name
            ):
                self.write(
                    f"detach {x['PolicyArn']}",
                    "detach_role_policy",
                    ignore="NoSuchEntity",
                    RoleName=self.name,
                    PolicyArn=x["PolicyArn"],
                )
            for x in self.pages("list_role_policies", "PolicyNames", RoleName=self.name):
                self.write(
                    f"delete inline policy {x}",
                    "delete_role_policy",
                    ignore="NoSuchEntity",
                    RoleName=self.name,
                    PolicyName=x,
                )
            for x in self.pages(
                "list_instance_profiles_for_role", "InstanceProfiles", RoleName=self.name
            ):
                self.write(
                    f"remove the role from profile {x['InstanceProfileName']}",
                    "remove_role_from_instance_profile",
                    ignore="NoSuchEntity",
                    InstanceProfileName=x["InstanceProfileName"],
                    RoleName=self.name,
                )
            self.write(
                f"delete role {self.name}", "delete_role", ignore="NoSuchEntity", RoleName=self.name
            )
        return self.actions


def kind_snake(kind: str) -> str:
    return {"Role": "role", "InstanceProfile": "instance_profile"}[kind]
