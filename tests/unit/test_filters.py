"""The network layout filters: the classic default layout, and errors that name the setting."""

from __future__ import annotations

import pytest

from tests.support import load_source


def _load(name: str):
    return load_source(f"plugins/filter/{name}.py")


net = _load("net")


def test_default_layout_is_the_classic_one() -> None:
    assert net.hastack_subnet_cidrs("10.0.0.0/16", 2, "public") == ["10.0.1.0/24", "10.0.2.0/24"]
    assert net.hastack_subnet_cidrs("10.0.0.0/16", 2, "private") == ["10.0.11.0/24", "10.0.12.0/24"]


def test_layout_follows_the_vpc_cidr_and_size() -> None:
    assert net.hastack_subnet_cidrs("172.31.0.0/16", 3, "private")[-1] == "172.31.13.0/24"
    assert net.hastack_subnet_cidrs("10.8.0.0/20", 2, "public") == ["10.8.0.16/28", "10.8.0.32/28"]


@pytest.mark.parametrize("count", [2, 3, 6, 10])
def test_derived_layouts_are_valid(count: int) -> None:
    assert net.hastack_network_errors("10.0.0.0/16", count, [], []) == []


def test_explicit_valid_layout_has_no_errors() -> None:
    assert (
        net.hastack_network_errors(
            "10.1.0.0/16", 2, ["10.1.0.0/20", "10.1.16.0/20"], ["10.1.128.0/18", "10.1.192.0/18"]
        )
        == []
    )


@pytest.mark.parametrize(
    ("vpc", "count", "public", "private", "expected"),
    [
        (
            "10.0.0.0/16",
            2,
            ["10.0.1.0/24", "10.0.1.0/24"],
            [],
            "vpc_public_subnet_cidrs[1]: 10.0.1.0/24 overlaps",
        ),
        (
            "10.0.0.0/16",
            2,
            [],
            ["192.168.0.0/24", "10.0.12.0/24"],
            "vpc_private_subnet_cidrs[0]: 192.168.0.0/24 is outside",
        ),
        (
            "10.0.0.0/16",
            2,
            ["10.0.1.0/29", "10.0.2.0/24"],
            [],
            "vpc_public_subnet_cidrs[0]: /29 is outside what AWS allows",
        ),
        ("10.0.0.0/15", 2, [], [], "vpc_cidr_block: /15"),
        ("10.0.0.0/16", 11, [], [], "vpc_az_count: 11 zones"),
        (None, 2, [], [], "vpc_cidr_block: None"),
    ],
)
def test_errors_name_the_setting(
    vpc: str, count: int, public: list, private: list, expected: str
) -> None:
    errors = net.hastack_network_errors(vpc, count, public, private)
    assert any(expected in e for e in errors), errors


def test_owned_selects_by_stack_tag_in_either_tag_shape() -> None:
    owned = _load("tags").hastack_owned
    resources = [
        {"id": "a", "tags": {"hastack:stack": "shop"}},
        {"id": "b", "tags": {"hastack:stack": "other"}},
        {"id": "c", "Tags": [{"Key": "hastack:stack", "Value": "shop"}]},
        {"id": "d", "tags": {}},
        {"id": "e"},
    ]
    assert [r["id"] for r in owned(resources, "shop")] == ["a", "c"]
    assert owned(None, "shop") == []


audit = _load("audit")


def test_probe_findings_pass_on_2xx_3xx_and_name_the_answer() -> None:
    results = [
        {"item": "/healthz", "status": 200, "url": "http://lb/healthz", "attempts": 3},
        {"item": "/", "status": 400, "url": "http://lb/", "attempts": 12},
    ]
    health, root = audit.hastack_probe_findings(results, "http://lb")
    assert (health["id"], health["passed"]) == ("probe.health", True)
    assert health["evidence"] == "http://lb/healthz -> 200 after 3 attempt(s)"
    assert (root["id"], root["passed"]) == ("probe.root", False)
    assert "-> 400 after 12" in root["evidence"]


def test_probe_findings_report_no_answer_and_skip_skipped_probes() -> None:
    refused = {"item": "/healthz", "status": -1, "msg": "Connection refused", "attempts": 2}
    (finding,) = audit.hastack_probe_findings([refused], "http://127.0.0.1:9")
    assert not finding["passed"]
    evidence = "http://127.0.0.1:9/healthz -> Connection refused after 2 attempt(s)"
    assert finding["evidence"] == evidence
    assert audit.hastack_probe_findings([{"skipped": True, "item": "/"}], "") == []
