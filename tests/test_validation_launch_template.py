"""Bad launch template settings fail before any AWS call.

The validation cases run molecule/launch_template/converge.yml (preflight with preflight_roles
[vpc, nat, launch_template], then the roles), since site.yml does not include the role yet.
AWS_ENDPOINT_URL points at an endpoint that records every request: an empty record proves the
run never reached AWS. Each case also names the setting the message must mention.

The boot script (roles/launch_template/templates/user_data.sh.j2) is tested in
tests/test_user_data.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.support import (
    ROOT,
    assert_rejected_before_aws,
    counting_endpoint,
    counting_env,
    run_playbook,
)

PLAYBOOK = "molecule/launch_template/converge.yml"
STACK = "validation-lt"
SECRET = f"/{STACK}/django/secret-key"
VARS = yaml.safe_load((ROOT / "roles/launch_template/vars/main.yml").read_text())

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("app-port-too-high", {"app_port": 70000}, "app_port"),
    ("app-port-zero", {"app_port": 0}, "app_port"),
    ("app-port-not-a-number", {"app_port": "http"}, "app_port"),
    (
        "type-unknown-size",
        {"launch_template_instance_type": "t3.tiny"},
        "launch_template_instance_type",
    ),
    (
        "type-uppercase",
        {"launch_template_instance_type": "T3.small"},
        "launch_template_instance_type",
    ),
    ("type-no-dot", {"launch_template_instance_type": "t3small"}, "launch_template_instance_type"),
    (
        "type-no-generation",
        {"launch_template_instance_type": "t.small"},
        "launch_template_instance_type",
    ),
    ("image-uppercase-repo", {"app_image": "ghcr.io/Acme/shop:1.0"}, "app_image"),
    ("image-space-in-tag", {"app_image": "shop:1 0"}, "app_image"),
    ("image-short-digest", {"app_image": "shop@sha256:abc123"}, "app_image"),
    ("image-empty", {"app_image": ""}, "app_image"),
    ("image-scheme", {"app_image": "https://ghcr.io/acme/shop"}, "app_image"),
    ("ami-uppercase", {"launch_template_ami_id": "ami-0ABCDEF12"}, "launch_template_ami_id"),
    ("ami-too-short", {"launch_template_ami_id": "ami-123"}, "launch_template_ami_id"),
    (
        "ami-wrong-prefix",
        {"launch_template_ami_id": "img-0123456789abcdef0"},
        "launch_template_ami_id",
    ),
    (
        "ami-parameter-not-a-path",
        {"launch_template_ami_ssm_parameter": "al2023-latest"},
        "launch_template_ami_ssm_parameter",
    ),
    (
        "root-volume-too-small",
        {"launch_template_root_volume_size": 4},
        "launch_template_root_volume_size",
    ),
    (
        "root-volume-too-large",
        {"launch_template_root_volume_size": 16385},
        "launch_template_root_volume_size",
    ),
    (
        "root-volume-not-a-number",
        {"launch_template_root_volume_size": "big"},
        "launch_template_root_volume_size",
    ),
    ("secret-name-hyphen", {"app_secrets": {"DJANGO-KEY": SECRET}}, "app_secrets: DJANGO-KEY"),
    ("secret-name-digit-first", {"app_secrets": {"1KEY": SECRET}}, "app_secrets: 1KEY"),
    ("secret-name-reserved", {"app_secrets": {"HASTACK_AZ": SECRET}}, "app_secrets: HASTACK_AZ"),
    ("secret-parameter-relative", {"app_secrets": {"KEY": f"{STACK}/key"}}, "app_secrets: KEY"),
    (
        "secret-parameter-other-stack",
        {"app_secrets": {"KEY": "/other-stack/key"}},
        "app_secrets: KEY",
    ),
    ("secret-parameter-bad-char", {"app_secrets": {"KEY": f"/{STACK}/my key"}}, "app_secrets: KEY"),
    ("secret-parameter-not-a-string", {"app_secrets": {"KEY": 42}}, "app_secrets: KEY"),
    ("secrets-not-a-mapping", {"app_secrets": ["DJANGO_SECRET_KEY"]}, "app_secrets"),
    (
        "env-name-hyphen",
        {"app_environment": {"DJANGO-DEBUG": "0"}},
        "app_environment: DJANGO-DEBUG",
    ),
    ("env-name-reserved", {"app_environment": {"HASTACK_INSTANCE_ID": "x"}}, "HASTACK_INSTANCE_ID"),
    ("env-value-list", {"app_environment": {"HOSTS": ["a", "b"]}}, "app_environment: HOSTS"),
    (
        "env-also-secret",
        {"app_environment": {"DJANGO_SECRET_KEY": "plain"}},
        "app_environment: DJANGO_SECRET_KEY also in app_secrets",
    ),
    ("env-not-a-mapping", {"app_environment": "DEBUG=1"}, "app_environment"),
    ("user-data-too-large", {"app_environment": {"BLOB": "x" * 17000}}, "app_environment"),
    ("vpc-id-malformed", {"launch_template_vpc_id": "vpc-XYZ"}, "launch_template_vpc_id"),
    (
        "alb-sg-id-malformed",
        {"launch_template_alb_security_group_id": "lb-0123456789abcdef0"},
        "launch_template_alb_security_group_id",
    ),
]


@pytest.mark.parametrize(
    ("extra_vars", "setting"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_fails_before_any_aws_call(extra_vars: dict[str, Any], setting: str) -> None:
    assert_rejected_before_aws(PLAYBOOK, extra_vars, setting, stack=STACK)


def test_valid_input_does_reach_aws() -> None:
    """The counting endpoint really sees calls once validation passes (the guard above can fail)."""
    with counting_endpoint() as (endpoint, calls):
        run = run_playbook(
            PLAYBOOK,
            extra_vars={
                "stack_name": STACK,
                "app_environment": {"DJANGO_ALLOWED_HOSTS": ".example.com"},
                "preflight_aws_max_attempts": 1,
            },
            env={**counting_env(endpoint), "AWS_MAX_ATTEMPTS": "1"},
        )
    assert run.rc != 0
    assert calls, "a valid configuration should have reached the (failing) endpoint"


# Python's re.match is what Ansible's `match` test uses.
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
