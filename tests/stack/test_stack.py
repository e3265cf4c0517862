"""The whole stack from site.yml in the embedded emulator: outputs, re-runs, capacity.

Asserts on what the emulator holds and on the outputs file pipelines read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support import PlaybookRun, client, run_playbook, tag_filter

pytestmark = pytest.mark.emulator

STACK = "stack-life"


def deploy(**extra: object) -> PlaybookRun:
    run = run_playbook("site.yml", extra_vars={"stack_name": STACK, **extra})
    assert run.rc == 0, run.failures() or run.stderr[-3000:]
    return run


def registered_targets(endpoint: str, tg_arn: str) -> list[str]:
    health = client("elbv2", endpoint).describe_target_health(TargetGroupArn=tg_arn)
    return sorted(d["Target"]["Id"] for d in health["TargetHealthDescriptions"])


def test_stack_deploys_publishes_outputs_and_keeps_scaled_capacity(aws_env: str) -> None:
    state = Path(os.environ["HASTACK_STATE_DIR"])
    try:
        deploy()
        outputs = json.loads((state / "outputs" / f"{STACK}.json").read_text())

        # -- the outputs name what the emulator holds
        elbv2 = client("elbv2", aws_env)
        lb = elbv2.describe_load_balancers(Names=[f"{STACK}-alb"])["LoadBalancers"][0]
        assert outputs["load_balancer_dns_name"] == lb["DNSName"]
        assert outputs["load_balancer_url"] == f"http://{lb['DNSName']}"
        assert (
            outputs["target_group_arn"]
            == (
                elbv2.describe_target_groups(Names=[f"{STACK}-tg"])["TargetGroups"][0][
                    "TargetGroupArn"
                ]
            )
        )
        ec2 = client("ec2", aws_env)
        vpc = ec2.describe_vpcs(Filters=tag_filter(STACK))["Vpcs"][0]
        assert outputs["vpc_id"] == vpc["VpcId"]
        assert len(outputs["public_subnet_ids"]) == len(outputs["private_subnet_ids"]) == 2
        eips = ec2.describe_addresses(Filters=tag_filter(STACK))["Addresses"]
        assert sorted(outputs["nat_public_ips"]) == sorted(a["PublicIp"] for a in eips)
        assert len(outputs["nat_public_ips"]) == 2
        asg_client = client("autoscaling", aws_env)
        group = asg_client.describe_auto_scaling_groups(
            AutoScalingGroupNames=[outputs["asg_name"]]
        )["AutoScalingGroups"][0]
        assert group["LaunchTemplate"]["LaunchTemplateId"] == outputs["launch_template_id"]
        assert group["LaunchTemplate"]["Version"] == outputs["launch_template_version"]
        assert group["DesiredCapacity"] == 2
        instances = sorted(i["InstanceId"] for i in group["Instances"])
        assert registered_targets(aws_env, outputs["target_group_arn"]) == instances

        # -- a second run changes nothing and keeps the registered targets
        again = deploy()
        assert again.changed == 0, again.changed_tasks()
        assert registered_targets(aws_env, outputs["target_group_arn"]) == instances

        # -- scaling moves desired capacity; a re-run keeps it, a reset restores the setting
        asg_client.set_desired_capacity(AutoScalingGroupName=outputs["asg_name"], DesiredCapacity=4)
        deploy()
        group = asg_client.describe_auto_scaling_groups(
            AutoScalingGroupNames=[outputs["asg_name"]]
        )["AutoScalingGroups"][0]
        assert group["DesiredCapacity"] == 4
        deploy(asg_reset_desired_capacity=True)
        group = asg_client.describe_auto_scaling_groups(
            AutoScalingGroupNames=[outputs["asg_name"]]
        )["AutoScalingGroups"][0]
        assert group["DesiredCapacity"] == 2

        # -- a changed setting makes exactly one new template version, and the group pins it;
        #    the optional request-count policy tracks this load balancer's target group
        deploy(launch_template_instance_type="t3.medium", scaling_request_count_target=500)
        versions = ec2.describe_launch_template_versions(
            LaunchTemplateId=outputs["launch_template_id"]
        )["LaunchTemplateVersions"]
        assert len(versions) == 2
        group = asg_client.describe_auto_scaling_groups(
            AutoScalingGroupNames=[outputs["asg_name"]]
        )["AutoScalingGroups"][0]
        assert group["LaunchTemplate"]["Version"] == "2"
        policies = asg_client.describe_policies(AutoScalingGroupName=outputs["asg_name"])
        tracking = {
            p["TargetTrackingConfiguration"]["PredefinedMetricSpecification"][
                "PredefinedMetricType"
            ]: p["TargetTrackingConfiguration"]
            for p in policies["ScalingPolicies"]
            if p["PolicyType"] == "TargetTrackingScaling"
        }
        assert tracking["ASGAverageCPUUtilization"]["TargetValue"] == 70.0
        request = tracking["ALBRequestCountPerTarget"]
        assert request["TargetValue"] == 500.0
        lb_part = outputs["load_balancer_arn"].split(":loadbalancer/")[1]
        tg_part = outputs["target_group_arn"].split(":")[-1]
        assert request["PredefinedMetricSpecification"]["ResourceLabel"] == f"{lb_part}/{tg_part}"

        # -- a protected load balancer stops destroy before anything at all is deleted
        deploy(
            launch_template_instance_type="t3.medium",
            scaling_request_count_target=500,
            alb_deletion_protection=True,
        )
        refused = run_playbook("destroy.yml", extra_vars={"stack_name": STACK})
        assert refused.rc != 0
        assert "alb_confirm_delete_protected" in " ".join(m for _, m in refused.failures())
        assert refused.changed == 0, refused.changed_tasks()
        kept = asg_client.describe_auto_scaling_groups(AutoScalingGroupNames=[outputs["asg_name"]])
        assert len(kept["AutoScalingGroups"]) == 1
        assert (
            len(
                asg_client.describe_policies(AutoScalingGroupName=outputs["asg_name"])[
                    "ScalingPolicies"
                ]
            )
            == 2
        )
        assert elbv2.describe_load_balancers(Names=[f"{STACK}-alb"])["LoadBalancers"]
    finally:
        destroyed = run_playbook(
            "destroy.yml", extra_vars={"stack_name": STACK, "alb_confirm_delete_protected": True}
        )
    assert destroyed.rc == 0, destroyed.failures()
    assert ec2.describe_vpcs(Filters=tag_filter(STACK))["Vpcs"] == []
    assert ec2.describe_addresses(Filters=tag_filter(STACK))["Addresses"] == []
    lbs = client("elbv2", aws_env).describe_load_balancers()["LoadBalancers"]
    assert [lb["LoadBalancerName"] for lb in lbs if lb["LoadBalancerName"] == f"{STACK}-alb"] == []
    assert not (state / "outputs" / f"{STACK}.json").exists()
