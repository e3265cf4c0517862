#!/usr/bin/python
# Apache-2.0 (see the project licence)
"""A VPC security group with exactly the given rules and tags, without fixed sleeps.

Why not amazon.aws.ec2_security_group: after creating a group it sleeps 3 s before its first
read, and after any rule change it re-reads with 10 s sleeps until the rules show, so a cold
deploy paid ~3.7 s per group. This module reads the group back by id with a jittered backoff
(tolerating the id not being visible yet) and trusts the answers of Authorize/Revoke.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: security_group
short_description: Create or converge a VPC security group (rules and tags purged)
description:
  - Finds the group by VPC and name; creates it (tagged at creation) when missing.
  - Ingress and egress become exactly the given rules; a rule whose description differs is
    revoked and authorized again. The default allow-all egress of a new group is revoked
    unless it is wanted, even if AWS does not list it yet.
  - Tags become exactly the given tags.
  - Check mode reads only and reports what would change.
  - IAM actions ec2:DescribeSecurityGroups, ec2:CreateSecurityGroup, ec2:CreateTags,
    ec2:DeleteTags, ec2:AuthorizeSecurityGroupIngress, ec2:AuthorizeSecurityGroupEgress,
    ec2:RevokeSecurityGroupIngress, ec2:RevokeSecurityGroupEgress.
  - "Upstream: amazon.aws.ec2_security_group sleeps a fixed 3 s after creating a group and
    re-reads with fixed 10 s sleeps until changed rules show, about 3.7 s a group on a cold
    deploy."
options:
  name: {description: Group name., type: str, required: true}
  description:
    description: Group description (set at creation only; AWS cannot change it).
    type: str
    required: true
  vpc_id: {description: VPC of the group., type: str, required: true}
  rules:
    description:
      - Ingress rules; each C(proto) (C(tcp), C(udp) or C(all)), C(ports) (list of ports,
        not for C(all)), one of C(cidr_ip) (a CIDR or a list) or C(group_id),
        and optional C(rule_desc).
    type: list
    elements: dict
    default: []
  rules_egress:
    description: Egress rules, same form as I(rules).
    type: list
    elements: dict
    default: []
  tags: {description: Tags of the group (others are removed)., type: dict, default: {}}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: App port from the load balancer only
  hastack.stack.security_group:
    name: shop-prod-app
    description: app instances
    vpc_id: vpc-0123
    rules: [{proto: tcp, ports: [8000], group_id: sg-0abc, rule_desc: from the load balancer}]
    rules_egress: [{proto: all, cidr_ip: 0.0.0.0/0}]
    tags: {Name: shop-prod-app}
"""

RETURN = r"""
group_id:
  description: Id of the group ('' in check mode when it does not exist yet).
  returned: always
  type: str
actions: {description: What was (or would be) done., returned: always, type: list, elements: str}
"""

import contextlib
from typing import Any, NamedTuple

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.hastack.stack.plugins.module_utils.tags import tag_list, tags_of
from ansible_collections.hastack.stack.plugins.module_utils.waits import error_code


class Rule(NamedTuple):
    proto: str
    from_port: int | None
    to_port: int | None
    kind: str  # cidr | group
    target: str
    desc: str


def wanted_rules(rules: list[dict]) -> set[Rule]:
    out = set()
    for r in rules:
        proto = str(r.get("proto", "tcp"))
        proto = "-1" if proto in ("all", "-1") else proto
        ports = [None] if proto == "-1" else [int(x) for x in r.get("ports") or []]
        desc = r.get("rule_desc") or ""
        if r.get("group_id"):
            targets = [("group", r["group_id"])]
        else:
            cidrs = r.get("cidr_ip") or []
            targets = [("cidr", c) for c in ([cidrs] if isinstance(cidrs, str) else cidrs)]
        for port in ports:
            for kind, target in targets:
                out.add(Rule(proto, port, port, kind, target, desc))
    return out


def current_rules(permissions: list[dict]) -> set[Rule]:
    out = set()
    for p in permissions:
        proto = p["IpProtocol"]
        lo, hi = (None, None) if proto == "-1" else (p.get("FromPort"), p.get("ToPort"))
        for r in p.get("IpRanges", []):
            out.add(Rule(proto, lo, hi, "cidr", r["CidrIp"], r.get("Description") or ""))
        for r in p.get("UserIdGroupPairs", []):
            out.add(Rule(proto, lo, hi, "group", r["GroupId"], r.get("Description") or ""))
        for r in p.get("Ipv6Ranges", []):
            out.add(Rule(proto, lo, hi, "cidr6", r["CidrIpv6"], r.get("Description") or ""))
        for r in p.get("PrefixListIds", []):
            out.add(Rule(proto, lo, hi, "prefix", r["PrefixListId"], r.get("Description") or ""))
    return out


def permission(rule: Rule) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": rule.proto}
    if rule.proto != "-1":
        perm["FromPort"], perm["ToPort"] = rule.from_port, rule.to_port
    desc = {"Description": rule.desc} if rule.desc else {}
    key, field = {
        "cidr": ("IpRanges", "CidrIp"),
        "group": ("UserIdGroupPairs", "GroupId"),
        "cidr6": ("Ipv6Ranges", "CidrIpv6"),
        "prefix": ("PrefixListIds", "PrefixListId"),
    }[rule.kind]
    perm[key] = [{field: rule.target, **desc}]
    return perm


