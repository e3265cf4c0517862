"""The owned filter selects by the stack tag, in either shape of tags."""

from __future__ import annotations

from ansible_collections.hastack.stack.plugins.filter.tags import FilterModule, hastack_owned


def test_owned_takes_ansible_dicts_and_boto3_lists_and_matches_exactly() -> None:
    resources = [
        {"id": 1, "tags": {"hastack:stack": "web"}},
        {"id": 2, "Tags": [{"Key": "hastack:stack", "Value": "web"}]},
        {"id": 3, "tags": [{"key": "hastack:stack", "value": "web"}]},
        {"id": 4, "Tags": [{"Key": "hastack:stack", "Value": "web-cpu"}]},
        {"id": 5, "Tags": []},
        {"id": 6},
    ]
    assert [r["id"] for r in hastack_owned(resources, "web")] == [1, 2, 3]
    assert hastack_owned(None, "web") == []


def test_the_filter_is_registered_as_owned() -> None:
    assert FilterModule().filters() == {"owned": hastack_owned}
