"""Inventories: each environment's value overrides the shared one in group_vars/all and the
role defaults, and the shared values reach environments that do not override them."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

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


SHARED = yaml.safe_load((ROOT / "group_vars/all/stack.yml").read_text())


def role_default(role: str, setting: str) -> Any:
    return yaml.safe_load((ROOT / f"roles/{role}/defaults/main.yml").read_text())[setting]


def test_shared_settings_reach_every_environment() -> None:
    assert SHARED["aws_region"] == "us-east-1"
    assert host_vars("local")["aws_region"] == "us-east-1"  # local does not override it
    assert host_vars("local")["hastack_emulator"] is True
    assert "vpc_cidr_block" not in host_vars("dev")  # a role default, not an inventory value


@pytest.mark.parametrize(
    ("env", "setting", "value"),
    [("dev", "aws_region", "eu-west-1"), ("prod", "stack_environment", "prod")],
)
def test_environment_overrides_shared_value(env: str, setting: str, value: Any) -> None:
    """A value in inventories/<env>/group_vars/hastack beats playbook-adjacent group_vars/all."""
    assert SHARED[setting] != value  # else the override could not be told from the shared value
    assert host_vars(env)[setting] == value


@pytest.mark.parametrize(
    ("env", "role", "setting", "value", "default"),
    [
        ("dev", "nat", "nat_mode", "single", "per_az"),
        ("prod", "vpc", "vpc_az_count", 3, 2),
        ("prod", "vpc", "vpc_cidr_block", "10.20.0.0/16", "10.0.0.0/16"),
        ("prod", "asg", "asg_min_size", 2, 1),
        ("prod", "alb", "alb_deletion_protection", True, False),
    ],
)
def test_environment_overrides_role_default(
    env: str, role: str, setting: str, value: Any, default: Any
) -> None:
    assert role_default(role, setting) == default
    assert value != default  # an override equal to the default could not fail
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
            "msg={{ nat_mode }}/{{ vpc_az_count }}/{{ stack_name }}/{{ aws_region }}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "per_az/3/hastack-prod/eu-west-1" in out.stdout