def show(rules: set[Rule]) -> list[str]:
    return sorted(
        f"{r.proto} {r.from_port}-{r.to_port} {r.kind} {r.target} {r.desc!r}" for r in rules
    )


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "description": {"type": "str", "required": True},
            "vpc_id": {"type": "str", "required": True},
            "rules": {"type": "list", "elements": "dict", "default": []},
            "rules_egress": {"type": "list", "elements": "dict", "default": []},
            "tags": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    p = module.params
    tags = {str(k): str(v) for k, v in p["tags"].items()}
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    # A group just created may not be visible to every reader yet (eventual consistency).
    ec2_new = module.client(
        "ec2",
        retry_decorator=AWSRetry.jittered_backoff(
            catch_extra_error_codes=["InvalidGroup.NotFound"]
        ),
    )
    errors = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    actions: list[str] = []
    check = module.check_mode

    def find() -> dict | None:
        groups = ec2.describe_security_groups(
            aws_retry=True,
            Filters=[
                {"Name": "vpc-id", "Values": [p["vpc_id"]]},
                {"Name": "group-name", "Values": [p["name"]]},
            ],
        )["SecurityGroups"]
        return groups[0] if groups else None

    try:
        group = find()
    except errors as e:
        module.fail_json_aws(e, msg=f"Failed to look up security group {p['name']}")

    created = False
    if group is None:
        actions.append(f"create group {p['name']}")
        if check:
            module.exit_json(
                changed=True,
                group_id="",
                actions=actions,
                diff={
                    "before": {},
                    "after": {
                        "name": p["name"],
                        "tags": tags,
                        "ingress": show(wanted_rules(p["rules"])),
                        "egress": show(wanted_rules(p["rules_egress"])),
                    },
                },
            )
        spec = [
            {
                "ResourceType": "security-group",
                "Tags": tag_list(tags),
            }
        ]
        try:
            group_id = ec2.create_security_group(
                aws_retry=True,
                GroupName=p["name"],
                Description=p["description"],
                VpcId=p["vpc_id"],
                **({"TagSpecifications": spec} if tags else {}),
            )["GroupId"]
        except botocore.exceptions.ClientError as e:
            # A retried create whose first attempt reached AWS, or a concurrent run: use that group.
            if error_code(e) != "InvalidGroup.Duplicate":
                module.fail_json_aws(e, msg=f"Failed to create security group {p['name']}")
            group_id = (find() or {}).get("GroupId")
        except botocore.exceptions.BotoCoreError as e:
            module.fail_json_aws(e, msg=f"Failed to create security group {p['name']}")
        try:
            group = ec2_new.describe_security_groups(aws_retry=True, GroupIds=[group_id])[
                "SecurityGroups"
            ][0]
        except errors as e:
            module.fail_json_aws(e, msg=f"Failed to read new security group {group_id}")
        created = True

    group_id = group["GroupId"]
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}

    def call(what: str, fn, ignore: str = "", **kwargs) -> None:
        actions.append(what)
        if check:
            return
        try:
            fn(aws_retry=True, **kwargs)
        except botocore.exceptions.ClientError as e:
            if not ignore or error_code(e) != ignore:
                module.fail_json_aws(e, msg=f"Failed to {what} on {group_id}", actions=actions)
        except botocore.exceptions.BotoCoreError as e:
            module.fail_json_aws(e, msg=f"Failed to {what} on {group_id}", actions=actions)

    for direction, key, want_key in (
        ("ingress", "IpPermissions", "rules"),
        ("egress", "IpPermissionsEgress", "rules_egress"),
    ):
        have = current_rules(group.get(key, []))
        want = wanted_rules(p[want_key])
        revoke, grant = have - want, want - have
        default_egress = Rule("-1", None, None, "cidr", "0.0.0.0/0", "")
        if direction == "egress" and created and default_egress not in want:
            # AWS adds it to every new group, though a first read may not list it yet.
            revoke.add(default_egress)
        if revoke or grant:
            before[direction], after[direction] = show(have), show(want)
        fns = {
            "ingress": (
                ec2_new.revoke_security_group_ingress,
                ec2_new.authorize_security_group_ingress,
            ),
            "egress": (
                ec2_new.revoke_security_group_egress,
                ec2_new.authorize_security_group_egress,
            ),
        }[direction]
        if revoke:
            call(
                f"revoke {direction} {show(revoke)}",
                fns[0],
                ignore="InvalidPermission.NotFound",
                GroupId=group_id,
                IpPermissions=[permission(r) for r in sorted(revoke, key=str)],
            )
        if grant:
            call(
                f"authorize {direction} {show(grant)}",
                fns[1],
                ignore="InvalidPermission.Duplicate",
                GroupId=group_id,
                IpPermissions=[permission(r) for r in sorted(grant, key=str)],
            )

    have_tags = tags_of(group)
    if have_tags != tags:
        before["tags"], after["tags"] = have_tags, tags
        drop = [{"Key": k} for k in have_tags if k not in tags]
        put = [{"Key": k, "Value": v} for k, v in tags.items() if have_tags.get(k) != v]
        if drop:
            call(
                f"delete tags {[d['Key'] for d in drop]}",
                ec2_new.delete_tags,
                Resources=[group_id],
                Tags=drop,
            )
        if put:
            call(
                f"set tags {[t['Key'] for t in put]}",
                ec2_new.create_tags,
                Resources=[group_id],
                Tags=put,
            )

    module.exit_json(
        changed=bool(actions),
        group_id=group_id,
        actions=actions,
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
