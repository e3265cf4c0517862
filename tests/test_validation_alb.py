"""Bad load balancer settings fail before any AWS call, with a message naming the setting.

Runs molecule/alb/converge.yml (preflight with preflight_roles [vpc, nat, alb], then the
roles), since site.yml does not include the alb role yet. AWS_ENDPOINT_URL points at an
endpoint that records every request: an empty record proves the run never reached AWS.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import counting_endpoint, run_playbook

PLAYBOOK = "molecule/alb/converge.yml"
NAME_33 = "a" * 33
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("alb-name-too-long", {"alb_name": NAME_33}, "alb_name"),
    ("alb-name-underscore", {"alb_name": "shop_alb"}, "alb_name"),
    ("alb-name-trailing-hyphen", {"alb_name": "shop-alb-"}, "alb_name"),
    ("alb-name-leading-hyphen", {"alb_name": "-shop-alb"}, "alb_name"),
    ("alb-name-internal", {"alb_name": "internal-shop"}, "alb_name"),
    ("tg-name-too-long", {"alb_target_group_name": NAME_33}, "alb_target_group_name"),
    ("tg-name-dot", {"alb_target_group_name": "shop.tg"}, "alb_target_group_name"),
    ("tg-name-internal", {"alb_target_group_name": "internal-tg"}, "alb_target_group_name"),
    ("app-port-too-high", {"app_port": 70000}, "app_port"),
    ("app-port-zero", {"app_port": 0}, "app_port"),
    ("app-port-not-a-number", {"app_port": "http"}, "app_port"),
    (
        "timeout-equals-interval",
        {"alb_health_check_interval": 10, "alb_health_check_timeout": 10},
        "alb_health_check_timeout",
    ),
    (
        "timeout-above-interval",
        {"alb_health_check_interval": 10, "alb_health_check_timeout": 30},
        "alb_health_check_timeout",
    ),
    ("interval-too-short", {"alb_health_check_interval": 4}, "alb_health_check_interval"),
    ("interval-too-long", {"alb_health_check_interval": 301}, "alb_health_check_interval"),
    (
        "healthy-threshold-one",
        {"alb_health_check_healthy_threshold": 1},
        "alb_health_check_healthy_threshold",
    ),
    (
        "unhealthy-threshold-eleven",
        {"alb_health_check_unhealthy_threshold": 11},
        "alb_health_check_unhealthy_threshold",
    ),
    ("matcher-word", {"alb_health_check_matcher": "OK"}, "alb_health_check_matcher"),
    ("matcher-semicolon", {"alb_health_check_matcher": "200;302"}, "alb_health_check_matcher"),
    ("matcher-below-200", {"alb_health_check_matcher": "100"}, "alb_health_check_matcher"),
    ("matcher-open-range", {"alb_health_check_matcher": "200-"}, "alb_health_check_matcher"),
    ("path-relative", {"alb_health_check_path": "healthz"}, "alb_health_check_path"),
    ("path-with-space", {"alb_health_check_path": "/health z"}, "alb_health_check_path"),
    ("deregistration-negative", {"alb_deregistration_delay": -1}, "alb_deregistration_delay"),
    ("deregistration-too-long", {"alb_deregistration_delay": 3601}, "alb_deregistration_delay"),
    ("idle-timeout-zero", {"alb_idle_timeout": 0}, "alb_idle_timeout"),
    ("idle-timeout-too-long", {"alb_idle_timeout": 4001}, "alb_idle_timeout"),
    ("idle-timeout-wrong-type", {"alb_idle_timeout": "sixty"}, "alb_idle_timeout"),
    (
        "certificate-from-iam",
        {"alb_certificate_arn": "arn:aws:iam::123456789012:server-certificate/shop"},
        "alb_certificate_arn",
    ),
    (
        "certificate-short-account",
        {"alb_certificate_arn": CERT.replace("123456789012", "12345")},
        "alb_certificate_arn",
    ),
    ("certificate-not-an-arn", {"alb_certificate_arn": "shop.example.com"}, "alb_certificate_arn"),
    ("ssl-policy-unknown", {"alb_ssl_policy": "TLS13"}, "alb_ssl_policy"),
    ("ingress-no-prefix", {"alb_ingress_cidrs": ["203.0.113.0"]}, "alb_ingress_cidrs"),
    ("ingress-host-bits", {"alb_ingress_cidrs": ["10.0.0.1/16"]}, "alb_ingress_cidrs"),
    ("ingress-octet-300", {"alb_ingress_cidrs": ["300.0.0.0/8"]}, "alb_ingress_cidrs"),
    ("ingress-prefix-33", {"alb_ingress_cidrs": ["10.0.0.0/33"]}, "alb_ingress_cidrs"),
    ("ingress-ipv6", {"alb_ingress_cidrs": ["::/0"]}, "alb_ingress_cidrs"),
    ("ingress-empty", {"alb_ingress_cidrs": []}, "alb_ingress_cidrs"),
    ("ingress-a-string", {"alb_ingress_cidrs": "0.0.0.0/0"}, "alb_ingress_cidrs"),
    ("state-unknown", {"alb_state": "gone"}, "alb_state"),
]

# Values at the edges of what AWS accepts: validation must let every one through.
VALID_EDGES: list[tuple[str, dict[str, Any]]] = [
    (
        "names-32-characters",
        {"alb_name": "A" + "b" * 30 + "9", "alb_target_group_name": "t-" + "g" * 30},
    ),
    (
        "health-check-edges",
        {
            "app_port": 65535,
            "alb_health_check_path": "/",
            "alb_health_check_matcher": "200-299,302",
            "alb_health_check_interval": 5,
            "alb_health_check_timeout": 4,
            "alb_health_check_healthy_threshold": 10,
            "alb_health_check_unhealthy_threshold": 2,
            "alb_deregistration_delay": 0,
            "alb_idle_timeout": 4000,
        },
    ),
    (
        "https-and-cidrs",
        {
            "alb_certificate_arn": CERT.replace("arn:aws:", "arn:aws-us-gov:"),
            "alb_ingress_cidrs": ["203.0.113.0/24", "198.51.100.7/32", "0.0.0.0/0"],
        },
    ),
]

ENV_COUNTED = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}


def _run(endpoint: str, extra_vars: dict[str, Any], **kwargs: Any):
    return run_playbook(
        PLAYBOOK,
        extra_vars={"stack_name": "validation", **extra_vars},
        env={"AWS_ENDPOINT_URL": endpoint, **ENV_COUNTED},
        **kwargs,
    )


@pytest.mark.parametrize(
    ("extra_vars", "setting"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_alb_input_fails_before_any_aws_call(extra_vars: dict[str, Any], setting: str) -> None:
    with counting_endpoint() as (endpoint, calls):
        run = _run(endpoint, extra_vars)
    assert run.rc != 0, run.stdout[-2000:]
    assert calls == [], f"AWS was called before validation failed: {calls}"
    failures = run.failures()
    messages = " ".join(msg for _, msg in failures)
    assert setting in messages, f"message does not name {setting!r}: {messages}"
    assert all(_role(task) == "alb" for task, _ in failures), failures
    assert not any(" : present | " in t or " : absent | " in t for t in run.ran_tasks())


def test_every_problem_is_reported_at_once() -> None:
    """One run names every bad setting, so a user fixes them all in one go."""
    bad = {"alb_idle_timeout": 0, "alb_deregistration_delay": 4000, "alb_name": "internal-x"}
    with counting_endpoint() as (endpoint, calls):
        run = _run(endpoint, bad)
    assert run.rc != 0
    assert calls == []
    messages = " ".join(msg for _, msg in run.failures())
    for setting in bad:
        assert f"{setting}:" in messages, f"{setting} missing from: {messages}"


@pytest.mark.parametrize("extra_vars", [c[1] for c in VALID_EDGES], ids=[c[0] for c in VALID_EDGES])
def test_valid_edge_input_passes_validation_and_reaches_aws(extra_vars: dict[str, Any]) -> None:
    """The counting endpoint does see calls once validation passes (so the guard above can fail),
    and values at AWS's limits are not rejected."""
    with counting_endpoint() as (endpoint, calls):
        run = _run(endpoint, {**extra_vars, "preflight_aws_max_attempts": 1})
    assert run.rc != 0, "the endpoint answers 500, so the run must fail at its first AWS call"
    assert calls, "a valid configuration should have reached the (failing) endpoint"
    assert not any(_role(task) == "alb" for task, _ in run.failures()), run.failures()


def _role(task: str) -> str:
    """The role of a task as ansible-playbook prints it: "hastack.stack.alb : ..." -> "alb"."""
    return task.split(" : ", 1)[0].rsplit(".", 1)[-1] if " : " in task else ""
