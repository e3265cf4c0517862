"""Select the resources a stack owns by its ``hastack:stack`` tag.

Used on top of server-side tag filters because moto ignores some of them (DescribeNatGateways)
and because a destroy must never touch another stack's resource, whatever an API returned.
"""

from __future__ import annotations

from typing import Any

STACK_TAG = "hastack:stack"


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    """Tags as a dict, from either Ansible's ``tags`` dict or boto3's ``Tags`` list."""
    tags = resource.get("tags")
    if isinstance(tags, dict):
        return tags
    raw = resource.get("Tags") or resource.get("tags") or []
    return {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in raw}


def hastack_owned(resources: list[dict[str, Any]], stack_name: str) -> list[dict[str, Any]]:
    """The resources tagged ``hastack:stack = stack_name``."""
    return [r for r in resources or [] if _tags(r).get(STACK_TAG) == stack_name]


class FilterModule:
    """hastack tag filters."""

    def filters(self) -> dict:
        return {"owned": hastack_owned}
