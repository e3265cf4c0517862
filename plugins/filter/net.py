"""Filters for the network layout: derive subnet CIDRs and explain what is wrong with a layout.

Written with the standard library's ``ipaddress`` so validation needs no extra Python package
(``ansible.utils.ipaddr`` needs netaddr) and can name the exact setting that is wrong.
"""

from __future__ import annotations

import ipaddress
import re

# Classic layout: in 10.0.0.0/16, public subnets are 10.0.1.0/24, 10.0.2.0/24, ... and
# private ones 10.0.11.0/24, 10.0.12.0/24, ... Other VPC sizes keep the same indexes.
PUBLIC_FIRST_INDEX = 1
PRIVATE_FIRST_INDEX = 11
AWS_MIN_PREFIX = 16  # largest VPC / subnet AWS allows
AWS_MAX_PREFIX = 28  # smallest VPC / subnet AWS allows

_CIDR_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")


def _network(value: object) -> ipaddress.IPv4Network | None:
    """A strict IPv4 network (host bits zero), or None when ``value`` is not one."""
    if not isinstance(value, str) or not _CIDR_RE.match(value):
        return None
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return None


def _subnet_prefix(vpc: ipaddress.IPv4Network) -> int:
    return min(vpc.prefixlen + 8, AWS_MAX_PREFIX)


def hastack_subnet_cidrs(vpc_cidr: str, count: int, tier: str) -> list[str]:
    """The derived CIDRs of ``count`` subnets of ``tier`` (public|private) in ``vpc_cidr``."""
    vpc = _network(vpc_cidr)
    if vpc is None:
        return []
    first = PUBLIC_FIRST_INDEX if tier == "public" else PRIVATE_FIRST_INDEX
    new_prefix = _subnet_prefix(vpc)
    available = 2 ** (new_prefix - vpc.prefixlen)
    if first + int(count) > available:
        return []
    step = 2 ** (32 - new_prefix)
    base = int(vpc.network_address)
    return [
        str(ipaddress.IPv4Network((base + (first + i) * step, new_prefix)))
        for i in range(int(count))
    ]


def hastack_network_errors(
    vpc_cidr: str,
    az_count: int,
    public_cidrs: list[str] | None,
    private_cidrs: list[str] | None,
) -> list[str]:
    """Every problem with a network layout, each naming the setting and the fix.

    Empty ``public_cidrs`` / ``private_cidrs`` mean "derive them"; derived ones are checked too.
    """
    errors: list[str] = []
    vpc = _network(vpc_cidr)
    if vpc is None:
        return [
            f"vpc_cidr_block: {vpc_cidr!r} is not an IPv4 CIDR with its host bits zero "
            "(for example 10.0.0.0/16)."
        ]
    if not AWS_MIN_PREFIX <= vpc.prefixlen <= AWS_MAX_PREFIX:
        errors.append(
            f"vpc_cidr_block: /{vpc.prefixlen} is outside what AWS allows for a VPC "
            f"(/{AWS_MIN_PREFIX} to /{AWS_MAX_PREFIX}), for example 10.0.0.0/16."
        )
        return errors

    derivable = PRIVATE_FIRST_INDEX - PUBLIC_FIRST_INDEX
    if int(az_count) > derivable and not (public_cidrs and private_cidrs):
        errors.append(
            f"vpc_az_count: {az_count} zones is more than the derived subnet layout holds "
            f"({derivable}); list vpc_public_subnet_cidrs and vpc_private_subnet_cidrs explicitly."
        )
        return errors

    subnets: list[tuple[str, ipaddress.IPv4Network]] = []
    for tier, given in (("public", public_cidrs), ("private", private_cidrs)):
        setting = f"vpc_{tier}_subnet_cidrs"
        if not given:
            derived = hastack_subnet_cidrs(vpc_cidr, az_count, tier)
            if not derived:
                errors.append(
                    f"{setting}: cannot derive {az_count} {tier} subnets from "
                    f"vpc_cidr_block {vpc_cidr}; use a larger VPC (a /16 to /20 fits the "
                    f"default layout) or list {setting} explicitly."
                )
                continue
            given = derived
        elif len(given) != int(az_count):
            errors.append(
                f"{setting}: {len(given)} CIDRs given but vpc_az_count is {az_count}; "
                "give exactly one per availability zone, or none to derive them."
            )
        for index, cidr in enumerate(given):
            net = _network(cidr)
            where = f"{setting}[{index}]"
            if net is None:
                errors.append(
                    f"{where}: {cidr!r} is not an IPv4 CIDR with its host bits zero "
                    "(for example 10.0.1.0/24)."
                )
                continue
            if not net.subnet_of(vpc):
                errors.append(f"{where}: {cidr} is outside vpc_cidr_block {vpc_cidr}.")
                continue
            if not AWS_MIN_PREFIX <= net.prefixlen <= AWS_MAX_PREFIX:
                errors.append(
                    f"{where}: /{net.prefixlen} is outside what AWS allows for a subnet "
                    f"(/{AWS_MIN_PREFIX} to /{AWS_MAX_PREFIX})."
                )
                continue
            subnets.append((where, net))

    for i, (name_a, net_a) in enumerate(subnets):
        for name_b, net_b in subnets[i + 1 :]:
            if net_a.overlaps(net_b):
                errors.append(
                    f"{name_b}: {net_b} overlaps {name_a} ({net_a}); subnets must not overlap."
                )
    return errors


class FilterModule:
    """hastack network filters."""

    def filters(self) -> dict:
        return {
            "subnet_cidrs": hastack_subnet_cidrs,
            "network_errors": hastack_network_errors,
        }
