"""Bad input fails before any AWS call, with a message naming the setting.

AWS_ENDPOINT_URL points at an endpoint that records every request: an empty record proves
the run never reached AWS. Each case also names the setting the message must mention.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import assert_rejected_before_aws, counting_endpoint, run_playbook

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("cidr-not-a-cidr", {"vpc_cidr_block": "not-a-cidr"}, "vpc_cidr_block"),
    ("cidr-prefix-33", {"vpc_cidr_block": "10.0.0.0/33"}, "vpc_cidr_block"),
    ("cidr-host-bits", {"vpc_cidr_block": "10.0.0.1/16"}, "vpc_cidr_block"),
    ("cidr-too-large", {"vpc_cidr_block": "10.0.0.0/8"}, "vpc_cidr_block"),
    ("cidr-too-small-to-derive", {"vpc_cidr_block": "10.0.0.0/28"}, "vpc_public_subnet_cidrs"),
    (
        "subnet-outside-vpc",
        {"vpc_public_subnet_cidrs": ["10.1.1.0/24", "10.0.2.0/24"]},
        "vpc_public_subnet_cidrs[0]: 10.1.1.0/24 is outside vpc_cidr_block",
    ),
    (
        "subnets-overlap-same-tier",
        {"vpc_public_subnet_cidrs": ["10.0.1.0/24", "10.0.1.128/25"]},
        "overlaps vpc_public_subnet_cidrs[0]",
    ),
    (
        "subnets-overlap-across-tiers",
        {"vpc_private_subnet_cidrs": ["10.0.2.0/24", "10.0.12.0/24"]},
        "vpc_private_subnet_cidrs[0]: 10.0.2.0/24 overlaps vpc_public_subnet_cidrs[1]",
    ),
    (
        "subnet-count-mismatch",
        {"vpc_public_subnet_cidrs": ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]},
        "vpc_public_subnet_cidrs: 3 CIDRs given but vpc_az_count is 2",
    ),
    (
        "subnet-malformed",
        {"vpc_private_subnet_cidrs": ["10.0.11.0/24", "10.0.12/24"]},
        "vpc_private_subnet_cidrs[1]",
    ),
    ("one-zone-by-count", {"vpc_az_count": 1}, "vpc_az_count: 1 availability zone"),
    ("zones-beyond-derived-layout", {"vpc_az_count": 12}, "vpc_az_count: 12 zones is more than"),
    ("zero-zones", {"vpc_az_count": 0}, "vpc_az_count"),
    ("delete-timeout-zero", {"vpc_delete_timeout": 0}, "vpc_delete_timeout"),
    ("one-zone-listed", {"vpc_azs": ["us-east-1a"]}, "vpc_azs: 1 availability zone"),
    ("zone-of-other-region", {"vpc_azs": ["eu-west-1a", "eu-west-1b"]}, "vpc_azs"),
    ("zone-listed-twice", {"vpc_azs": ["us-east-1a", "us-east-1a"]}, "vpc_azs"),
    ("zone-count-wrong-type", {"vpc_az_count": "two"}, "vpc_az_count"),
    ("nat-mode-unknown", {"nat_mode": "cheap"}, "nat_mode"),
    ("nat-timeout-zero", {"nat_wait_timeout": 0}, "nat_wait_timeout"),
    ("stack-name-uppercase", {"stack_name": "Shop_Prod"}, "stack_name"),
    ("stack-name-too-long", {"stack_name": "a" * 29}, "stack_name"),
    ("stack-name-trailing-hyphen", {"stack_name": "shop-"}, "stack_name"),
    ("stack-name-internal", {"stack_name": "internal-shop"}, "stack_name"),
    ("stack-name-empty", {"stack_name": ""}, "stack_name"),
    ("region-malformed", {"aws_region": "mars-1"}, "aws_region"),
    ("tag-key-reserved", {"stack_extra_tags": {"aws:owner": "me"}}, "stack_extra_tags"),
]


@pytest.mark.parametrize(
    ("extra_vars", "setting"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_fails_before_any_aws_call(extra_vars: dict[str, Any], setting: str) -> None:
    assert_rejected_before_aws("site.yml", extra_vars, setting)


def test_valid_input_does_reach_aws() -> None:
    """The counting endpoint really sees calls once validation passes (the guard above can fail)."""
    with counting_endpoint() as (endpoint, calls):
        run = run_playbook(
            "site.yml",
            extra_vars={"stack_name": "validation"},
            env={
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "x",
                "AWS_MAX_ATTEMPTS": "1",
            },
            args=["-e", "preflight_aws_max_attempts=1"],
        )
    assert run.rc != 0
    assert calls, "a valid configuration should have reached the (failing) endpoint"
