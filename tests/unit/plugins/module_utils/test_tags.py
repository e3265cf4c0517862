"""The stack's tag helpers: conversions, ownership, filters, and ELBv2 tags in batches."""

from __future__ import annotations

import pytest
from ansible_collections.hastack.stack.plugins.module_utils import tags


def test_tags_of_reads_boto3_lists_and_tolerates_none() -> None:
    assert tags.tags_of({"Tags": [{"Key": "a", "Value": "1"}]}) == {"a": "1"}
    assert tags.tags_of({"Tags": None}) == {}
    assert tags.tags_of(None) == {}
    assert tags.tag_dict([{"key": "a", "value": "1"}]) == {"a": "1"}


def test_tag_list_keeps_order_unless_sorted_and_makes_values_text() -> None:
    assert tags.tag_list({"b": 1, "a": True}) == [
        {"Key": "b", "Value": "1"},
        {"Key": "a", "Value": "True"},
    ]
    assert [t["Key"] for t in tags.tag_list({"b": "1", "a": "2"}, sort=True)] == ["a", "b"]


@pytest.mark.parametrize(
    ("found", "role", "expected"),
    [
        ({"hastack:stack": "web"}, None, True),
        ({"hastack:stack": "web-cpu"}, None, False),  # a longer name is another stack
        ({"hastack:stack": "web", "hastack:role": "alb"}, "alb", True),
        ({"hastack:stack": "web", "hastack:role": "nat"}, "alb", False),
        ({"hastack:stack": "web"}, "alb", False),
        ({}, None, False),
    ],
)
def test_owned_needs_the_exact_stack_and_role(found: dict, role: str, expected: bool) -> None:
    assert tags.owned(found, "web", role) is expected
    assert tags.owned(tags.tag_list(found), "web", role) is expected


def test_stack_filters_for_ec2_and_ssm() -> None:
    assert tags.stack_filters("web", "nat") == [
        {"Name": "tag:hastack:stack", "Values": ["web"]},
        {"Name": "tag:hastack:role", "Values": ["nat"]},
    ]
    assert tags.stack_filters("web", key="Key") == [{"Key": "tag:hastack:stack", "Values": ["web"]}]


class GoneError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeElbv2:
    """DescribeTags as AWS answers it: at most 20 ARNs, and the whole call fails for one gone."""

    def __init__(self, tagged: dict[str, dict[str, str]], gone: set[str]) -> None:
        self.tagged, self.gone, self.calls = tagged, gone, []

    def describe_tags(self, aws_retry: bool, ResourceArns: list[str]) -> dict:
        assert aws_retry
        assert len(ResourceArns) <= 20
        self.calls.append(list(ResourceArns))
        if self.gone & set(ResourceArns):
            raise GoneError("LoadBalancerNotFound")
        return {
            "TagDescriptions": [
                {"ResourceArn": a, "Tags": tags.tag_list(self.tagged[a])} for a in ResourceArns
            ]
        }


def test_elbv2_tags_reads_20_arns_a_call_and_skips_one_deleted_meanwhile() -> None:
    arns = [f"arn:{i}" for i in range(25)]
    elbv2 = FakeElbv2({a: {"hastack:stack": a} for a in arns}, gone={"arn:21"})
    found = tags.elbv2_tags(elbv2, arns)
    assert set(found) == set(arns) - {"arn:21"}
    assert found["arn:3"] == {"hastack:stack": "arn:3"}
    # one call for the first 20, one failed for the other 5, then one a piece for those
    assert [len(c) for c in elbv2.calls] == [20, 5, 1, 1, 1, 1, 1]


def test_elbv2_tags_raises_other_errors() -> None:
    class Denied(FakeElbv2):
        def describe_tags(self, aws_retry: bool, ResourceArns: list[str]) -> dict:
            raise GoneError("AccessDenied")

    with pytest.raises(GoneError):
        tags.elbv2_tags(Denied({}, set()), ["arn:1"])
