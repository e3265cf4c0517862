"""The floor: the hastack stack created and deleted by plain boto3 with the fewest API calls.

No idempotence, no look-ups beyond what AWS makes necessary, no validation, no retries of
its own: the least any tool could do to build the same resources. hastack's figures are read
as ratios to this script's create and delete times and call counts (see hastack_bench.py).

Usable alone: ``python bench/floor.py --endpoint URL --azs 2`` creates and deletes one stack.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from typing import Any

import boto3

REGION = "us-east-1"
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
APP_PORT = 8000
DESIRED = 2
POLL_S = 0.5  # between two looks while waiting; moto answers at once, AWS takes minutes


@dataclass
class FloorStack:
    """Ids of everything create() made: what delete() removes and what a test checks."""

    name: str
    azs: list[str]
    vpc_id: str = ""
    igw_id: str = ""
    public_subnet_ids: list[str] = field(default_factory=list)
    private_subnet_ids: list[str] = field(default_factory=list)
    public_rt_id: str = ""
    private_rt_ids: list[str] = field(default_factory=list)
    association_ids: list[str] = field(default_factory=list)
    allocation_ids: list[str] = field(default_factory=list)
    nat_ids: list[str] = field(default_factory=list)
    alb_sg_id: str = ""
    app_sg_id: str = ""
    tg_arn: str = ""
    lb_arn: str = ""
    listener_arn: str = ""
    role_name: str = ""
    profile_name: str = ""
    parameter_name: str = ""
    launch_template_id: str = ""
    asg_name: str = ""
    policy_name: str = ""


def _tags(stack: str, name: str) -> list[dict[str, str]]:
    return [
        {"Key": "Name", "Value": name},
        {"Key": "hastack:stack", "Value": stack},
        {"Key": "hastack:environment", "Value": "bench"},
        {"Key": "hastack:managed-by", "Value": "floor"},
    ]


def _spec(kind: str, stack: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": _tags(stack, name)}]


class Floor:
    """boto3 clients on one endpoint (the bench's counting proxy, or AWS itself)."""

    def __init__(self, endpoint: str | None, region: str = REGION) -> None:
        session = boto3.session.Session(region_name=region)

        def make(service: str) -> Any:
            return session.client(service, endpoint_url=endpoint)

        self.ec2 = make("ec2")
        self.elbv2 = make("elbv2")
        self.iam = make("iam")
        self.ssm = make("ssm")
        self.autoscaling = make("autoscaling")

    def warm_up(self) -> None:
        """One read per service, untimed: moto builds each service's backend on first use
        (EC2's loads its AMI catalogue), a one-off cost no measured phase should carry."""
        self.ec2.describe_vpcs()
        self.elbv2.describe_load_balancers()
        self.iam.list_roles()
        self.ssm.get_parameter(Name=AMI_PARAMETER)
        self.autoscaling.describe_auto_scaling_groups()

    # -- create ---------------------------------------------------------------------------

    def create(self, name: str, az_count: int) -> FloorStack:
        """Build the stack, waiting only where a later call needs an earlier resource ready."""
        ec2 = self.ec2
        azs = [chr(ord("a") + i) for i in range(az_count)]
        s = FloorStack(name=name, azs=[f"{REGION}{z}" for z in azs])
        # Network: VPC, IGW, subnets, route tables, default SG stripped.
        s.vpc_id = ec2.create_vpc(
            CidrBlock="10.0.0.0/16", TagSpecifications=_spec("vpc", name, f"{name}-vpc")
        )["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=s.vpc_id, EnableDnsHostnames={"Value": True})
        s.igw_id = ec2.create_internet_gateway(
            TagSpecifications=_spec("internet-gateway", name, f"{name}-igw")
        )["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=s.igw_id, VpcId=s.vpc_id)
        for i, az in enumerate(s.azs):
            for tier, cidr, ids in (
                ("public", f"10.0.{i}.0/24", s.public_subnet_ids),
                ("private", f"10.0.{100 + i}.0/24", s.private_subnet_ids),
            ):
                ids.append(
                    ec2.create_subnet(
                        VpcId=s.vpc_id,
                        CidrBlock=cidr,
                        AvailabilityZone=az,
                        TagSpecifications=_spec("subnet", name, f"{name}-{tier}-{az}"),
                    )["Subnet"]["SubnetId"]
                )
        s.public_rt_id = ec2.create_route_table(
            VpcId=s.vpc_id, TagSpecifications=_spec("route-table", name, f"{name}-public")
        )["RouteTable"]["RouteTableId"]
        ec2.create_route(
            RouteTableId=s.public_rt_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=s.igw_id
        )
        for subnet in s.public_subnet_ids:
            s.association_ids.append(
                ec2.associate_route_table(RouteTableId=s.public_rt_id, SubnetId=subnet)[
                    "AssociationId"
                ]
            )
        for az, subnet in zip(s.azs, s.private_subnet_ids, strict=True):
            rt = ec2.create_route_table(
                VpcId=s.vpc_id, TagSpecifications=_spec("route-table", name, f"{name}-private-{az}")
            )["RouteTable"]["RouteTableId"]
            s.association_ids.append(
                ec2.associate_route_table(RouteTableId=rt, SubnetId=subnet)["AssociationId"]
            )
            s.private_rt_ids.append(rt)
        default_sg = ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [s.vpc_id]},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"][0]
        ec2.revoke_security_group_ingress(
            GroupId=default_sg["GroupId"], IpPermissions=default_sg["IpPermissions"]
        )
        ec2.revoke_security_group_egress(
            GroupId=default_sg["GroupId"], IpPermissions=default_sg["IpPermissionsEgress"]
        )
        # NAT gateways: an EIP and a gateway per zone, requested without waiting.
        for az, subnet in zip(s.azs, s.public_subnet_ids, strict=True):
            alloc = ec2.allocate_address(
                Domain="vpc", TagSpecifications=_spec("elastic-ip", name, f"{name}-nat-{az}")
            )["AllocationId"]
            s.allocation_ids.append(alloc)
            s.nat_ids.append(
                ec2.create_nat_gateway(
                    SubnetId=subnet,
                    AllocationId=alloc,
                    TagSpecifications=_spec("natgateway", name, f"{name}-nat-{az}"),
                )["NatGateway"]["NatGatewayId"]
            )
        # Load balancer tier, provisioning while the NAT gateways do.
        s.alb_sg_id = ec2.create_security_group(
            GroupName=f"{name}-alb",
            Description=f"{name} load balancer",
            VpcId=s.vpc_id,
            TagSpecifications=_spec("security-group", name, f"{name}-alb"),
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=s.alb_sg_id,
            IpPermissions=[_tcp(80, cidr="0.0.0.0/0")],
        )
        ec2.revoke_security_group_egress(
            GroupId=s.alb_sg_id,
            IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )
        ec2.authorize_security_group_egress(
            GroupId=s.alb_sg_id, IpPermissions=[_tcp(APP_PORT, cidr="10.0.0.0/16")]
        )
        s.tg_arn = self.elbv2.create_target_group(
            Name=f"{name}-tg",
            Protocol="HTTP",
            Port=APP_PORT,
            VpcId=s.vpc_id,
            TargetType="instance",
            HealthCheckProtocol="HTTP",
            HealthCheckPath="/healthz",
            HealthCheckIntervalSeconds=15,
            HealthCheckTimeoutSeconds=5,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=2,
            Matcher={"HttpCode": "200"},
            Tags=_tags(name, f"{name}-tg"),
        )["TargetGroups"][0]["TargetGroupArn"]
        self.elbv2.modify_target_group_attributes(
            TargetGroupArn=s.tg_arn,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
        )
        s.lb_arn = self.elbv2.create_load_balancer(
            Name=f"{name}-alb",
            Subnets=s.public_subnet_ids,
            SecurityGroups=[s.alb_sg_id],
            Scheme="internet-facing",
            Type="application",
            IpAddressType="ipv4",
            Tags=_tags(name, f"{name}-alb"),
        )["LoadBalancers"][0]["LoadBalancerArn"]
        self.elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=s.lb_arn,
            Attributes=[
                {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
                {"Key": "idle_timeout.timeout_seconds", "Value": "60"},
            ],
        )
        s.listener_arn = self.elbv2.create_listener(
            LoadBalancerArn=s.lb_arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": s.tg_arn}],
        )["Listeners"][0]["ListenerArn"]
        # App tier: security group, secret, instance role and profile, launch template.
        s.app_sg_id = ec2.create_security_group(
            GroupName=f"{name}-app",
            Description=f"{name} app instances",
            VpcId=s.vpc_id,
            TagSpecifications=_spec("security-group", name, f"{name}-app"),
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=s.app_sg_id, IpPermissions=[_tcp(APP_PORT, group=s.alb_sg_id)]
        )
        s.parameter_name = f"/{name}/django/secret-key"
        self.ssm.put_parameter(
            Name=s.parameter_name, Value="floor-secret", Type="SecureString", Overwrite=False
        )
        ami = self.ssm.get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
        s.role_name = s.profile_name = f"{name}-app"
        self.iam.create_role(
            RoleName=s.role_name,
            AssumeRolePolicyDocument=json.dumps(_TRUST),
            Tags=_tags(name, s.role_name)[1:],
        )
        self.iam.attach_role_policy(RoleName=s.role_name, PolicyArn=SSM_CORE_POLICY)
        self.iam.put_role_policy(
            RoleName=s.role_name,
            PolicyName="parameters",
            PolicyDocument=json.dumps(_parameter_policy(name)),
        )
        profile_arn = self.iam.create_instance_profile(InstanceProfileName=s.profile_name)[
            "InstanceProfile"
        ]["Arn"]
        self.iam.add_role_to_instance_profile(
            InstanceProfileName=s.profile_name, RoleName=s.role_name
        )
        s.launch_template_id = ec2.create_launch_template(
            LaunchTemplateName=f"{name}-app",
            LaunchTemplateData={
                "ImageId": ami,
                "InstanceType": "t3.small",
                "IamInstanceProfile": {"Arn": profile_arn},
                "NetworkInterfaces": [
                    {
                        "DeviceIndex": 0,
                        "AssociatePublicIpAddress": False,
                        "DeleteOnTermination": True,
                        "Groups": [s.app_sg_id],
                    }
                ],
                "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
                "BlockDeviceMappings": [
                    {
                        "DeviceName": "/dev/xvda",
                        "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "Encrypted": True},
                    }
                ],
                "UserData": "IyEvYmluL3NoCg==",  # the bench measures API work, not user data
            },
            TagSpecifications=_spec("launch-template", name, f"{name}-app"),
        )["LaunchTemplate"]["LaunchTemplateId"]
        # The private routes need the gateways: one look waits for all of them together.
        self._wait(
            lambda: all(
                g["State"] == "available"
                for g in ec2.describe_nat_gateways(NatGatewayIds=s.nat_ids)["NatGateways"]
            )
        )
        for rt, nat in zip(s.private_rt_ids, s.nat_ids, strict=True):
            ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        # Auto Scaling group in the private subnets, registering in the target group.
        s.asg_name = f"{name}-asg"
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=s.asg_name,
            LaunchTemplate={"LaunchTemplateId": s.launch_template_id, "Version": "$Latest"},
            MinSize=1,
            MaxSize=5,
            DesiredCapacity=DESIRED,
            VPCZoneIdentifier=",".join(s.private_subnet_ids),
            TargetGroupARNs=[s.tg_arn],
            HealthCheckType="ELB",
            HealthCheckGracePeriod=180,
            Tags=[
                {**t, "PropagateAtLaunch": True, "ResourceId": s.asg_name}
                for t in _tags(name, s.asg_name)
            ],
        )
        self.autoscaling.enable_metrics_collection(
            AutoScalingGroupName=s.asg_name, Granularity="1Minute"
        )
        s.policy_name = f"{name}-cpu"
        self.autoscaling.put_scaling_policy(
            AutoScalingGroupName=s.asg_name,
            PolicyName=s.policy_name,
            PolicyType="TargetTrackingScaling",
            EstimatedInstanceWarmup=180,
            TargetTrackingConfiguration={
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ASGAverageCPUUtilization"
                },
                "TargetValue": 70.0,
            },
        )
        self._wait(lambda: self._in_service(s.asg_name) >= DESIRED)
        return s

    # -- delete ---------------------------------------------------------------------------

    def delete(self, s: FloorStack) -> None:
        """Remove everything in AWS's order (see ../shared/AWS_NOTES.md)."""
        ec2 = self.ec2
        # AWS deletes a group's policies with it; moto keeps them: one call, clean on both.
        self.autoscaling.delete_policy(AutoScalingGroupName=s.asg_name, PolicyName=s.policy_name)
        self.autoscaling.delete_auto_scaling_group(
            AutoScalingGroupName=s.asg_name, ForceDelete=True
        )
        self._wait(
            lambda: (
                not self.autoscaling.describe_auto_scaling_groups(
                    AutoScalingGroupNames=[s.asg_name]
                )["AutoScalingGroups"]
            )
        )
        self.elbv2.delete_load_balancer(LoadBalancerArn=s.lb_arn)  # its listener goes with it
        self._wait(lambda: not self._exists_lb(s.lb_arn))
        self.elbv2.delete_target_group(TargetGroupArn=s.tg_arn)
        for nat in s.nat_ids:
            ec2.delete_nat_gateway(NatGatewayId=nat)
        self._wait(
            lambda: all(
                g["State"] == "deleted"
                for g in ec2.describe_nat_gateways(NatGatewayIds=s.nat_ids)["NatGateways"]
            )
        )
        for alloc in s.allocation_ids:
            ec2.release_address(AllocationId=alloc)
        # A route table with associations cannot be deleted (AWS and moto alike).
        for assoc in s.association_ids:
            ec2.disassociate_route_table(AssociationId=assoc)
        for rt in [s.public_rt_id, *s.private_rt_ids]:
            ec2.delete_route_table(RouteTableId=rt)
        ec2.detach_internet_gateway(InternetGatewayId=s.igw_id, VpcId=s.vpc_id)
        ec2.delete_internet_gateway(InternetGatewayId=s.igw_id)
        ec2.delete_security_group(GroupId=s.app_sg_id)  # it refers to the ALB's group
        ec2.delete_security_group(GroupId=s.alb_sg_id)
        for subnet in s.public_subnet_ids + s.private_subnet_ids:
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=s.vpc_id)
        ec2.delete_launch_template(LaunchTemplateId=s.launch_template_id)
        self.iam.remove_role_from_instance_profile(
            InstanceProfileName=s.profile_name, RoleName=s.role_name
        )
        self.iam.delete_instance_profile(InstanceProfileName=s.profile_name)
        self.iam.detach_role_policy(RoleName=s.role_name, PolicyArn=SSM_CORE_POLICY)
        self.iam.delete_role_policy(RoleName=s.role_name, PolicyName="parameters")
        self.iam.delete_role(RoleName=s.role_name)
        self.ssm.delete_parameter(Name=s.parameter_name)

    # -- helpers --------------------------------------------------------------------------

    def _in_service(self, asg_name: str) -> int:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])
        instances = groups["AutoScalingGroups"][0]["Instances"]
        return sum(i["LifecycleState"] == "InService" for i in instances)

    def _exists_lb(self, arn: str) -> bool:
        try:
            return bool(self.elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"])
        except self.elbv2.exceptions.LoadBalancerNotFoundException:
            return False

    @staticmethod
    def _wait(done: Any, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("floor: gave up waiting")
            time.sleep(POLL_S)


_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _parameter_policy(stack: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:GetParameters"],
                "Resource": f"arn:aws:ssm:*:*:parameter/{stack}/*",
            }
        ],
    }


def _tcp(port: int, *, cidr: str = "", group: str = "") -> dict[str, Any]:
    rule: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if cidr:
        rule["IpRanges"] = [{"CidrIp": cidr}]
    if group:
        rule["UserIdGroupPairs"] = [{"GroupId": group}]
    return rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="AWS endpoint (an emulator); default: AWS itself")
    parser.add_argument("--azs", type=int, default=2)
    parser.add_argument("--name", default="floor")
    args = parser.parse_args()
    floor = Floor(args.endpoint)
    start = time.monotonic()
    stack = floor.create(args.name, args.azs)
    created = time.monotonic()
    floor.delete(stack)
    print(f"create {created - start:.2f} s, delete {time.monotonic() - created:.2f} s")


if __name__ == "__main__":
    main()
