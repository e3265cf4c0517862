"""The network layout filters: the classic default layout, and errors that name the setting."""

from __future__ import annotations

import importlib.util

import pytest

from tests.support import ROOT


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"plugins/filter/{name}.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


net = _load("hastack_net")


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
    owned = _load("hastack_tags").hastack_owned
    resources = [
        {"id": "a", "tags": {"hastack:stack": "shop"}},
        {"id": "b", "tags": {"hastack:stack": "other"}},
        {"id": "c", "Tags": [{"Key": "hastack:stack", "Value": "shop"}]},
        {"id": "d", "tags": {}},
        {"id": "e"},
    ]
    assert [r["id"] for r in owned(resources, "shop")] == ["a", "c"]
    assert owned(None, "shop") == []
