"""Bad Auto Scaling and scaling settings fail before any AWS call, naming the setting."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import assert_rejected_before_aws

PLAYBOOK = "molecule/scaling/converge.yml"  # preflight validates vpc, nat, asg and scaling

CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "min-above-max",
        {"asg_min_size": 6, "asg_max_size": 5},
        "asg_min_size (6) is larger than asg_max_size (5)",
    ),
    (
        "desired-below-min",
        {"asg_min_size": 2, "asg_desired_capacity": 1},
        "asg_desired_capacity (1)",
    ),
    ("desired-above-max", {"asg_desired_capacity": 9}, "asg_desired_capacity (9)"),
    (
        "negative-min",
        {"asg_min_size": -1, "asg_desired_capacity": 0},
        "asg_min_size must be 0 or more",
    ),
    ("max-zero", {"asg_min_size": 0, "asg_desired_capacity": 0, "asg_max_size": 0}, "asg_max_size"),
    ("size-wrong-type", {"asg_max_size": "lots"}, "asg_max_size"),
    ("health-check-type", {"asg_health_check_type": "HTTP"}, "asg_health_check_type"),
    ("grace-negative", {"asg_health_check_grace_period": -5}, "asg_health_check_grace_period"),
    ("wait-timeout-zero", {"asg_wait_timeout": 0}, "asg_wait_timeout"),
    ("asg-name-bad", {"asg_name": "my group!"}, "asg_name"),
    ("cpu-target-zero", {"scaling_cpu_target": 0}, "scaling_cpu_target"),
    ("cpu-target-over-100", {"scaling_cpu_target": 150}, "scaling_cpu_target"),
    ("warmup-negative", {"scaling_instance_warmup": -1}, "scaling_instance_warmup"),
    (
        "request-count-negative",
        {"scaling_request_count_target": -10},
        "scaling_request_count_target",
    ),
    (
        "alarm-thresholds-crossed",
        {
            "scaling_step_alarms": True,
            "scaling_low_cpu_threshold": 90,
            "scaling_high_cpu_threshold": 80,
        },
        "scaling_low_cpu_threshold",
    ),
    (
        "alarm-period",
        {"scaling_step_alarms": True, "scaling_alarm_period": 45},
        "scaling_alarm_period",
    ),
    (
        "alarm-evaluation-periods",
        {"scaling_step_alarms": True, "scaling_alarm_evaluation_periods": 0},
        "scaling_alarm_evaluation_periods",
    ),
]


@pytest.mark.parametrize(
    ("extra_vars", "setting"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_fails_before_any_aws_call(extra_vars: dict[str, Any], setting: str) -> None:
    assert_rejected_before_aws(PLAYBOOK, extra_vars, setting)
