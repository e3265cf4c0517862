"""Select the resources a stack owns by its ``hastack:stack`` tag.

Used on top of server-side tag filters because moto ignores some of them (DescribeNatGateways)
and because a destroy must never touch another stack's resource, whatever an API returned.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.hastack.stack.plugins.module_utils.tags import owned


def hastack_owned(resources: list[dict[str, Any]], stack_name: str) -> list[dict[str, Any]]:
    """The resources tagged ``hastack:stack = stack_name``, whether their tags are Ansible's
    ``tags`` dict or boto3's ``Tags`` list."""
    return [r for r in resources or [] if owned(r.get("tags") or r.get("Tags"), stack_name)]


class FilterModule:
    """hastack tag filters."""

    def filters(self) -> dict:
        return {"owned": hastack_owned}
