"""Deploys and destroys killed at many points (SIGKILL to ansible-playbook and its module
processes, as when a pipeline is cancelled or a laptop closed), and what a re-run makes of it.

Each case kills a deploy at one point, re-runs it to completion and asserts the emulator holds
exactly the intended stack and nothing more (tests/stack_shape.py: the stack kind by kind,
and the whole account compared with a snapshot taken before, so an untagged orphan shows too).
Then it kills the destroy at a point of its own, re-runs it and asserts nothing is left. Every
deploy point is paired with a destroy point so each of both lists runs once; the cases run in
parallel under pytest-xdist, each with its own stack. A separate case destroys straight after
a killed deploy, without the re-run: a half-built stack must go as cleanly as a whole one.

Every point writes an ``interruptions`` figure and a ``leaks`` figure (tests/reliability.py).
A kill that never reaches its marker fails: the case would prove nothing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.reliability import record
from tests.stack_shape import account_snapshot, added, assert_exact_stack
from tests.support import role_marker, run_killed_during, run_playbook, stack_leftovers

pytestmark = pytest.mark.emulator

# Kill points inside roles: the banner of a task that waits or creates, and the seconds to let
# it run before the kill. These name tasks, so they follow the roles: update this table when a
# role's tasks are renamed or merged (a marker no longer printed fails its case, never skips).
# killed_during in the figures shows which task the kill really landed in.
INNER: dict[str, tuple[str, float]] = {
    # deploy: inside the one call that builds the VPC, subnets, gateway and route tables
    "vpc-create": ("TASK [hastack.stack.vpc : present | Build the network", 0.6),
    # deploy: inside the one call that allocates EIPs, requests the NAT gateways and routes
    "nat-request": ("TASK [hastack.stack.nat : present | Create the NAT gateways and route", 0.6),
    # deploy: the NAT gateways requested and routed, the load balancer made, waiting for them
    "nat-wait": (
        "TASK [hastack.stack.nat : wait | Wait for every NAT gateway to be available]",
        0.5,
    ),
    # deploy: load balancer and listeners made, attributes not set, no launch template yet
    "alb-attributes": (
        "TASK [hastack.stack.alb : present | Set the load balancer attributes]",
        0.0,
    ),
    # deploy: the Auto Scaling group created, waiting for its instances
    "asg-wait": (
        "TASK [hastack.stack.asg : present | Create or update the Auto Scaling group]",
        0.9,
    ),
    # destroy: the group scaled to 0, waiting for its instances to end before deleting it
    "asg-delete-wait": (
        "TASK [hastack.stack.asg : absent | Delete the stack's groups and wait until",
        1.5,
    ),
    # destroy: inside the one call that deletes the load balancer, listeners and target group,
    # then waits for the network interfaces on its security group to go
    "alb-eni-wait": (
        "TASK [hastack.stack.alb : absent | Delete the load balancers, listeners and target groups",
        1.0,
    ),
    # destroy: inside the one call that deletes the NAT gateways, waits, then releases the EIPs
    "nat-delete-wait": (
        "TASK [hastack.stack.nat : absent | Delete the NAT gateways, wait until they are gone",
        0.6,
    ),
    # destroy: inside the one-call network teardown (route tables, IGW, groups, subnets, VPC)
    "vpc-teardown": (
        "TASK [hastack.stack.vpc : absent | Delete the VPCs with their route tables, gateways",
        1.0,
    ),
}

# (point, marker, delay). Role boundaries: everything before the role done, nothing of it run.
DEPLOY_POINTS: list[tuple[str, str, float]] = [
    ("vpc", role_marker("vpc"), 0.0),
    ("vpc-create", *INNER["vpc-create"]),
    ("nat", role_marker("nat"), 0.0),
    ("nat-request", *INNER["nat-request"]),
    ("nat-wait", *INNER["nat-wait"]),
    ("alb", role_marker("alb"), 0.0),
    ("launch_template", role_marker("launch_template"), 0.0),
    ("asg", role_marker("asg"), 0.0),
    ("asg-wait", *INNER["asg-wait"]),
    ("scaling", role_marker("scaling"), 0.0),
    ("outputs", "TASK [Write the stack outputs]", 0.0),
]
DESTROY_POINTS: list[tuple[str, str, float]] = [
    ("scaling", role_marker("scaling"), 0.0),
    ("asg", role_marker("asg"), 0.0),
    ("asg-delete-wait", *INNER["asg-delete-wait"]),
    ("alb", role_marker("alb"), 0.0),
    ("alb-eni-wait", *INNER["alb-eni-wait"]),
    ("launch_template", role_marker("launch_template"), 0.0),
    ("nat", role_marker("nat"), 0.0),
    ("nat-delete-wait", *INNER["nat-delete-wait"]),
    ("vpc", role_marker("vpc"), 0.0),
    ("vpc-teardown", *INNER["vpc-teardown"]),
    ("outputs", "TASK [Remove the stack's outputs file]", 0.0),
]
assert len(DEPLOY_POINTS) == len(DESTROY_POINTS)  # paired one to one below
CASES = list(zip(DEPLOY_POINTS, DESTROY_POINTS, strict=True))

# Deploys killed and then destroyed straight away (no re-run first).
HALF_BUILT = ["nat-wait", "alb-attributes", "asg-wait"]


def leftovers(endpoint: str, stack: str, before: dict[str, set[str]]) -> list[str]:
    """What the stack left: tagged with it (the sweep), or new in the account since ``before``."""
    found = stack_leftovers(endpoint, stack)
    found += [
        f"untagged {kind} {ident}"
        for kind, ids in added(before, account_snapshot(endpoint)).items()
        for ident in sorted(ids)
        if not any(ident in item for item in found)
    ]
    return found


def kill(playbook: str, stack: str, point: tuple[str, str, float], fig: dict[str, Any]) -> None:
    name, marker, delay = point
    fig.update(playbook=playbook, point=name, marker=marker, delay=delay, landed=False)
    killed = run_killed_during(playbook, marker, extra_vars={"stack_name": stack}, delay=delay)
    fig.update(landed=True, killed_during=killed.killed_during)
    assert "PLAY RECAP" not in killed.output


def rerun(playbook: str, stack: str, fig: dict[str, Any]) -> None:
    start = time.monotonic()
    run = run_playbook(playbook, extra_vars={"stack_name": stack})
    fig.update(rerun_rc=run.rc, rerun_seconds=round(time.monotonic() - start, 1))
    assert run.rc == 0, run.failures() or run.stdout[-3000:]


@pytest.mark.parametrize(
    ("deploy_point", "destroy_point"),
    CASES,
    ids=[f"deploy@{d[0]}-destroy@{x[0]}" for d, x in CASES],
)
def test_killed_deploy_and_destroy_converge(
    aws_env: str, deploy_point: tuple[str, str, float], destroy_point: tuple[str, str, float]
) -> None:
    stack = f"kill-{CASES.index((deploy_point, destroy_point)):02d}"
    before = account_snapshot(aws_env)
    deploy_fig: dict[str, Any] = {"stack": stack, "converged": False}
    destroy_fig: dict[str, Any] = {"stack": stack}
    left: list[str] | None = None
    try:
        kill("site.yml", stack, deploy_point, deploy_fig)
        rerun("site.yml", stack, deploy_fig)
        assert_exact_stack(aws_env, stack, azs=2, before=before)
        deploy_fig["converged"] = True

        kill("destroy.yml", stack, destroy_point, destroy_fig)
        rerun("destroy.yml", stack, destroy_fig)
        left = leftovers(aws_env, stack, before)
        assert left == [], f"left after the destroy: {left}"
        destroy_fig["converged"] = True
    finally:
        for fig in (deploy_fig, destroy_fig):
            if "playbook" in fig:
                fig["leftovers"] = left
                record("interruptions", f"{fig['playbook']}:{fig['point']}", fig)
        if left is not None:
            record(
                "leaks",
                f"interruptions deploy@{deploy_point[0]} destroy@{destroy_point[0]}",
                {"found": len(left), "after": f"destroy.yml killed at {destroy_point[0]}, re-run"},
            )
        if left != []:  # the case failed half-way: clear the stack for the worker's next case
            run_playbook("destroy.yml", extra_vars={"stack_name": stack})


@pytest.mark.parametrize("point", HALF_BUILT)
def test_destroy_after_a_killed_deploy_leaves_nothing(aws_env: str, point: str) -> None:
    stack = f"kill-half-{HALF_BUILT.index(point)}"
    before = account_snapshot(aws_env)
    fig: dict[str, Any] = {"stack": stack}
    left: list[str] | None = None
    try:
        kill("site.yml", stack, (point, *INNER[point]), fig)
        assert stack_leftovers(aws_env, stack), "the killed deploy created nothing"

        rerun("destroy.yml", stack, fig)
        left = leftovers(aws_env, stack, before)
        assert left == [], f"left after the destroy: {left}"
        again = run_playbook("destroy.yml", extra_vars={"stack_name": stack})
        assert again.rc == 0, again.failures()
        assert again.changed == 0, again.changed_tasks()
        fig["converged"] = True
    finally:
        if "playbook" in fig:
            fig.update(leftovers=left, then="destroy.yml without a re-run of the deploy")
            record("interruptions", f"site.yml:{point} then destroy.yml", fig)
        if left is not None:
            record(
                "leaks",
                f"interruptions deploy@{point} then destroy",
                {"found": len(left), "after": f"site.yml killed at {point}, then destroy.yml"},
            )
        if left != []:
            run_playbook("destroy.yml", extra_vars={"stack_name": stack})
