"""The network layout filters, as the collection ships them."""

from __future__ import annotations

import pytest
from ansible_collections.hastack.stack.plugins.filter.net import (
    FilterModule,
    hastack_network_errors,
    hastack_subnet_cidrs,
)


def test_the_default_layout_is_the_classic_one() -> None:
    assert hastack_subnet_cidrs("10.0.0.0/16", 2, "public") == ["10.0.1.0/24", "10.0.2.0/24"]
    assert hastack_subnet_cidrs("10.0.0.0/16", 2, "private") == ["10.0.11.0/24", "10.0.12.0/24"]


def test_a_smaller_vpc_gets_smaller_subnets_and_a_bad_one_none() -> None:
    assert hastack_subnet_cidrs("10.1.0.0/20", 1, "public") == ["10.1.0.16/28"]
    assert hastack_subnet_cidrs("not-a-cidr", 2, "public") == []


@pytest.mark.parametrize("zones", [2, 3, 6])
def test_derived_layouts_have_no_errors(zones: int) -> None:
    assert hastack_network_errors("10.0.0.0/16", zones, [], []) == []


@pytest.mark.parametrize(
    ("vpc", "zones", "public", "private", "setting"),
    [
        ("10.0.0.1/16", 2, [], [], "vpc_cidr_block"),
        ("10.0.0.0/8", 2, [], [], "vpc_cidr_block"),
        ("10.0.0.0/16", 11, [], [], "vpc_az_count"),
        ("10.0.0.0/16", 2, ["10.0.1.0/24"], [], "vpc_public_subnet_cidrs"),
        ("10.0.0.0/16", 1, ["10.9.1.0/24"], [], "vpc_public_subnet_cidrs[0]"),
        ("10.0.0.0/16", 1, ["10.0.1.0/24"], ["10.0.1.0/25"], "vpc_private_subnet_cidrs[0]"),
    ],
)
def test_each_error_names_the_setting(
    vpc: str, zones: int, public: list[str], private: list[str], setting: str
) -> None:
    errors = hastack_network_errors(vpc, zones, public, private)
    assert errors
    assert errors[0].startswith(f"{setting}: ")


def test_the_filters_are_registered_by_name() -> None:
    assert set(FilterModule().filters()) == {"subnet_cidrs", "network_errors"}
