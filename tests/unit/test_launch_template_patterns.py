"""The launch template role's patterns for instance types and container images, as Ansible's
``match`` test applies them (Python's re.match). The bad values a user might set are cases of
``tests/bad_inputs.py``; the boot script is tested in tests/app/test_user_data.py."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.support import ROOT

VARS = yaml.safe_load((ROOT / "roles/launch_template/vars/main.yml").read_text())


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("t3.small", True),
        ("t3.medium", True),
        ("m7g.2xlarge", True),
        ("c6in.metal", True),
        ("m7i.metal-48xl", True),
        ("u-6tb1.metal", True),
        ("t3.tiny", False),
        ("t3.2large", False),
        ("m7g", False),
    ],
)
def test_instance_type_pattern(value: str, ok: bool) -> None:
    assert bool(re.match(VARS["__launch_template_instance_type_pattern"], value)) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("nginx", True),
        ("library/nginx:1.27", True),
        ("ghcr.io/hastack/hastack-app:0.1.0", True),
        ("localhost:5000/shop", True),
        ("registry:5000/team/shop:v1", True),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:2024.06.01", True),
        ("My.Registry.io/shop/web_app__x:1", True),
        ("shop@sha256:" + "a" * 64, True),
        ("shop:1.0@sha256:" + "0" * 64, True),
        ("Shop", False),
        ("shop:", False),
        ("shop:.hidden", False),
        ("shop@sha256:" + "A" * 64, False),
        ("ghcr.io//shop", False),
        ("shop;rm -rf /", False),
        ("$(reboot)", False),
    ],
)
def test_image_pattern(value: str, ok: bool) -> None:
    assert bool(re.match(VARS["__launch_template_image_pattern"], value)) is ok
