"""The asg role: a group that matches its settings is left alone; any managed setting changed by
hand shows in the dry run and is put back by the next deploy.

amazon.aws.autoscaling_group sends UpdateAutoScalingGroup (and EnableMetricsCollection) on
every run, whatever the group holds. The role compares its one lookup with every setting the
module manages and runs the module only when something differs or the group has fewer
instances in service and healthy than desired. These tests prove both halves on the emulator:
no Auto Scaling write on a no-op, and every compared setting restored after a hand change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import client, recording_proxy, run_playbook

pytestmark = pytest.mark.emulator

STACK = "asgc"
GROUP = f"{STACK}-asg"
MODULE_TASK = "hastack.stack.asg : present | Create or update the Auto Scaling group"
DRIFT_TASK = "hastack.stack.asg : present | Compare the group with the settings (check mode)"


def group(asg: Any) -> dict[str, Any]:
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]


def drift_message(run: Any) -> str:
    for play in run.data.get("plays", []):
        for task in play["tasks"]:
            if task["task"]["name"] == DRIFT_TASK:
                return str(task["hosts"]["localhost"].get("msg", ""))
    raise AssertionError(f"{DRIFT_TASK} did not run")


def module_ran(run: Any) -> bool:
    for play in run.data.get("plays", []):
        for task in play["tasks"]:
            if task["task"]["name"] == MODULE_TASK:
                return not task["hosts"]["localhost"].get("skipped", False)
    raise AssertionError(f"{MODULE_TASK} is missing from the run")


def test_matching_group_is_left_alone_and_hand_changes_are_restored(aws_env: str) -> None:
    try:
        deployed = run_playbook("site.yml", extra_vars={"stack_name": STACK})
        assert deployed.rc == 0, deployed.failures()
        assert module_ran(deployed)
        asg = client("autoscaling", aws_env)
        before = group(asg)

        # -- a no-op: the group is read once and nothing is written to Auto Scaling
        with recording_proxy(aws_env) as (proxy, calls):
            noop = run_playbook(
                "site.yml", extra_vars={"stack_name": STACK}, env={"AWS_ENDPOINT_URL": proxy}
            )
        assert noop.rc == 0, noop.failures()
        assert noop.changed == 0, noop.changed_tasks()
        assert not module_ran(noop)
        autoscaling = [op for service, op in calls if service == "autoscaling"]
        writes = [op for op in autoscaling if not op.startswith("Describe")]
        assert writes == [], writes
        assert autoscaling.count("DescribeAutoScalingGroups") >= 1

        # -- settings the module manages, changed by hand (the emulator's UpdateAutoScalingGroup
        # ignores DefaultCooldown and TerminationPolicies: test_drift_rules covers those two)
        asg.update_auto_scaling_group(AutoScalingGroupName=GROUP, HealthCheckGracePeriod=30)
        asg.suspend_processes(AutoScalingGroupName=GROUP, ScalingProcesses=["AZRebalance"])
        # The emulator has no DisableMetricsCollection, and its EnableMetricsCollection replaces
        # the list where AWS adds to it: enabling two metrics leaves only those two.
        asg.enable_metrics_collection(
            AutoScalingGroupName=GROUP, Metrics=["GroupTotalInstances"], Granularity="1Minute"
        )
        assert len(group(asg)["EnabledMetrics"]) == 1
        asg.create_or_update_tags(
            Tags=[
                {
                    "ResourceId": GROUP,
                    "ResourceType": "auto-scaling-group",
                    "Key": "hastack:environment",
                    "Value": "tampered",
                    "PropagateAtLaunch": True,
                },
                {
                    "ResourceId": GROUP,
                    "ResourceType": "auto-scaling-group",
                    "Key": "Name",
                    "Value": f"{STACK}-app",
                    "PropagateAtLaunch": False,
                },
            ]
        )

        plan = run_playbook("site.yml", extra_vars={"stack_name": STACK}, args=["--check"])
        assert plan.rc == 0, plan.failures()
        assert DRIFT_TASK in plan.changed_tasks()
        message = drift_message(plan)
        for expected in (
            "health_check_grace_period 30 -> 180",
            "suspended processes AZRebalance -> none",
            "metrics collection",
            "tags ",
            "tampered",
        ):
            assert expected in message, message

        # -- a deploy puts every one of them back
        fixed = run_playbook("site.yml", extra_vars={"stack_name": STACK})
        assert fixed.rc == 0, fixed.failures()
        assert module_ran(fixed)
        after = group(asg)
        assert after["HealthCheckGracePeriod"] == 180
        assert after["SuspendedProcesses"] == []
        assert sorted(m["Metric"] for m in after["EnabledMetrics"]) == sorted(
            m["Metric"] for m in before["EnabledMetrics"]
        )
        assert len(after["EnabledMetrics"]) == 8
        tags = {t["Key"]: (t["Value"], t["PropagateAtLaunch"]) for t in after["Tags"]}
        assert tags["hastack:environment"] == ("local", True)
        assert tags["Name"] == (f"{STACK}-app", True)

        # -- and then it matches again: the dry run is clean and the module stays idle
        clean = run_playbook("site.yml", extra_vars={"stack_name": STACK}, args=["--check"])
        assert clean.changed == 0, clean.changed_tasks()
        assert drift_message(clean) == "the group matches the settings"

        # -- an instance out of service: the settings match, but the module runs and waits for
        # the group to be back at its desired capacity. The emulator never replaces an
        # unhealthy instance (AWS does), so with a short asg_wait_timeout the wait runs out: the
        # deploy fails naming it, which proves the role did not skip the module.
        instance = after["Instances"][0]["InstanceId"]
        asg.set_instance_health(InstanceId=instance, HealthStatus="Unhealthy")
        waited = run_playbook(
            "site.yml", extra_vars={"stack_name": STACK, "asg_wait_timeout": 3}, timeout=300
        )
        assert waited.rc != 0
        failures = waited.failures()
        assert [task for task, _ in failures] == [MODULE_TASK], failures
        assert "Waited too long for new instances to become viable" in failures[0][1]
        # Healthy again (what AWS would reach by replacing it): the group is left alone.
        asg.set_instance_health(InstanceId=instance, HealthStatus="Healthy")
        again = run_playbook("site.yml", extra_vars={"stack_name": STACK})
        assert again.rc == 0, again.failures()
        assert not module_ran(again)
    finally:
        run_playbook("destroy.yml", extra_vars={"stack_name": STACK})


# -- the comparison itself, against groups made up here: it covers what the emulator cannot
# change (DefaultCooldown, TerminationPolicies, DisableMetricsCollection) and runs without AWS.

RULES_PLAY = """
- hosts: localhost
  gather_facts: false
  vars_files:
    - {root}/roles/asg/defaults/main.yml
    - {root}/roles/asg/vars/main.yml
  tasks:
    - name: Show the drift and the instances in service
      ansible.builtin.debug:
        msg: "{{{{ {{'drift': __asg_drift, 'viable': __asg_viable | int}} }}}}"
