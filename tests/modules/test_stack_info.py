"""hastack.stack.stack_info, the leak sweep of destroy.yml, run for real against the emulator.

Two stacks are built directly with boto3: one, and a neighbour whose name extends it
(``sweep-x`` and ``sweep-x-cpu``) so every name prefix and loose tag filter would catch the
neighbour. The sweep must list exactly the first stack's resources, untagged interfaces in
its subnet and its untagged alarm included, and nothing once they are deleted.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import (
    AWSRetry,
    RetryingBotoClientWrapper,
)
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.support import REGION, client, load_source, run_playbook

AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)

PLAYBOOK = """
- name: Sweep the stacks
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Sweep each stack
      hastack.stack.stack_info:
        stack_name: "{{ item }}"
      loop: "{{ sweep_stacks }}"

    - name: Sweep the first stack in check mode
      hastack.stack.stack_info:
        stack_name: "{{ sweep_stacks[0] }}"
      check_mode: true

    - name: Sweep the first stack's SSM parameters only
      hastack.stack.stack_info:
        stack_name: "{{ sweep_stacks[0] }}"
        services: [ssm]
"""

Key = tuple[str, str, str]  # (service, type, id) of a listed resource


@dataclass
class Stack:
    """What was built for one stack, and how to delete it again."""

    name: str
    expected: set[Key] = field(default_factory=set)
    deletions: list[Callable[[], Any]] = field(default_factory=list)

    def own(self, service: str, kind: str, rid: str, delete: Callable[[], Any]) -> str:
        self.expected.add((service, kind, rid))
        self.deletions.append(delete)
        return rid

    def delete(self, *, strict: bool = True) -> None:
        """Delete in AWS's dependency order (the reverse of building)."""
        while self.deletions:
            step = self.deletions.pop()
            try:
                step()
            except ClientError:
                if strict:
                    raise


def tags(stack: str, name: str, **extra: str) -> list[dict[str, str]]:
    return [
        {"Key": k, "Value": v}
        for k, v in {"hastack:stack": stack, "Name": f"{stack}-{name}", **extra}.items()
    ]


