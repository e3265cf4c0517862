"""The modules that replaced loops of upstream module runs (the performance issue).

Each is run by a small playbook against the emulator: what it creates is read back with
boto3, a re-run through a recording proxy must change nothing and make only Describe/List/Get
calls, check mode must mutate nothing, and absent must remove what present made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import client, recording_proxy, run_playbook, tags_of

pytestmark = pytest.mark.emulator

READS = ("Describe", "List", "Get")


def play(
    tmp_path: Path, tasks: list[dict[str, Any]], *, endpoint: str | None = None, check: bool = False
) -> Any:
    """Run ``tasks`` on localhost; returns the run (changed count, failures)."""
    book = tmp_path / f"play-{len(list(tmp_path.glob('play-*.yml')))}.yml"
    book.write_text(
        yaml.safe_dump(
            [{"name": "Module test", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
        )
    )
    env = {}
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return run_playbook(str(book), env=env, args=["--check"] if check else [])


def assert_reads_only(calls: list[tuple[str, str]]) -> None:
    assert calls, "the proxy recorded no call: the module did not reach AWS through it"
    writes = [c for c in calls if not c[1].startswith(READS)]
    assert writes == [], f"mutating calls: {writes}"


def rerun_reads_only(
    tmp_path: Path, emulator: str, tasks: list[dict[str, Any]], *, check: bool = False
) -> Any:
    with recording_proxy(emulator) as (endpoint, calls):
        run = play(tmp_path, tasks, endpoint=endpoint, check=check)
    assert run.rc == 0, run.stdout[-3000:]
    assert_reads_only(calls)
    return run


# -- hastack.stack.security_group --


def test_security_group(aws_env: str, tmp_path: Path) -> None:
    ec2 = client("ec2", aws_env)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    peer = ec2.create_security_group(GroupName="perf-peer", Description="x", VpcId=vpc)["GroupId"]
    task = {
        "hastack.stack.security_group": {
            "name": "perf-sg",
            "description": "perf test",
            "vpc_id": vpc,
            "rules": [
                {"proto": "tcp", "ports": [80, 443], "cidr_ip": ["0.0.0.0/0"]},
                {"proto": "tcp", "ports": [8000], "group_id": peer, "rule_desc": "peer"},
            ],
            "rules_egress": [{"proto": "tcp", "ports": [8000], "cidr_ip": "10.9.0.0/16"}],
            "tags": {"hastack:stack": "perf-sg", "Name": "perf-sg"},
        }
    }
    run = play(tmp_path, [task])
    assert run.rc == 0, run.stdout[-3000:]
    assert run.changed == 1
    group = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["perf-sg"]}, {"Name": "vpc-id", "Values": [vpc]}]
    )["SecurityGroups"][0]
    assert tags_of(group) == {"hastack:stack": "perf-sg", "Name": "perf-sg"}
    ingress = sorted(
        (p["FromPort"], r.get("CidrIp") or r.get("GroupId"))
        for p in group["IpPermissions"]
        for r in p.get("IpRanges", []) + p.get("UserIdGroupPairs", [])
    )
    assert ingress == [(80, "0.0.0.0/0"), (443, "0.0.0.0/0"), (8000, peer)]
    # The default allow-all egress is gone; only the app port to the VPC is left.
    egress = [
        (p["IpProtocol"], p.get("FromPort"), [r["CidrIp"] for r in p.get("IpRanges", [])])
        for p in group["IpPermissionsEgress"]
    ]
    assert egress == [("tcp", 8000, ["10.9.0.0/16"])]

    assert rerun_reads_only(tmp_path, aws_env, [task]).changed == 0

    # Check mode sees a change but makes none.
    task["hastack.stack.security_group"]["rules"] = task["hastack.stack.security_group"]["rules"][
        :1
    ]
    run = rerun_reads_only(tmp_path, aws_env, [task], check=True)
    assert run.changed == 1
    after = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]
    assert after["IpPermissions"] == group["IpPermissions"]

    # A real run converges: the peer rule is revoked.
    assert play(tmp_path, [task]).changed == 1
    after = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]
    assert all(not p.get("UserIdGroupPairs") for p in after["IpPermissions"])


# -- hastack.stack.instance_identity --

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "ec2.amazonaws.com"},
        }
    ],
}
INLINE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": "arn:aws:ssm:us-east-1:123456789012:parameter/perf/*",
        }
    ],
}
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def test_instance_identity(aws_env: str, tmp_path: Path) -> None:
    iam = client("iam", aws_env)
    present = {
        "hastack.stack.instance_identity": {
            "name": "perf-id-app",
            "description": "perf",
            "trust_policy": TRUST,
            "managed_policy_arns": [SSM_CORE],
            "inline_policy_name": "read-app-parameters",
            "inline_policy": INLINE,
            "tags": {"hastack:stack": "perf-id"},
        }
    }
    run = play(tmp_path, [present])
    assert run.rc == 0, run.stdout[-3000:]
    assert run.changed == 1
    role = iam.get_role(RoleName="perf-id-app")["Role"]
    assert tags_of(role) == {"hastack:stack": "perf-id"}
    attached = iam.list_attached_role_policies(RoleName="perf-id-app")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [SSM_CORE]
    assert iam.list_role_policies(RoleName="perf-id-app")["PolicyNames"] == ["read-app-parameters"]
    profile = iam.get_instance_profile(InstanceProfileName="perf-id-app")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["perf-id-app"]

    # A stray inline policy added by hand is removed; then a re-run is read only.
    iam.put_role_policy(
        RoleName="perf-id-app", PolicyName="stray", PolicyDocument=json.dumps(INLINE)
    )
    assert play(tmp_path, [present]).changed == 1
    assert iam.list_role_policies(RoleName="perf-id-app")["PolicyNames"] == ["read-app-parameters"]
    assert rerun_reads_only(tmp_path, aws_env, [present]).changed == 0

    absent = {
        "hastack.stack.instance_identity": {
            "name": "perf-id-app",
            "stack_name": "perf-id",
            "state": "absent",
        }
    }
    assert rerun_reads_only(tmp_path, aws_env, [absent], check=True).changed == 1
    iam.get_role(RoleName="perf-id-app")  # still there
    # Another stack's tag: not deleted.
    other = {
        "hastack.stack.instance_identity": {
            **absent["hastack.stack.instance_identity"],
            "stack_name": "x",
        }
    }
    assert play(tmp_path, [other]).changed == 0
    assert play(tmp_path, [absent]).changed == 1
    names = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    profiles = [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]]
    assert "perf-id-app" not in names
    assert "perf-id-app" not in profiles


# -- hastack.stack.app_teardown --


def test_app_teardown(aws_env: str, tmp_path: Path) -> None:
    """The role's whole destroy in one run: templates by name or tag, the tagged identity, the
    generated secrets; a neighbour's template and a team's own secret are never touched."""
    ec2 = client("ec2", aws_env)
    ssm = client("ssm", aws_env)
    data = {"InstanceType": "t3.micro"}

    def template(name: str, tags: dict[str, str] | None = None) -> str:
        spec = (
            {
                "TagSpecifications": [
                    {
                        "ResourceType": "launch-template",
                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                    }
                ]
            }
            if tags
            else {}
        )
        made = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data, **spec)
        return made["LaunchTemplate"]["LaunchTemplateId"]

    by_name = template("perf-td-app")  # untagged: a run killed between create and tag
    by_tag = template("perf-td-old", {"hastack:stack": "perf-td", "hastack:role": "app"})
    neighbour = template("perf-td-nb-app", {"hastack:stack": "perf-td-nb", "hastack:role": "app"})
    identity = {
        "hastack.stack.instance_identity": {
            "name": "perf-td-app",
            "trust_policy": TRUST,
            "managed_policy_arns": [SSM_CORE],
            "inline_policy_name": "read-app-parameters",
            "inline_policy": INLINE,
            "tags": {"hastack:stack": "perf-td"},
        }
    }
    assert play(tmp_path, [identity]).rc == 0
    ssm.put_parameter(
        Name="/perf-td/generated",
        Value="x" * 50,
        Type="SecureString",
        Tags=[{"Key": "hastack:stack", "Value": "perf-td"}],
    )
    ssm.put_parameter(Name="/perf-td/team", Value="keep", Type="SecureString")
    task = {
        "hastack.stack.app_teardown": {"name": "perf-td-app", "stack_name": "perf-td"},
        "register": "out",
    }
    shows = {
        "ansible.builtin.assert": {
            "that": [
                f"out.launch_templates == {sorted([by_name, by_tag])}",
                "out.deleted_secrets == ['/perf-td/generated']",
                "'delete role perf-td-app' in out.actions",
            ]
        }
    }

    def templates() -> set[str]:
        return {t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]}

    assert rerun_reads_only(tmp_path, aws_env, [task, shows], check=True).changed == 1
    assert {by_name, by_tag, neighbour} <= templates()
    run = play(tmp_path, [task, shows])
    assert run.rc == 0, run.failures()
    assert run.changed == 1
    left = templates()
    assert by_name not in left
    assert by_tag not in left
    assert neighbour in left
    iam = client("iam", aws_env)
    assert "perf-td-app" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    profiles = iam.list_instance_profiles()["InstanceProfiles"]
    assert "perf-td-app" not in [p["InstanceProfileName"] for p in profiles]
    params = ssm.get_parameters_by_path(Path="/perf-td/", Recursive=True)["Parameters"]
    assert [p["Name"] for p in params if p["Name"].startswith("/perf-td/")] == ["/perf-td/team"]
    assert rerun_reads_only(tmp_path, aws_env, [task]).changed == 0
    ec2.delete_launch_template(LaunchTemplateId=neighbour)
    ssm.delete_parameter(Name="/perf-td/team")


# -- hastack.stack.launch_inputs --


def test_launch_inputs(aws_env: str, tmp_path: Path) -> None:
    name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    ami = client("ssm", aws_env).get_parameter(Name=name)["Parameter"]["Value"]
    task = {"hastack.stack.launch_inputs": {"ami_ssm_parameter": name}, "register": "out"}
    check = {
        "ansible.builtin.assert": {
            "that": [
                f"out.ami_id == '{ami}'",
                "out.images | length == 1",
                f"out.images[0].image_id == '{ami}'",
                "out.account | length == 12",
                "out.partition == 'aws'",
            ]
        }
    }
    rerun_reads_only(tmp_path, aws_env, [task, check])
    unknown = {
        "hastack.stack.launch_inputs": {"ami_id": "ami-00000000000000000"},
        "register": "out",
    }
    none = {"ansible.builtin.assert": {"that": ["out.images == []"]}}
    assert play(tmp_path, [unknown, none]).rc == 0


def test_launch_inputs_creates_missing_secrets_only_for_a_usable_ami(
    aws_env: str, tmp_path: Path
) -> None:
    """The role's one read also checks the secrets; it creates the missing ones last, and not at
    all when the AMI would fail the role's next check (so a bad AMI leaves nothing behind). A
    secret the team made is never overwritten."""
    ssm = client("ssm", aws_env)
    ssm.put_parameter(Name="/perf-team/token", Value="keep", Type="SecureString")
    name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    secrets = {"DJANGO_SECRET_KEY": "/perf-lin/django", "TEAM": "/perf-team/token"}
    common = {
        "ami_ssm_parameter": name,
        "secrets": secrets,
        "create_missing_secrets": True,
        "secrets_tags": {"hastack:stack": "perf-lin"},
    }

    def made() -> list[str]:
        found = ssm.get_parameters_by_path(Path="/perf-lin/", Recursive=True)["Parameters"]
        return [p["Name"] for p in found if p["Name"].startswith("/perf-lin/")]

    # Missing and not to be created: fails naming the setting, before anything is written.
    refused = play(
        tmp_path, [{"hastack.stack.launch_inputs": {**common, "create_missing_secrets": False}}]
    )
    assert refused.rc != 0
    assert "app_secrets.DJANGO_SECRET_KEY" in " ".join(m for _, m in refused.failures())
    # An unknown AMI and a root volume too small for the AMI: nothing is created.
    for bad in ({"ami_id": "ami-00000000000000000"}, {"root_volume_size": 1}):
        task = {
            "hastack.stack.launch_inputs": {**common, "root_volume_size": 30, **bad},
            "register": "out",
        }
        pending = {
            "ansible.builtin.assert": {
                "that": [
                    "not out.ami_usable",
                    "out.created == []",
                    "out.secrets_pending == ['/perf-lin/django']",
                ]
            }
        }
        run = play(tmp_path, [task, pending])
        assert run.rc == 0, run.failures()
        assert run.changed == 0
        assert made() == []
    # A usable AMI: check mode reports it, a run creates it, the next run reads only.
    task = {"hastack.stack.launch_inputs": {**common, "root_volume_size": 30}, "register": "out"}
    assert rerun_reads_only(tmp_path, aws_env, [task], check=True).changed == 1
    assert made() == []
    assert play(tmp_path, [task]).changed == 1
    value = ssm.get_parameter(Name="/perf-lin/django", WithDecryption=True)["Parameter"]
    assert value["Type"] == "SecureString"
    assert len(value["Value"]) == 50
    team = ssm.get_parameter(Name="/perf-team/token", WithDecryption=True)["Parameter"]
    assert team["Value"] == "keep"
    assert rerun_reads_only(tmp_path, aws_env, [task]).changed == 0
    # Everything exists: without create_missing_secrets it only reads, too.
    only_read = {"hastack.stack.launch_inputs": {**common, "create_missing_secrets": False}}
    assert rerun_reads_only(tmp_path, aws_env, [only_read]).changed == 0
    ssm.delete_parameter(Name="/perf-lin/django")
    ssm.delete_parameter(Name="/perf-team/token")


# -- hastack.stack.scaling_policies and hastack.stack.asg_delete --


def make_group(aws_env: str, name: str, stack: str) -> None:
    ec2 = client("ec2", aws_env)
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
    lt = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.small"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    client("autoscaling", aws_env).create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "1"},
        VPCZoneIdentifier=subnet,
        Tags=[{"Key": "hastack:stack", "Value": stack, "PropagateAtLaunch": True}],
    )


def test_scaling(aws_env: str, tmp_path: Path) -> None:
    make_group(aws_env, "perf-sc-asg", "perf-sc")
    asc, cw = client("autoscaling", aws_env), client("cloudwatch", aws_env)
    step = {
        "PolicyType": "StepScaling",
        "AdjustmentType": "ChangeInCapacity",
        "EstimatedInstanceWarmup": 180,
    }
    alarm = {
        "Namespace": "AWS/EC2",
        "MetricName": "CPUUtilization",
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 85.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Dimensions": [{"Name": "AutoScalingGroupName", "Value": "perf-sc-asg"}],
    }
    policies = [
        {
            "name": "perf-sc-cpu",
            "spec": {
                "PolicyType": "TargetTrackingScaling",
                "EstimatedInstanceWarmup": "180",
                "TargetTrackingConfiguration": {
                    "TargetValue": "70",
                    "DisableScaleIn": False,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ASGAverageCPUUtilization"
                    },
                },
            },
        },
        {
            "name": "perf-sc-up",
            "spec": {
                **step,
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
            },
        },
        {"name": "perf-sc-requests", "state": "absent", "spec": {}},
    ]
    task = {
        "hastack.stack.scaling_policies": {
            "asg_name": "perf-sc-asg",
            "policies": policies,
            "alarms": [{"name": "perf-sc-high", "policy": "perf-sc-up", "spec": alarm}],
        },
        "register": "out",
    }
    arn_known = {
        "ansible.builtin.assert": {"that": ["out.policy_arns['perf-sc-cpu'] | length > 0"]}
    }

    assert rerun_reads_only(tmp_path, aws_env, [task], check=True).changed == 1
    assert asc.describe_policies(AutoScalingGroupName="perf-sc-asg")["ScalingPolicies"] == []

    run = play(tmp_path, [task, arn_known])
    assert run.rc == 0, run.stdout[-3000:]
    assert run.changed == 1
    held = {
        p["PolicyName"]: p
        for p in asc.describe_policies(AutoScalingGroupName="perf-sc-asg")["ScalingPolicies"]
    }
    assert sorted(held) == ["perf-sc-cpu", "perf-sc-up"]
    assert held["perf-sc-cpu"]["TargetTrackingConfiguration"]["TargetValue"] == 70.0
    alarms = cw.describe_alarms(AlarmNames=["perf-sc-high"])["MetricAlarms"]
    assert alarms[0]["AlarmActions"] == [held["perf-sc-up"]["PolicyARN"]]

    assert rerun_reads_only(tmp_path, aws_env, [task, arn_known]).changed == 0

    absent = {
        "hastack.stack.scaling_policies": {
            **task["hastack.stack.scaling_policies"],
            "state": "absent",
        }
    }
    assert rerun_reads_only(tmp_path, aws_env, [absent], check=True).changed == 1
    assert play(tmp_path, [absent]).changed == 1
    assert asc.describe_policies(AutoScalingGroupName="perf-sc-asg")["ScalingPolicies"] == []
    assert cw.describe_alarms(AlarmNames=["perf-sc-high"])["MetricAlarms"] == []


def test_asg_delete(aws_env: str, tmp_path: Path) -> None:
    make_group(aws_env, "perf-del-asg", "perf-del")
    make_group(aws_env, "perf-del-neighbour", "perf-del-other")
    asc = client("autoscaling", aws_env)
    task = {"hastack.stack.asg_delete": {"stack_name": "perf-del", "wait_timeout": 60}}

    assert rerun_reads_only(tmp_path, aws_env, [task], check=True).changed == 1
    assert (
        len(
            asc.describe_auto_scaling_groups(AutoScalingGroupNames=["perf-del-asg"])[
                "AutoScalingGroups"
            ]
        )
        == 1
    )

    with recording_proxy(aws_env) as (endpoint, calls):
        run = play(tmp_path, [task], endpoint=endpoint)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.changed == 1
    assert [c for c in calls if not c[1].startswith(READS)] == [
        ("autoscaling", "UpdateAutoScalingGroup"),
        ("autoscaling", "DeleteAutoScalingGroup"),
    ]
    names = [
        g["AutoScalingGroupName"] for g in asc.describe_auto_scaling_groups()["AutoScalingGroups"]
    ]
    assert "perf-del-asg" not in names
    assert "perf-del-neighbour" in names
    instances = client("ec2", aws_env).describe_instances(
        Filters=[
            {"Name": "tag:hastack:stack", "Values": ["perf-del"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    assert instances == []
    assert rerun_reads_only(tmp_path, aws_env, [task]).changed == 0