"""


def matching_group() -> dict[str, Any]:
    """A group as autoscaling_group_info returns it, matching every default setting."""
    return {
        "auto_scaling_group_name": f"{STACK}-asg",
        "min_size": 1,
        "max_size": 5,
        "desired_capacity": 2,
        "default_cooldown": 300,
        "health_check_type": "ELB",
        "health_check_grace_period": 180,
        "vpc_zone_identifier": "subnet-a,subnet-b",
        "target_group_arns": ["arn:tg"],
        "launch_template": {"launch_template_id": "lt-1", "version": "3"},
        "termination_policies": ["OldestLaunchTemplate", "Default"],
        "suspended_processes": [],
        "enabled_metrics": [
            {"metric": m, "granularity": "1Minute"}
            for m in [
                "GroupTotalInstances",
                "GroupMinSize",
                "GroupMaxSize",
                "GroupDesiredCapacity",
                "GroupInServiceInstances",
                "GroupPendingInstances",
                "GroupStandbyInstances",
                "GroupTerminatingInstances",
            ]
        ],
        "tags": [
            {"key": k, "value": v, "propagate_at_launch": True}
            for k, v in (("hastack:stack", STACK), ("Name", f"{STACK}-app"))
        ],
        "instances": [
            {"instance_id": f"i-{n}", "lifecycle_state": "InService", "health_status": "Healthy"}
            for n in (1, 2)
        ],
    }


def drift_of(tmp_path: Path, groups: list[dict[str, Any]]) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    play = tmp_path / "rules.yml"
    play.write_text(RULES_PLAY.format(root=root))
    # Extra vars: the role's defaults, read as vars_files, would win over play vars.
    settings = {
        "stack_name": STACK,
        "stack_tags": {"hastack:stack": STACK},
        "asg_launch_template_id": "lt-1",
        "asg_launch_template_version": "3",
        "asg_subnet_ids": ["subnet-b", "subnet-a"],
        "asg_target_group_arns": ["arn:tg"],
    }
    run = run_playbook(str(play), extra_vars={**settings, "__asg_found": {"results": groups}})
    assert run.rc == 0, (run.failures(), run.stderr[-2000:])
    return run.data["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]


def changed(**edits: Any) -> dict[str, Any]:
    group = matching_group()
    group.update(edits)
    return group


def test_drift_rules(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (changed(default_cooldown=60), "default_cooldown 60 -> 300"),
        (
            changed(termination_policies=["NewestInstance"]),
            "termination policies NewestInstance -> OldestLaunchTemplate,Default",
        ),
        (changed(enabled_metrics=[]), "metrics collection  -> GroupDesiredCapacity@1Minute"),
        (
            changed(
                enabled_metrics=[
                    {"metric": m["metric"], "granularity": "5Minute"}
                    for m in matching_group()["enabled_metrics"]
                ]
            ),
            "GroupMinSize@5Minute",
        ),
        (changed(suspended_processes=[{"process_name": "Launch"}]), "suspended processes Launch"),
        (changed(tags=matching_group()["tags"][:1]), '"Name"'),
        (changed(min_size=2), "min_size 2 -> 1"),
        (changed(vpc_zone_identifier="subnet-a"), "subnets subnet-a -> subnet-a,subnet-b"),
        (changed(target_group_arns=[]), "target groups  -> arn:tg"),
        (
            changed(launch_template={"launch_template_id": "lt-1", "version": "2"}),
            "launch template lt-1 version 2 -> lt-1 version 3",
        ),
    ]
    clean = drift_of(tmp_path, [matching_group()])
    assert clean == {"drift": [], "viable": 2}
    assert drift_of(tmp_path, []) == {"drift": [f"group {STACK}-asg does not exist"], "viable": 0}
    for group, expected in cases:
        result = drift_of(tmp_path, [group])
        assert len(result["drift"]) == 1, (expected, result)
        assert expected in result["drift"][0], (expected, result)
    # Not a setting, so not drift; but the module then runs to wait for the instances.
    sick = changed(
        instances=[
            {"instance_id": "i-1", "lifecycle_state": "InService", "health_status": "Unhealthy"},
            {"instance_id": "i-2", "lifecycle_state": "Pending", "health_status": "Healthy"},
        ]
    )
    assert drift_of(tmp_path, [sick]) == {"drift": [], "viable": 0}
    assert json.dumps(clean)  # plain data, as the role's tasks see it