def spec(kind: str, stack: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": tags(stack, name)}]


def build(endpoint: str, name: str, cidr: str) -> Stack:
    """The resources the project makes for a stack, tagged as it tags them."""
    ec2, elbv2, asg, iam, cw, ssm = (
        client(s, endpoint) for s in ("ec2", "elbv2", "autoscaling", "iam", "cloudwatch", "ssm")
    )
    s = Stack(name)
    ami = ssm.get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]

    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16", TagSpecifications=spec("vpc", name, "vpc"))
    vpc_id = s.own("ec2", "vpc", vpc["Vpc"]["VpcId"], lambda: ec2.delete_vpc(VpcId=vpc_id))
    subnet_ids = []
    for i, zone in enumerate(("us-east-1a", "us-east-1b")):
        sub = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=f"{cidr}.{i}.0/24",
            AvailabilityZone=zone,
            TagSpecifications=spec("subnet", name, f"public-{zone}"),
        )["Subnet"]["SubnetId"]
        subnet_ids.append(
            s.own("ec2", "subnet", sub, lambda sub=sub: ec2.delete_subnet(SubnetId=sub))
        )
    subnet = subnet_ids[0]

    rtb = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=spec("route-table", name, "rt"))
    rtb_id = s.own(
        "ec2",
        "route_table",
        rtb["RouteTable"]["RouteTableId"],
        lambda: ec2.delete_route_table(RouteTableId=rtb_id),
    )
    assoc = ec2.associate_route_table(RouteTableId=rtb_id, SubnetId=subnet)["AssociationId"]
    s.deletions.append(lambda: ec2.disassociate_route_table(AssociationId=assoc))

    igw = ec2.create_internet_gateway(TagSpecifications=spec("internet-gateway", name, "igw"))
    igw_id = s.own(
        "ec2",
        "internet_gateway",
        igw["InternetGateway"]["InternetGatewayId"],
        lambda: ec2.delete_internet_gateway(InternetGatewayId=igw_id),
    )
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    s.deletions.append(lambda: ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id))

    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=spec("elastic-ip", name, "eip-a"))
    eip_id = s.own(
        "ec2",
        "elastic_ip",
        eip["AllocationId"],
        lambda: ec2.release_address(AllocationId=eip_id),
    )
    nat = ec2.create_nat_gateway(
        SubnetId=subnet,
        AllocationId=eip_id,
        TagSpecifications=spec("natgateway", name, "nat-a"),
    )["NatGateway"]["NatGatewayId"]
    s.own("ec2", "nat_gateway", nat, lambda: ec2.delete_nat_gateway(NatGatewayId=nat))

    sg = ec2.create_security_group(
        GroupName=f"{name}-app",
        Description="app",
        VpcId=vpc_id,
        TagSpecifications=spec("security-group", name, "app-sg"),
    )["GroupId"]
    s.own("ec2", "security_group", sg, lambda: ec2.delete_security_group(GroupId=sg))

    # Like a load balancer's or a NAT gateway's interface: in the stack's subnet, no tags.
    eni = ec2.create_network_interface(SubnetId=subnet, Groups=[sg], Description="ELB app/x")
    eni_id = s.own(
        "ec2",
        "network_interface",
        eni["NetworkInterface"]["NetworkInterfaceId"],
        lambda: ec2.delete_network_interface(NetworkInterfaceId=eni_id),
    )

    lt = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-app",
        LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"},
        TagSpecifications=spec("launch-template", name, "lt"),
    )["LaunchTemplate"]["LaunchTemplateId"]
    s.own("ec2", "launch_template", lt, lambda: ec2.delete_launch_template(LaunchTemplateId=lt))

    inst = ec2.run_instances(
        ImageId=ami,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        SecurityGroupIds=[sg],
        TagSpecifications=spec("instance", name, "app"),
    )["Instances"][0]
    inst_id = s.own(
        "ec2",
        "instance",
        inst["InstanceId"],
        lambda: ec2.terminate_instances(InstanceIds=[inst_id]),
    )

    alb = elbv2.create_load_balancer(
        Name=f"{name}-alb", Subnets=subnet_ids, SecurityGroups=[sg], Tags=tags(name, "alb")
    )["LoadBalancers"][0]["LoadBalancerArn"]
    s.own("elbv2", "load_balancer", alb, lambda: elbv2.delete_load_balancer(LoadBalancerArn=alb))
    tg = elbv2.create_target_group(
        Name=f"{name}-tg", Protocol="HTTP", Port=8000, VpcId=vpc_id, Tags=tags(name, "tg")
    )["TargetGroups"][0]["TargetGroupArn"]
    s.own("elbv2", "target_group", tg, lambda: elbv2.delete_target_group(TargetGroupArn=tg))

    group = f"{name}-asg"
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet,
        Tags=[{**t, "PropagateAtLaunch": True} for t in tags(name, "asg")],
    )
    s.own(
        "autoscaling",
        "auto_scaling_group",
        group,
        lambda: asg.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True),
    )

    role = f"{name}-app"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST, Tags=tags(name, "app"))
    s.own("iam", "role", role, lambda: iam.delete_role(RoleName=role))
    iam.create_instance_profile(InstanceProfileName=role, Tags=tags(name, "app"))
    s.own(
        "iam",
        "instance_profile",
        role,
        lambda: iam.delete_instance_profile(InstanceProfileName=role),
    )
    iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    s.deletions.append(
        lambda: iam.remove_role_from_instance_profile(InstanceProfileName=role, RoleName=role)
    )

    # The scaling role's alarm: untagged (the alarm module cannot tag), found by its group.
    alarm = f"{name}-cpu-high"
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": group}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        Threshold=70.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    s.own("cloudwatch", "metric_alarm", alarm, lambda: cw.delete_alarms(AlarmNames=[alarm]))

    secret = f"/{name}/django/secret_key"
    ssm.put_parameter(
        Name=secret,
        Value=uuid.uuid4().hex,
        Type="SecureString",
        Tags=tags(name, "secret", **{"hastack:generated": "true"}),
    )
    s.own("ssm", "parameter", secret, lambda: ssm.delete_parameter(Name=secret))

    # Untagged interfaces the stack's VPC holds besides ours (moto makes one for the NAT
    # gateway and the instance's primary one) are the stack's too.
    for found in ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "NetworkInterfaces"
    ]:
        s.expected.add(("ec2", "network_interface", found["NetworkInterfaceId"]))
    return s


def decoys(endpoint: str, stack: str) -> Stack:
    """Things named like ``stack``'s but not tagged with it: the sweep must not list them."""
    iam, cw, ssm = (client(s, endpoint) for s in ("iam", "cloudwatch", "ssm"))
    d = Stack(f"{stack} decoys")
    role = f"{stack}-untagged"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    d.own("iam", "role", role, lambda: iam.delete_role(RoleName=role))
    alarm = f"{stack}-orphan"
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": f"{stack}-other-asg"}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    d.own("cloudwatch", "metric_alarm", alarm, lambda: cw.delete_alarms(AlarmNames=[alarm]))
    secret = f"/{stack}/team/api_key"
    ssm.put_parameter(Name=secret, Value="team", Type="SecureString")
    d.own("ssm", "parameter", secret, lambda: ssm.delete_parameter(Name=secret))
    return d


def tagged_alarm(endpoint: str, stack: Stack) -> None:
    """An alarm of the stack on no group, tagged: found by its tag alone."""
    cw = client("cloudwatch", endpoint)
    alarm = f"{stack.name}-budget"
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/Billing",
        MetricName="EstimatedCharges",
        Statistic="Maximum",
        Period=21600,
        EvaluationPeriods=1,
        Threshold=100.0,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": "hastack:stack", "Value": stack.name}],
    )
    stack.own("cloudwatch", "metric_alarm", alarm, lambda: cw.delete_alarms(AlarmNames=[alarm]))


