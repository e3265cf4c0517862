"""Validation lets good input through and reports every problem of a run at once.

The bad inputs themselves are one table, ``tests/bad_inputs.py``, run by
``tests/stack/test_bad_inputs.py``. Here: the other side. AWS_ENDPOINT_URL points at an
endpoint that records every request and answers 500, so a run that passes validation fails at
its first AWS call, and the record proves it got that far (the guard of the bad-input cases can
fail).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import counting_endpoint, counting_env, run_playbook

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"

# Values at the edges of what AWS accepts: validation must let every one through.
VALID_EDGES: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
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
    ("app-environment", {"app_environment": {"DJANGO_ALLOWED_HOSTS": ".example.com"}}),
]


def _run(endpoint: str, extra_vars: dict[str, Any]) -> Any:
    return run_playbook(
        "site.yml",
        extra_vars={"stack_name": "validation", "preflight_aws_max_attempts": 1, **extra_vars},
        env={**counting_env(endpoint), "AWS_MAX_ATTEMPTS": "1"},
    )


@pytest.mark.parametrize("extra_vars", [c[1] for c in VALID_EDGES], ids=[c[0] for c in VALID_EDGES])
def test_valid_input_passes_validation_and_reaches_aws(extra_vars: dict[str, Any]) -> None:
    with counting_endpoint() as (endpoint, calls):
        run = _run(endpoint, extra_vars)
    assert run.rc != 0, "the endpoint answers 500, so the run must fail at its first AWS call"
    assert calls, "a valid configuration should have reached the (failing) endpoint"
    for task, res in run.failed_results():
        assert not res.get("setting_error"), (task, res)
        assert not res.get("argument_errors"), (task, res)


def test_every_problem_of_a_role_is_reported_at_once() -> None:
    """One run names every bad setting of the role, so a user fixes them all in one go."""
    bad = {"alb_idle_timeout": 0, "alb_deregistration_delay": 4000, "alb_name": "internal-x"}
    with counting_endpoint() as (endpoint, calls):
        run = _run(endpoint, bad)
    assert run.rc != 0
    assert calls == []
    messages = " ".join(msg for _, msg in run.failures())
    for setting in bad:
        assert f"{setting}:" in messages, f"{setting} missing from: {messages}"
