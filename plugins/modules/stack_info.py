#!/usr/bin/python
"""List everything a stack owns, across services, in one run: the leak sweep after a destroy."""

from __future__ import annotations

DOCUMENTATION = r"""
module: stack_info
short_description: List every AWS resource that belongs to a hastack stack
description:
  - Finds, across EC2, ELBv2, Auto Scaling, IAM, CloudWatch and SSM, every resource tagged
    C(hastack:stack=<stack_name>). Run at the end of a destroy, an empty list proves nothing
    of the stack is left.
  - The tag value must equal O(stack_name) exactly, checked on every resource after the
    server-side filter, so a stack whose name extends this one (C(web-cpu) next to C(web))
    is never listed.
  - Some resources cannot carry the tag and are found by what they hang on. Network
    interfaces (load balancer and NAT ones are untagged) are listed when tagged, or in a
    VPC, subnet or security group of the stack. Metric alarms (the alarm module cannot tag)
    are listed when named C(<stack_name>-...) and either tagged or watching one of
    O(asg_names).
  - IAM listings return no tags, so only roles and instance profiles named in O(iam_names)
    (else named C(<stack_name>-...)) have their tags read.
  - NAT gateways in state C(deleted) and instances in state C(terminated) are gone and not
    listed.
  - Read only; the services are queried in parallel.
  - "Upstream: no module lists resources by tag across services; the info modules are one per
    resource type, the ELBv2 and IAM ones cannot filter by tag, and none finds the untagged
    network interfaces and alarms a stack leaves."
options:
  stack_name:
    description: The stack, as in the C(hastack:stack) tag of its resources.
    type: str
    required: true
  asg_names:
    description:
      - The stack's Auto Scaling groups, as the asg role names them (C(asg_names.group));
        an untagged alarm watching one of them is the stack's.
      - Default C([<stack_name>-asg]).
    type: list
    elements: str
  iam_names:
    description:
      - Names of the stack's IAM roles and instance profiles, as the launch_template role
        names them (C(launch_template_names)); only these have their tags read.
      - Default every role and profile named C(<stack_name>-...).
    type: list
    elements: str
  services:
    description: The services to sweep; all by default.
    type: list
    elements: str
    choices: [autoscaling, cloudwatch, ec2, elbv2, iam, ssm]
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - "IAM actions: ec2:DescribeVpcs, ec2:DescribeSubnets, ec2:DescribeRouteTables,
    ec2:DescribeInternetGateways, ec2:DescribeNatGateways, ec2:DescribeAddresses,
    ec2:DescribeSecurityGroups, ec2:DescribeNetworkInterfaces, ec2:DescribeInstances,
    ec2:DescribeLaunchTemplates, elasticloadbalancing:DescribeLoadBalancers,
    elasticloadbalancing:DescribeTargetGroups, elasticloadbalancing:DescribeTags,
    autoscaling:DescribeAutoScalingGroups, iam:ListRoles, iam:GetRole,
    iam:ListInstanceProfiles, iam:GetInstanceProfile, cloudwatch:DescribeAlarms,
    cloudwatch:ListTagsForResource, ssm:DescribeParameters, ssm:ListTagsForResource."
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Sweep every service for anything still tagged with the stack
  hastack.stack.stack_info:
    stack_name: shop-prod
  register: leftovers

- name: Find the SSM parameters of the stack only
  hastack.stack.stack_info:
    stack_name: shop-prod
    services: [ssm]
  register: secrets
"""

RETURN = r"""
resources:
  description:
    - What the stack owns, sorted by service, type and id.
    - RV(resources[].id) is what the service's delete call takes. EC2 IDs, ELBv2 ARNs, and
      names for Auto Scaling groups, IAM roles and instance profiles, alarms and parameters.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: autoscaling, cloudwatch, ec2, elbv2, iam or ssm.
      type: str
    type:
      description: >-
        vpc, subnet, route_table, internet_gateway, nat_gateway, elastic_ip,
        network_interface, security_group, instance, launch_template, load_balancer,
        target_group, auto_scaling_group, role, instance_profile, metric_alarm, parameter.
      type: str
    id:
      description: The resource's ID, ARN or name (see above).
      type: str
    name:
      description: >-
        Its Name tag, else its own name (a network interface's description), else empty.
      type: str
    state:
      description: Its state where the API reports one (instance, NAT gateway ...), else empty.
      type: str
  sample:
    - {service: ec2, type: nat_gateway, id: nat-0c1d2e3f, name: shop-prod-nat-a, state: available}
summary:
  description: Number of resources by type; empty when nothing is left.
  returned: always
  type: dict
  sample: {nat_gateway: 1, elastic_ip: 1}
"""

import contextlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import (
    is_boto3_error_code,
    paginated_query_with_retries,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.hastack.stack.plugins.module_utils.tags import (
    elbv2_tags,
    owned,
    stack_filters,
    tag_dict,
)

SERVICES = ("autoscaling", "cloudwatch", "ec2", "elbv2", "iam", "ssm")
NAT_STATES = ["pending", "available", "deleting", "failed"]  # all but deleted
INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]

Resource = dict[str, str]


def pages(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, retried on throttling."""
    return paginated_query_with_retries(client, operation, **params)[key]


def resource(
    service: str, kind: str, rid: str, tags: dict[str, str], own_name: str = "", state: str = ""
) -> Resource:
    name = tags.get("Name") or own_name or ""
    return {"service": service, "type": kind, "id": rid, "name": name, "state": state or ""}


def sweep_ec2(ec2: Any, stack: str) -> list[Resource]:
    tagged = stack_filters(stack)

    def find(operation: str, key: str, *filters: dict[str, Any]) -> list[dict[str, Any]]:
        found = pages(ec2, operation, key, Filters=[*tagged, *filters])
        # The server-side tag filter is a shortcut, the check here is the rule: moto ignores
        # tag filters on DescribeNatGateways and returns every stack's gateways.
        return [r for r in found if owned(tag_dict(r.get("Tags")), stack)]

    vpcs = find("describe_vpcs", "Vpcs")
    subnets = find("describe_subnets", "Subnets")
    route_tables = find("describe_route_tables", "RouteTables")
    igws = find("describe_internet_gateways", "InternetGateways")
    nats = find("describe_nat_gateways", "NatGateways", {"Name": "state", "Values": NAT_STATES})
    nats = [n for n in nats if n["State"] in NAT_STATES]
    # DescribeAddresses does not paginate.
    eips = [
        a
        for a in ec2.describe_addresses(Filters=tagged, aws_retry=True)["Addresses"]
        if owned(tag_dict(a.get("Tags")), stack)
    ]
    sgs = find("describe_security_groups", "SecurityGroups")
    in_use = {"Name": "instance-state-name", "Values": INSTANCE_STATES}
    reservations = pages(ec2, "describe_instances", "Reservations", Filters=[*tagged, in_use])
    instances = [
        i
        for r in reservations
        for i in r["Instances"]
        if owned(tag_dict(i.get("Tags")), stack) and i["State"]["Name"] in INSTANCE_STATES
    ]
    templates = find("describe_launch_templates", "LaunchTemplates")

    # Interfaces use TagSet, not Tags. Load balancer and NAT interfaces are untagged: also take
    # every interface in the stack's VPCs, and (one more call each, rarely needed) in its
    # subnets and security groups that lie in other VPCs.
    enis = {
        e["NetworkInterfaceId"]: e
        for e in pages(ec2, "describe_network_interfaces", "NetworkInterfaces", Filters=tagged)
        if owned(tag_dict(e.get("TagSet")), stack)
    }
    vpc_ids = {v["VpcId"] for v in vpcs}
    holders = {
        "vpc-id": vpc_ids,
        "subnet-id": {s["SubnetId"] for s in subnets if s["VpcId"] not in vpc_ids},
        "group-id": {g["GroupId"] for g in sgs if g.get("VpcId") not in vpc_ids},
    }
    for filter_name, values in holders.items():
        if values:
            held = [{"Name": filter_name, "Values": sorted(values)}]
            found = pages(ec2, "describe_network_interfaces", "NetworkInterfaces", Filters=held)
            enis.update((e["NetworkInterfaceId"], e) for e in found)

    def ec2_resource(kind: str, rid: str, item: dict[str, Any], **extra: str) -> Resource:
        return resource("ec2", kind, rid, tag_dict(item.get("Tags")), **extra)

    return [
        *(ec2_resource("vpc", v["VpcId"], v, state=v.get("State", "")) for v in vpcs),
        *(ec2_resource("subnet", s["SubnetId"], s, state=s.get("State", "")) for s in subnets),
        *(ec2_resource("route_table", r["RouteTableId"], r) for r in route_tables),
        *(ec2_resource("internet_gateway", g["InternetGatewayId"], g) for g in igws),
        *(ec2_resource("nat_gateway", n["NatGatewayId"], n, state=n["State"]) for n in nats),
        *(ec2_resource("elastic_ip", a["AllocationId"], a, own_name=a["PublicIp"]) for a in eips),
        *(ec2_resource("security_group", g["GroupId"], g, own_name=g["GroupName"]) for g in sgs),
        *(
            ec2_resource("instance", i["InstanceId"], i, state=i["State"]["Name"])
            for i in instances
        ),
        *(
            ec2_resource(
                "launch_template", t["LaunchTemplateId"], t, own_name=t["LaunchTemplateName"]
            )
            for t in templates
        ),
        *(
            resource(
                "ec2",
                "network_interface",
                eid,
                tag_dict(e.get("TagSet")),
                own_name=e.get("Description", ""),
                state=e.get("Status", ""),
            )
            for eid, e in enis.items()
        ),
    ]


def sweep_elbv2(elbv2: Any, stack: str) -> list[Resource]:
    # ELBv2 has no server-side tag filter: list everything, read tags 20 ARNs a call.
    lbs = pages(elbv2, "describe_load_balancers", "LoadBalancers")
    tgs = pages(elbv2, "describe_target_groups", "TargetGroups")
    arns = [lb["LoadBalancerArn"] for lb in lbs] + [tg["TargetGroupArn"] for tg in tgs]
    tags = elbv2_tags(elbv2, arns)
    found = [
        resource(
            "elbv2",
            "load_balancer",
            lb["LoadBalancerArn"],
            tags.get(lb["LoadBalancerArn"], {}),
            own_name=lb["LoadBalancerName"],
            state=lb.get("State", {}).get("Code", ""),
        )
        for lb in lbs
    ]
    found += [
        resource(
            "elbv2",
            "target_group",
            tg["TargetGroupArn"],
            tags.get(tg["TargetGroupArn"], {}),
            own_name=tg["TargetGroupName"],
        )
        for tg in tgs
    ]
    return [r for r in found if owned(tags.get(r["id"], {}), stack)]


def sweep_autoscaling(autoscaling: Any, stack: str) -> list[Resource]:
    tagged = stack_filters(stack)
    groups = pages(autoscaling, "describe_auto_scaling_groups", "AutoScalingGroups", Filters=tagged)
    return [
        resource(
            "autoscaling",
            "auto_scaling_group",
            g["AutoScalingGroupName"],
            tag_dict(g.get("Tags")),
            own_name=g["AutoScalingGroupName"],
            state=g.get("Status", ""),  # set only while the group is being deleted
        )
        for g in groups
        if owned(tag_dict(g.get("Tags")), stack)
    ]


def sweep_iam(iam: Any, stack: str, names: list[str] | None = None) -> list[Resource]:
    # ListRoles and ListInstanceProfiles return no tags: read them (one call each) only for
    # the names the roles give (iam_names), else <stack>-... . GetInstanceProfile carries
    # the tags on AWS and on moto, which lacks ListInstanceProfileTags.
    prefix = f"{stack}-"

    def candidate(name: str) -> bool:
        return name in names if names else name.startswith(prefix)

    found: list[Resource] = []
    for role in pages(iam, "list_roles", "Roles"):
        if candidate(role["RoleName"]):
            try:
                role = iam.get_role(RoleName=role["RoleName"], aws_retry=True)["Role"]
            except is_boto3_error_code("NoSuchEntity"):
                continue  # deleted since it was listed
            tags = tag_dict(role.get("Tags"))
            if owned(tags, stack):
                found.append(resource("iam", "role", role["RoleName"], tags, role["RoleName"]))
    for profile in pages(iam, "list_instance_profiles", "InstanceProfiles"):
        name = profile["InstanceProfileName"]
        if candidate(name):
            try:
                profile = iam.get_instance_profile(InstanceProfileName=name, aws_retry=True)
            except is_boto3_error_code("NoSuchEntity"):
                continue
            tags = tag_dict(profile["InstanceProfile"].get("Tags"))
            if owned(tags, stack):
                found.append(resource("iam", "instance_profile", name, tags, name))
    return found


def alarm_groups(alarm: dict[str, Any]) -> set[str]:
    """The AutoScalingGroupName dimensions an alarm watches, metric math included."""
    dimensions = list(alarm.get("Dimensions", []))
    for query in alarm.get("Metrics", []):
        dimensions += query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    return {d["Value"] for d in dimensions if d["Name"] == "AutoScalingGroupName"}


def sweep_cloudwatch(
    cloudwatch: Any, stack: str, groups: list[str] | None = None
) -> list[Resource]:
    # The stack's alarms carry no tags (the alarm module cannot tag): the ones named
    # <stack>-... that watch one of its groups (asg_names) are the stack's; the others only
    # when tagged with it, so a neighbour "<stack>-cpu" with alarms "<stack>-cpu-..." is left out.
    alarms = pages(
        cloudwatch,
        "describe_alarms",
        "MetricAlarms",
        AlarmNamePrefix=f"{stack}-",
        AlarmTypes=["MetricAlarm"],
    )
    found = []
    for alarm in alarms:
        tags: dict[str, str] = {}
        if not alarm_groups(alarm) & set(groups or [f"{stack}-asg"]):
            try:
                tags = tag_dict(
                    cloudwatch.list_tags_for_resource(
                        ResourceARN=alarm["AlarmArn"], aws_retry=True
                    )["Tags"]
                )
            except is_boto3_error_code(["ResourceNotFound", "ResourceNotFoundException"]):
                continue
            if not owned(tags, stack):
                continue
        found.append(
            resource(
                "cloudwatch",
                "metric_alarm",
                alarm["AlarmName"],
                tags,
                own_name=alarm["AlarmName"],
                state=alarm.get("StateValue", ""),
            )
        )
    return found


def sweep_ssm(ssm: Any, stack: str) -> list[Resource]:
    # DescribeParameters returns no tags: the candidates of the tag filter (the stack's few
    # secrets) have them read back, one call each.
    tagged = [{**stack_filters(stack, key="Key")[0], "Option": "Equals"}]
    parameters = pages(ssm, "describe_parameters", "Parameters", ParameterFilters=tagged)
    found = []
    for parameter in parameters:
        try:
            tags = tag_dict(
                ssm.list_tags_for_resource(
                    ResourceType="Parameter", ResourceId=parameter["Name"], aws_retry=True
                )["TagList"]
            )
        except is_boto3_error_code(["InvalidResourceId", "ParameterNotFound"]):
            continue
        if owned(tags, stack):
            found.append(resource("ssm", "parameter", parameter["Name"], tags, parameter["Name"]))
    return found


SWEEPS: dict[str, Callable[..., list[Resource]]] = {
    "autoscaling": sweep_autoscaling,
    "cloudwatch": sweep_cloudwatch,
    "ec2": sweep_ec2,
    "elbv2": sweep_elbv2,
    "iam": sweep_iam,
    "ssm": sweep_ssm,
}


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "stack_name": {"type": "str", "required": True},
            "services": {"type": "list", "elements": "str", "choices": list(SERVICES)},
            "asg_names": {"type": "list", "elements": "str"},
            "iam_names": {"type": "list", "elements": "str"},
        },
        supports_check_mode=True,
    )
    stack = module.params["stack_name"]
    services = sorted(set(module.params["services"] or SERVICES))
    retry = AWSRetry.jittered_backoff()
    clients = {service: module.client(service, retry_decorator=retry) for service in services}

    # One thread a service: on AWS each call takes 50-200 ms and EC2 alone makes about ten,
    # so the services overlap instead of adding up. Clients are thread-safe; the module
    # fails from this thread only.
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        names = {"cloudwatch": module.params["asg_names"], "iam": module.params["iam_names"]}
        futures = {
            s: pool.submit(SWEEPS[s], clients[s], stack, *([names[s]] if s in names else []))
            for s in services
        }
    resources: list[Resource] = []
    for service, future in futures.items():
        try:
            resources += future.result()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to list the {service} resources of {stack}")

    resources.sort(key=lambda r: (r["service"], r["type"], r["id"]))
    summary = dict(sorted(Counter(r["type"] for r in resources).items()))
    module.exit_json(changed=False, resources=resources, summary=summary)


if __name__ == "__main__":
    main()