def sweep(playbook: Path, *stacks: str) -> list[dict[str, Any]]:
    """Run the module; the results of: each stack, the first in check mode, its SSM only."""
    run = run_playbook(str(playbook), extra_vars={"sweep_stacks": list(stacks)})
    assert run.rc == 0, run.failures() or run.stderr[-3000:]
    tasks = run.data["plays"][0]["tasks"]
    loop = tasks[0]["hosts"]["localhost"]["results"]
    results = [*loop, tasks[1]["hosts"]["localhost"], tasks[2]["hosts"]["localhost"]]
    assert not any(r["changed"] for r in results)
    return results


def keys(result: dict[str, Any]) -> set[Key]:
    return {(r["service"], r["type"], r["id"]) for r in result["resources"]}


@pytest.mark.emulator
def test_sweep_lists_exactly_the_stacks_resources(aws_env: str, tmp_path: Path) -> None:
    playbook = tmp_path / "sweep.yml"
    playbook.write_text(PLAYBOOK)
    name = f"sweep-{uuid.uuid4().hex[:6]}"
    neighbour_name = f"{name}-cpu"
    built: list[Stack] = []
    try:
        built.append(neighbour := build(aws_env, neighbour_name, "10.62"))
        built.append(stack := build(aws_env, name, "10.61"))
        tagged_alarm(aws_env, stack)
        built.append(decoys(aws_env, name))

        mine, theirs, checked, ssm_only = sweep(playbook, name, neighbour_name)

        listed = mine["resources"]
        assert keys(mine) == stack.expected
        assert not keys(mine) & neighbour.expected
        assert listed == sorted(listed, key=lambda r: (r["service"], r["type"], r["id"]))
        assert mine["summary"] == dict(Counter(r["type"] for r in listed))
        assert all(set(r) == {"service", "type", "id", "name", "state"} for r in listed)
        by_id = {r["id"]: r for r in listed}
        vpc_id = next(rid for _, kind, rid in stack.expected if kind == "vpc")
        assert by_id[vpc_id]["name"] == f"{name}-vpc"
        assert by_id[vpc_id]["state"] == "available"
        nat_id = next(rid for _, kind, rid in stack.expected if kind == "nat_gateway")
        assert by_id[nat_id]["state"] == "available"
        assert by_id[f"{name}-cpu-high"]["state"] in ("OK", "ALARM", "INSUFFICIENT_DATA")
        assert keys(theirs) == neighbour.expected
        assert checked["resources"] == listed
        assert keys(ssm_only) == {k for k in stack.expected if k[0] == "ssm"}

        stack.delete()
        mine, theirs, checked, ssm_only = sweep(playbook, name, neighbour_name)
        assert mine["resources"] == []
        assert mine["summary"] == {}
        assert checked["resources"] == ssm_only["resources"] == []
        assert keys(theirs) == neighbour.expected
        ec2 = client("ec2", aws_env)
        neighbour_nat = next(rid for _, kind, rid in neighbour.expected if kind == "nat_gateway")
        nat = ec2.describe_nat_gateways(NatGatewayIds=[neighbour_nat])["NatGateways"][0]
        assert nat["State"] == "available"
    finally:
        for leftover in reversed(built):
            leftover.delete(strict=False)


def test_load_balancer_tags_survive_one_deleted_since_listing() -> None:
    """AWS fails DescribeTags for a whole batch when one ARN is gone (another stack's destroy
    between the listing and the tags); moto answers with no tags, so this is stubbed."""
    module = load_source("plugins/modules/stack_info.py")
    elbv2 = boto3.client(
        "elbv2",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",  # never reached: the stubber answers
        aws_access_key_id="x",
        aws_secret_access_key="x",  # noqa: S106 - dummy key for the stubbed client
    )
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lb{0}/{0}"
    arns = [arn.format(i) for i in range(21)]
    gone = arns[3]

    def described(*batch: str) -> dict[str, Any]:
        return {"TagDescriptions": [{"ResourceArn": a, "Tags": tags(a, "lb")} for a in batch]}

    with Stubber(elbv2) as stub:
        stub.add_client_error(
            "describe_tags", "LoadBalancerNotFound", expected_params={"ResourceArns": arns[:20]}
        )
        for one in arns[:20]:
            if one == gone:
                stub.add_client_error(
                    "describe_tags", "LoadBalancerNotFound", expected_params={"ResourceArns": [one]}
                )
            else:
                stub.add_response("describe_tags", described(one), {"ResourceArns": [one]})
        stub.add_response("describe_tags", described(arns[20]), {"ResourceArns": arns[20:]})

        found = module.elbv2_tags(
            RetryingBotoClientWrapper(elbv2, AWSRetry.jittered_backoff()), arns
        )
        stub.assert_no_pending_responses()

    assert set(found) == set(arns) - {gone}
    assert all(found[a]["hastack:stack"] == a for a in found)
