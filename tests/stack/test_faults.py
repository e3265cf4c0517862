"""The stack through a faulty AWS: throttling, 500/503, slow answers, dropped connections.

Every playbook runs against ``tests/faultproxy.py`` in front of the session emulator; the
assertions go straight to the emulator. With 10 % of calls faulted the botocore retries that
preflight configures (AWS_RETRY_MODE / AWS_MAX_ATTEMPTS) carry deploy, check and destroy
through, and the stack holds exactly one of everything. When every call fails, the run stops
at preflight's connection check, in bounded time, with a message naming the endpoint, the
error and the retry setting; a clean run afterwards converges. Figures go to
``tests.reliability`` (topic ``faults``) for docs/RELIABILITY.md.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests import reliability
from tests.faultproxy import MIXED_KINDS, FaultProxy, mixed
from tests.support import (
    PlaybookRun,
    assert_rejected_before_aws,
    client,
    run_playbook,
    stack_leftovers,
    tag_filter,
    tags_of,
)

pytestmark = pytest.mark.emulator

RATE = 0.1
SEED = 1
# More than the default stack: the request-count policy and the step alarms bring in
# CloudWatch (RPC v2 CBOR) and two more policies, each of which must exist exactly once.
SETTINGS: dict[str, Any] = {"scaling_request_count_target": 500, "scaling_step_alarms": True}


def through(
    proxy: FaultProxy, playbook: str, stack: str, phase: str, case: str, **extra: Any
) -> tuple[PlaybookRun, dict[str, Any]]:
    """Run ``playbook`` with every AWS call going through ``proxy``; record its figures."""
    start = time.monotonic()
    run = run_playbook(
        playbook,
        extra_vars={"stack_name": stack, **SETTINGS, **extra},
        env={"AWS_ENDPOINT_URL": proxy.endpoint},
        timeout=900,
    )
    summary = proxy.summary()
    figures = {
        "phase": phase,
        "playbook": playbook,
        "rate": sum(proxy.rates.values()),
        "kinds": sorted(k for k, r in proxy.rates.items() if r > 0),
        "seed": proxy.seed,
        "requests": summary["requests"],
        "calls": summary["calls"],
        "faults": summary["faults"],
        "faults_total": summary["faults_total"],
        "faults_injected": summary["faults_total"],
        "retries_used": summary["recovered"],
        "retried_requests": summary["retried"],
        "calls_given_up": summary["exhausted"],
        "max_attempt": summary["max_attempt"],
        "wall_seconds": round(time.monotonic() - start, 1),
        "rc": run.rc,
        "outcome": "succeeded" if run.rc == 0 else f"failed (rc {run.rc})",
        "failures": [f"{task}: {msg[:400]}" for task, msg in run.failures()],
    }
    reliability.record("faults", f"{case}-{phase}", figures)
    return run, figures


def free_untagged_eips(endpoint: str) -> set[str]:
    """Addresses no one tagged and nothing uses: what a lost AllocateAddress answer leaks."""
    return {
        a["AllocationId"]
        for a in client("ec2", endpoint).describe_addresses()["Addresses"]
        if not a.get("Tags") and not a.get("AssociationId")
    }


def assert_exactly_one_stack(endpoint: str, stack: str) -> None:
    """One of everything the stack owns, nothing twice (what a blind retry of a create or an
    unfound resource would leave)."""
    ec2 = client("ec2", endpoint)
    flt = tag_filter(stack)
    vpcs = ec2.describe_vpcs(Filters=flt)["Vpcs"]
    assert len(vpcs) == 1, vpcs
    vpc_id = vpcs[0]["VpcId"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    igws = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
    )
    assert len(igws["InternetGateways"]) == 1
    subnets = ec2.describe_subnets(Filters=in_vpc)["Subnets"]
    tiers = sorted(tags_of(s)["hastack:tier"] for s in subnets)
    assert tiers == ["private", "private", "public", "public"], tiers
    public = {
        s["SubnetId"]: s["AvailabilityZone"]
        for s in subnets
        if tags_of(s)["hastack:tier"] == "public"
    }
    nats = [
        n
        for n in ec2.describe_nat_gateways()["NatGateways"]
        if n["VpcId"] == vpc_id and n["State"] != "deleted"
    ]
    assert sorted(public[n["SubnetId"]] for n in nats) == sorted(public.values()), nats
    eips = [
        a for a in ec2.describe_addresses()["Addresses"] if tags_of(a).get("hastack:stack") == stack
    ]
    assert sorted(a["AllocationId"] for a in eips) == sorted(
        n["NatGatewayAddresses"][0]["AllocationId"] for n in nats
    ), eips

    elbv2 = client("elbv2", endpoint)
    lbs = [
        lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb.get("VpcId") == vpc_id
    ]
    assert [lb["LoadBalancerName"] for lb in lbs] == [f"{stack}-alb"]
    tgs = [tg for tg in elbv2.describe_target_groups()["TargetGroups"] if tg.get("VpcId") == vpc_id]
    assert [tg["TargetGroupName"] for tg in tgs] == [f"{stack}-tg"]
    listeners = elbv2.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
    assert [lis["Port"] for lis in listeners] == [80]

    templates = [
        t
        for t in ec2.describe_launch_templates()["LaunchTemplates"]
        if t["LaunchTemplateName"].startswith(stack)
    ]
    assert [t["LaunchTemplateName"] for t in templates] == [f"{stack}-app"]

    autoscaling = client("autoscaling", endpoint)
    groups = [
        g
        for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
        if tags_of(g).get("hastack:stack") == stack
    ]
    assert [g["AutoScalingGroupName"] for g in groups] == [f"{stack}-asg"]
    assert groups[0]["DesiredCapacity"] == 2
    running = [
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[*flt, {"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )["Reservations"]
        for i in r["Instances"]
    ]
    assert sorted(running) == sorted(i["InstanceId"] for i in groups[0]["Instances"])
    assert len(running) == 2
    policies = [
        p["PolicyName"]
        for p in autoscaling.describe_policies(AutoScalingGroupName=f"{stack}-asg")[
            "ScalingPolicies"
        ]
    ]
    assert len(policies) == len(set(policies)) == 4, policies  # CPU, requests, step up, step down
    alarms = client("cloudwatch", endpoint).describe_alarms(AlarmNamePrefix=f"{stack}-cpu-")[
        "MetricAlarms"
    ]
    assert len(alarms) == 2, [a["AlarmName"] for a in alarms]


def assert_gone(endpoint: str, stack: str, untagged_before: set[str]) -> None:
    assert stack_leftovers(endpoint, stack) == []
    assert free_untagged_eips(endpoint) <= untagged_before, "an EIP leaked untagged"


def test_dead_api_stops_the_run_then_deploy_check_destroy_survive_ten_percent_faults(
    aws_env: str,
) -> None:
    """1. Every call answered 503: the deploy stops at preflight's connection check within
    bounded time, naming the endpoint, the AWS error, the attempts and the retry setting, and
    creates nothing. 2. The next deploy, with 10 % of calls faulted (the five kinds mixed,
    seeded), converges to exactly one of each resource; check and destroy succeed through the
    same faults and destroy leaves nothing.

    One test, one stack: a second deploy and destroy would double the runtime, and a converge
    through faults proves at least what a converge without them would."""
    stack, case = "faults-mix", f"mixed-{int(RATE * 100)}pct-seed{SEED}"
    untagged = free_untagged_eips(aws_env)
    try:
        with FaultProxy(aws_env, {"error503": 1.0}, seed=SEED) as proxy:
            run, figures = through(proxy, "site.yml", stack, "deploy-refused", "error503-100pct")
        assert run.rc != 0
        # 8 attempts: about 35 s of backoff (71 s at worst), plus Ansible's own start-up.
        assert figures["wall_seconds"] < 150, figures
        failures = run.failures()
        assert [task for task, _ in failures] == [
            "hastack.stack.preflight : Check that the target answers"
        ]
        message = failures[0][1]
        for part in (proxy.endpoint, "ServiceUnavailable", "8 attempt(s)", "AWS_MAX_ATTEMPTS=8"):
            assert part in message, (part, message)
        # One call, 8 attempts: the retries are bounded and nothing else was tried.
        assert summary_ops(proxy) == {"sts:GetCallerIdentity": 8}
        assert stack_leftovers(aws_env, stack) == []

        phases = [("deploy", "site.yml"), ("check", "check.yml"), ("destroy", "destroy.yml")]
        for offset, (phase, playbook) in enumerate(phases):
            with FaultProxy(aws_env, mixed(RATE), seed=SEED + offset) as proxy:
                run, figures = through(proxy, playbook, stack, phase, case)
            assert run.rc == 0, (phase, figures)
            assert figures["faults_total"] > 0, (
                "the proxy injected nothing: the test proves nothing"
            )
            assert figures["retries_used"] > 0, figures
            if phase == "deploy":
                assert all(figures["faults"][kind] for kind in MIXED_KINDS), figures
                assert_exactly_one_stack(aws_env, stack)
    finally:
        if stack_leftovers(aws_env, stack):
            run_playbook("destroy.yml", extra_vars={"stack_name": stack})
    assert_gone(aws_env, stack, untagged)


def summary_ops(proxy: FaultProxy) -> dict[str, int]:
    return {op: row["requests"] for op, row in proxy.by_operation().items()}


@pytest.mark.parametrize(
    ("env", "extra", "attempts"),
    [
        ({"AWS_MAX_ATTEMPTS": "3"}, {}, 3),
        ({"AWS_MAX_ATTEMPTS": "3"}, {"preflight_aws_max_attempts": 2}, 2),
    ],
    ids=["caller-env-beats-default", "extra-var-beats-caller-env"],
)
def test_attempt_budget_comes_from_the_caller(
    aws_env: str, env: dict[str, str], extra: dict[str, Any], attempts: int
) -> None:
    """Always throttled: exactly the configured number of attempts, named in the message."""
    with FaultProxy(aws_env, {"throttle": 1.0}) as proxy:
        run = run_playbook(
            "site.yml",
            extra_vars={"stack_name": "faults-budget", **extra},
            env={"AWS_ENDPOINT_URL": proxy.endpoint, **env},
        )
    assert run.rc != 0
    assert summary_ops(proxy) == {"sts:GetCallerIdentity": attempts}
    message = " ".join(msg for _, msg in run.failures())
    assert f"Throttling (Rate exceeded) on sts:GetCallerIdentity, {attempts} attempt(s)" in message
    assert f"AWS_MAX_ATTEMPTS={attempts}" in message


def test_attempt_budget_out_of_bounds_is_refused_before_any_call() -> None:
    assert_rejected_before_aws(
        "site.yml", {"preflight_aws_max_attempts": 0}, "preflight_aws_max_attempts"
    )


def test_an_api_that_stops_answering_mid_deploy_fails_clearly_then_a_clean_run_converges(
    aws_env: str,
) -> None:
    """Half-way through a deploy (the network and NAT tier built) the load balancing API stops
    answering: every CreateTargetGroup connection is dropped. botocore's 8 attempts run out,
    the run stops at that task with a message naming the call and the endpoint, and leaves a
    half-built stack. The next run, without faults, converges to exactly one of each resource,
    and destroy leaves nothing."""
    stack = "faults-dead"
    untagged = free_untagged_eips(aws_env)
    dead = {"CreateTargetGroup": ("drop", 1000)}
    try:
        with FaultProxy(aws_env, {}, seed=SEED, targeted=dead) as proxy:
            run, figures = through(
                proxy, "site.yml", stack, "deploy-dead-mid-run", "drop-all-CreateTargetGroup"
            )
        assert run.rc != 0
        failures = run.failures()
        assert [task for task, _ in failures] == [
            "hastack.stack.alb : present | Create the target group"
        ]
        message = failures[0][1]
        assert "CreateTargetGroup" in message or "target group" in message.lower(), message
        assert "127.0.0.1" in message, message  # the endpoint it could not reach
        attempts = [n for op, n in summary_ops(proxy).items() if op.endswith(":CreateTargetGroup")]
        assert attempts, summary_ops(proxy)
        assert 8 <= attempts[0] <= 8 * 11, attempts  # botocore's 8, at most amazon.aws's x11
        assert figures["wall_seconds"] < 400, figures
        assert stack_leftovers(aws_env, stack), "the network was built before the API died"

        start = time.monotonic()
        clean = run_playbook("site.yml", extra_vars={"stack_name": stack, **SETTINGS})
        assert clean.rc == 0, clean.failures()
        assert_exactly_one_stack(aws_env, stack)
        reliability.record(
            "faults",
            "drop-all-CreateTargetGroup-clean-rerun",
            {
                "phase": "deploy-clean-rerun",
                "playbook": "site.yml",
                "rate": 0.0,
                "kinds": [],
                "requests": None,
                "faults_injected": 0,
                "retries_used": 0,
                "wall_seconds": round(time.monotonic() - start, 1),
                "rc": clean.rc,
                "outcome": "converged: exactly one of each resource",
            },
        )
    finally:
        run_playbook("destroy.yml", extra_vars={"stack_name": stack})
    assert_gone(aws_env, stack, untagged)
