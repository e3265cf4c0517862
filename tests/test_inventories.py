"""Inventories: each environment's value overrides the shared one in group_vars/, and the
shared values reach environments that do not override them."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.support import BIN, ROOT


def host_vars(env: str) -> dict[str, Any]:
    """Variables localhost gets from an inventory plus the playbook-adjacent group_vars/."""
    out = subprocess.run(
        [
            str(BIN / "ansible-inventory"),
            "-i",
            f"inventories/{env}",
            "--playbook-dir",
            ".",
            "--host",
            "localhost",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_shared_defaults_reach_every_environment() -> None:
    shared = host_vars("local")
    assert shared["vpc_cidr_block"] == "10.0.0.0/16"
    assert shared["nat_mode"] == "per_az"
    assert shared["vpc_az_count"] == 2
    assert shared["hastack_emulator"] is True
    assert host_vars("dev")["vpc_cidr_block"] == "10.0.0.0/16"  # dev does not override it


@pytest.mark.parametrize(
    ("env", "setting", "value"),
    [
        ("dev", "nat_mode", "single"),
        ("dev", "aws_region", "eu-west-1"),
        ("prod", "nat_mode", "per_az"),
        ("prod", "vpc_az_count", 3),
        ("prod", "vpc_cidr_block", "10.20.0.0/16"),
        ("prod", "stack_environment", "prod"),
    ],
)
def test_environment_overrides_shared_value(env: str, setting: str, value: Any) -> None:
    assert host_vars(env)[setting] == value


def test_real_aws_environments_do_not_start_the_emulator() -> None:
    assert host_vars("dev")["hastack_emulator"] is False
    assert host_vars("prod")["hastack_emulator"] is False


def test_override_reaches_a_play() -> None:
    """The same precedence holds in a real run of site.yml (not only in ansible-inventory)."""
    out = subprocess.run(
        [
            str(BIN / "ansible"),
            "-i",
            "inventories/prod",
            "--playbook-dir",
            ".",
            "localhost",
            "-m",
            "ansible.builtin.debug",
            "-a",
            "msg={{ nat_mode }}/{{ vpc_az_count }}/{{ stack_name }}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "per_az/3/hastack-prod" in out.stdout
