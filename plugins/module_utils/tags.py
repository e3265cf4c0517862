# Copyright: hastack maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The stack's tags: their keys, boto3 tag lists as dicts and back, and ownership.

A destroy must never touch another stack's resource, whatever an API returned (moto ignores
some tag filters, ELBv2 has none), so every module selects by these tags client-side too.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.hastack.stack.plugins.module_utils.waits import error_code

STACK_TAG = "hastack:stack"
ENVIRONMENT_TAG = "hastack:environment"
MANAGED_BY_TAG = "hastack:managed-by"
ROLE_TAG = "hastack:role"
AZ_TAG = "hastack:az"
TIER_TAG = "hastack:tier"
ELBV2_TAGS_BATCH = 20  # ELBv2 DescribeTags takes at most 20 ARNs
ELBV2_GONE = ("LoadBalancerNotFound", "TargetGroupNotFound")


def tag_dict(tags: Any) -> dict[str, str]:
    """A boto3 tag list (``Key``/``Value`` or ``key``/``value``) as a dict; a dict as it is."""
    if isinstance(tags, dict):
        return tags
    return boto3_tag_list_to_ansible_dict(list(tags or []))


def tags_of(resource: dict[str, Any] | None) -> dict[str, str]:
    """The ``Tags`` of a boto3 resource description as a dict (empty when it has none)."""
    return tag_dict((resource or {}).get("Tags"))


def tag_list(tags: dict[str, Any], sort: bool = False) -> list[dict[str, str]]:
    """A dict of tags as boto3's ``[{"Key": ..., "Value": ...}]``, values as text."""
    return ansible_dict_to_boto3_tag_list(dict(sorted(tags.items())) if sort else tags)


def owned(tags: Any, stack: str, role: str | None = None) -> bool:
    """Whether ``tags`` (a dict or a boto3 list) say stack ``stack`` (and role ``role``)."""
    found = tag_dict(tags)
    return found.get(STACK_TAG) == stack and (role is None or found.get(ROLE_TAG) == role)


def stack_filters(stack: str, role: str | None = None, key: str = "Name") -> list[dict[str, Any]]:
    """Server-side filters on the stack's tags (``key`` is ``Key`` for SSM's ParameterFilters)."""
    filters = [{key: f"tag:{STACK_TAG}", "Values": [stack]}]
    if role is not None:
        filters.append({key: f"tag:{ROLE_TAG}", "Values": [role]})
    return filters


def elbv2_tags(
    elbv2: Any, arns: list[str], gone: tuple[str, ...] = ELBV2_GONE
) -> dict[str, dict[str, str]]:
    """ELBv2 tags by ARN, 20 ARNs a DescribeTags call (ELBv2 has no server-side tag filter).

    AWS fails a whole batch for one ARN deleted since it was listed (another stack's destroy;
    moto answers with no tags): that batch is read again one ARN at a time, and the missing ARN
    skipped. An error whose code is not in ``gone`` is raised.
    """
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), ELBV2_TAGS_BATCH):
        batch = arns[start : start + ELBV2_TAGS_BATCH]
        try:
            descriptions = elbv2.describe_tags(aws_retry=True, ResourceArns=batch)[
                "TagDescriptions"
            ]
        except Exception as e:
            if error_code(e) not in gone:
                raise
            descriptions = []
            for arn in batch:
                try:
                    descriptions += elbv2.describe_tags(aws_retry=True, ResourceArns=[arn])[
                        "TagDescriptions"
                    ]
                except Exception as e:
                    if error_code(e) not in gone:
                        raise
        found.update((d["ResourceArn"], tag_dict(d.get("Tags"))) for d in descriptions)
    return found
