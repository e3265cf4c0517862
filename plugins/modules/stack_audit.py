#!/usr/bin/python
# Apache-2.0 (see the project licence)
"""Audit a live hastack stack against its configuration: one finding per invariant.

One module call reads everything (about twenty read-only API calls) and evaluates every
invariant in Python, instead of a module start-up per lookup: check.yml and molecule's
verify share it, so there is one definition of a healthy stack.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: stack_audit
short_description: Check a live hastack stack's invariants
description:
  - Reads the stack's network, load balancer, Auto Scaling group, launch template, instance
    role and scaling policies, and reports each invariant as passed or failed with evidence.
  - Read only; never reports changed. Resources are found by the stack's names and tags.
  - "Upstream: only per-resource info modules; the same reads take about twenty module runs (a
    start-up each) plus Jinja to evaluate the invariants; no module audits a stack."
options:
  stack_name:
    description: Name of the stack (the C(hastack:stack) tag value).
    type: str
    required: true
  min_azs:
    description: Fewest availability zones the subnets, load balancer and instances may span.
    type: int
    default: 2
  nat_mode:
    description: C(per_az), C(single) or C(none), as the nat role was given.
    type: str
    default: per_az
    choices: [per_az, single, none]
  app_port:
    description: Port the app listens on (target group, app security group).
    type: int
    required: true
  alb:
    description: >-
      Load balancer settings: name, target_group_name, https (bool), health_check (path,
      matcher, interval, timeout, healthy_threshold, unhealthy_threshold).
    type: dict
    required: true
  asg:
    description: >-
      Group settings: name, min_size, max_size, health_check_type, require_az_spread (bool;
      the emulator puts every instance in one zone).
    type: dict
    required: true
  launch_template_name:
    description: Name of the launch template, app security group, instance role and profile.
    type: str
    required: true
  scaling:
    description: >-
      Scaling settings: cpu_policy, cpu_target, request_policy, request_count_target,
      step_policies (list), step_alarms (list of alarm names, empty when off).
    type: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Audit the stack
  hastack.stack.stack_audit:
    stack_name: shop-prod
    app_port: 8000
    launch_template_name: shop-prod-app
    alb: {name: shop-prod-alb, target_group_name: shop-prod-tg, https: false,
          health_check: {path: /healthz, matcher: "200", interval: 15, timeout: 5,
                         healthy_threshold: 2, unhealthy_threshold: 2}}
    asg: {name: shop-prod-asg, min_size: 2, max_size: 10, health_check_type: ELB,
          require_az_spread: true}
    scaling: {cpu_policy: shop-prod-cpu-target, cpu_target: 70, request_policy: "",
              request_count_target: 0, step_policies: [], step_alarms: []}
  register: audit
"""

RETURN = r"""
findings:
  description: One entry per invariant, in a stable order.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: "Stable id, category.name (network.private-routes-to-nat).", type: str}
    category: {description: "network, edge, compute, security or scaling.", type: str}
    title: {description: What the invariant demands., type: str}
    passed: {description: Whether it holds., type: bool}
    evidence: {description: "What AWS holds, that shows it.", type: str}
summary:
  description: Number of invariants that hold (passed) and that do not (failed).
  returned: always
  type: dict
  sample: {passed: 25, failed: 1}
url:
  description: The load balancer's URL (http or https by its listeners), empty when not found.
  returned: always
  type: str
"""

import contextlib
import json
from typing import Any
from urllib.parse import unquote

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.hastack.stack.plugins.module_utils.tags import (
    AZ_TAG,
    STACK_TAG,
    TIER_TAG,
    stack_filters,
    tags_of,
)

SSM_CORE = "AmazonSSMManagedInstanceCore"


class Audit:
    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.p = module.params
        self.stack = self.p["stack_name"]
        retry = AWSRetry.jittered_backoff()
        self.ec2 = module.client("ec2", retry_decorator=retry)
        self.elbv2 = module.client("elbv2", retry_decorator=retry)
        self.autoscaling = module.client("autoscaling", retry_decorator=retry)
        self.iam = module.client("iam", retry_decorator=retry)
        self.cloudwatch = module.client("cloudwatch", retry_decorator=retry)
        self.findings: list[dict[str, Any]] = []
        self.url = ""

    # -- helpers ---------------------------------------------------------------------------

    def add(self, fid: str, title: str, passed: bool, evidence: str) -> None:
        category = fid.split(".", 1)[0]
        self.findings.append(
            {
                "id": fid,
                "category": category,
                "title": title,
                "passed": bool(passed),
                "evidence": evidence,
            }
        )

    def missing(self, fids: list[tuple[str, str]], what: str) -> None:
        for fid, title in fids:
            self.add(fid, title, False, f"{what} not found")

    def owned(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if tags_of(i).get(STACK_TAG) == self.stack]

    def ec2_list(
        self, operation: str, key: str, filters: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        paginator = self.ec2.get_paginator(operation)
        return paginator.paginate(Filters=filters).build_full_result()[key]

    # -- network ---------------------------------------------------------------------------

    def network(self) -> dict[str, Any]:
        tagged = stack_filters(self.stack)
        vpcs = self.owned(self.ec2_list("describe_vpcs", "Vpcs", tagged))
        ids = ["network.vpc", "network.subnets-in-azs", "network.public-routes-to-igw"]
        ids += ["network.private-routes-to-nat", "network.private-no-public-ip"]
        if len(vpcs) != 1:
            self.add(
                "network.vpc",
                "Exactly one VPC carries the stack's tag",
                False,
                f"{len(vpcs)} VPCs tagged",
            )
            for fid in ids[1:]:
                self.add(fid, fid, False, "no single VPC to audit")
            return {}
        vpc_id = vpcs[0]["VpcId"]
        self.add(
            "network.vpc",
            "Exactly one VPC carries the stack's tag",
            True,
            f"{vpc_id} {vpcs[0]['CidrBlock']}",
        )
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        subnets = self.owned(self.ec2_list("describe_subnets", "Subnets", in_vpc))
        tier = {s["SubnetId"]: tags_of(s).get(TIER_TAG, "") for s in subnets}
        public = [s for s in subnets if tier[s["SubnetId"]] == "public"]
        private = [s for s in subnets if tier[s["SubnetId"]] == "private"]
        pub_azs = sorted({s["AvailabilityZone"] for s in public})
        priv_azs = sorted({s["AvailabilityZone"] for s in private})
        need = self.p["min_azs"]
        self.add(
            "network.subnets-in-azs",
            f"Public and private subnets in at least {need} availability zones",
            len(pub_azs) >= need and len(priv_azs) >= need,
            f"public in {', '.join(pub_azs) or 'none'}; private in {', '.join(priv_azs) or 'none'}",
        )

        tables = self.ec2_list("describe_route_tables", "RouteTables", in_vpc)
        main = next(
            (t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None
        )
        table_of = {
            a["SubnetId"]: t for t in tables for a in t.get("Associations", []) if a.get("SubnetId")
        }
        igws = self.ec2_list(
            "describe_internet_gateways",
            "InternetGateways",
            [{"Name": "attachment.vpc-id", "Values": [vpc_id]}],
        )
        igw_ids = {g["InternetGatewayId"] for g in igws}

        def default_route(subnet: dict[str, Any]) -> dict[str, Any]:
            table = table_of.get(subnet["SubnetId"], main) or {}
            return next(
                (
                    r
                    for r in table.get("Routes", [])
                    if r.get("DestinationCidrBlock") == "0.0.0.0/0"
                ),
                {},
            )

        bad = [s["SubnetId"] for s in public if default_route(s).get("GatewayId") not in igw_ids]
        self.add(
            "network.public-routes-to-igw",
            "Every public subnet routes 0.0.0.0/0 to the VPC's internet gateway",
            bool(public) and bool(igw_ids) and not bad,
            f"internet gateway {', '.join(sorted(igw_ids)) or 'none'}; "
            + (
                f"wrong or no default route: {', '.join(bad)}"
                if bad
                else f"{len(public)} public subnets routed"
            ),
        )

        nats = self.owned(
            self.ec2_list(
                "describe_nat_gateways",
                "NatGateways",
                [*in_vpc, {"Name": "state", "Values": ["available"]}],
            )
        )
        nats = [n for n in nats if n["State"] == "available" and n["VpcId"] == vpc_id]
        nat_az = {n["NatGatewayId"]: tags_of(n).get(AZ_TAG, "") for n in nats}
        mode = self.p["nat_mode"]
        problems = []
        for subnet in private:
            route = default_route(subnet)
            target = route.get("NatGatewayId")
            if mode == "none":
                if route:
                    problems.append(f"{subnet['SubnetId']} has a default route")
            elif target not in nat_az:
                problems.append(
                    f"{subnet['SubnetId']} -> {target or route.get('GatewayId') or 'nothing'}"
                )
            elif mode == "per_az" and nat_az[target] != subnet["AvailabilityZone"]:
                problems.append(
                    f"{subnet['SubnetId']} in {subnet['AvailabilityZone']} -> "
                    f"{target} in {nat_az[target]}"
                )
        title = {
            "per_az": "Every private subnet routes 0.0.0.0/0 to the NAT gateway in its own zone",
            "single": "Every private subnet routes 0.0.0.0/0 to the stack's NAT gateway",
            "none": "No private subnet has a default route (nat_mode none)",
        }[mode]
        self.add(
            "network.private-routes-to-nat",
            title,
            bool(private) and not problems,
            "; ".join(problems)
            or f"{len(private)} private subnets; NAT gateways "
            + (", ".join(f"{k} ({v})" for k, v in sorted(nat_az.items())) or "none"),
        )
        mapping = [s["SubnetId"] for s in private if s.get("MapPublicIpOnLaunch")]
        self.add(
            "network.private-no-public-ip",
            "Private subnets give launched instances no public IP",
            bool(private) and not mapping,
            f"map public IP on: {', '.join(mapping)}"
            if mapping
            else f"{len(private)} private subnets map none",
        )
        return {"vpc_id": vpc_id, "private_subnet_ids": sorted(s["SubnetId"] for s in private)}

    # -- edge ------------------------------------------------------------------------------

    def edge(self) -> dict[str, Any]:
        alb = self.p["alb"]
        ids = [
            (
                "edge.alb-active",
                "The load balancer is an active, internet-facing application load balancer",
            ),
            (
                "edge.alb-azs",
                f"The load balancer spans at least {self.p['min_azs']} availability zones",
            ),
            ("edge.drop-invalid-headers", "The load balancer drops invalid header fields"),
            ("edge.listeners", "Listeners as configured"),
            ("edge.health-check", "Target group health check as configured"),
        ]
        try:
            lb = self.elbv2.describe_load_balancers(aws_retry=True, Names=[alb["name"]])[
                "LoadBalancers"
            ][0]
        except is_boto3_error_code("LoadBalancerNotFound"):
            self.missing(ids, f"load balancer {alb['name']}")
            return {}
        arn = lb["LoadBalancerArn"]
        state = lb.get("State", {}).get("Code")
        self.add(
            ids[0][0],
            ids[0][1],
            state == "active"
            and lb.get("Scheme") == "internet-facing"
            and lb.get("Type") == "application",
            f"{alb['name']}: {lb.get('Type')}, {lb.get('Scheme')}, {state}",
        )
        zones = sorted(z["ZoneName"] for z in lb.get("AvailabilityZones", []))
        self.add(
            ids[1][0], ids[1][1], len(zones) >= self.p["min_azs"], ", ".join(zones) or "no zones"
        )
        attrs = {
            a["Key"]: a["Value"]
            for a in self.elbv2.describe_load_balancer_attributes(
                aws_retry=True, LoadBalancerArn=arn
            )["Attributes"]
        }
        drop = attrs.get("routing.http.drop_invalid_header_fields.enabled", "unset")
        self.add(
            ids[2][0],
            ids[2][1],
            drop == "true",
            f"routing.http.drop_invalid_header_fields.enabled={drop}",
        )

        tg_arn = ""
        try:
            tg = self.elbv2.describe_target_groups(
                aws_retry=True, Names=[alb["target_group_name"]]
            )["TargetGroups"][0]
            tg_arn = tg["TargetGroupArn"]
        except is_boto3_error_code("TargetGroupNotFound"):
            tg = None
        listeners = self.elbv2.describe_listeners(aws_retry=True, LoadBalancerArn=arn)["Listeners"]
        seen = {(lis["Port"], lis["Protocol"]): lis for lis in listeners}

        def action(lis: dict[str, Any] | None) -> str:
            first = ((lis or {}).get("DefaultActions") or [{}])[0]
            if first.get("Type") == "redirect":
                return f"redirect to {first.get('RedirectConfig', {}).get('Protocol')}"
            target = first.get("TargetGroupArn", "")  # ...:targetgroup/<name>/<id>
            return f"{first.get('Type')} to {target.split('/')[1] if '/' in target else '?'}"

        if alb.get("https"):
            wanted = {
                (80, "HTTP"): "redirect to HTTPS",
                (443, "HTTPS"): f"forward to {alb['target_group_name']}",
            }
        else:
            wanted = {(80, "HTTP"): f"forward to {alb['target_group_name']}"}
        got = {key: action(lis) for key, lis in seen.items()}
        self.add(
            ids[3][0],
            ids[3][1],
            got == wanted,
            "; ".join(f"{port}/{proto}: {what}" for (port, proto), what in sorted(got.items()))
            or "no listeners",
        )

        hc = alb["health_check"]
        if tg is None:
            self.add(
                ids[4][0], ids[4][1], False, f"target group {alb['target_group_name']} not found"
            )
            return {"lb_arn": arn, "target_group_arn": ""}
        actual = {
            "path": tg.get("HealthCheckPath"),
            "port": str(tg.get("HealthCheckPort")),
            "matcher": tg.get("Matcher", {}).get("HttpCode"),
            "interval": tg.get("HealthCheckIntervalSeconds"),
            "timeout": tg.get("HealthCheckTimeoutSeconds"),
            "healthy_threshold": tg.get("HealthyThresholdCount"),
            "unhealthy_threshold": tg.get("UnhealthyThresholdCount"),
            "target_port": tg.get("Port"),
        }
        expected = {
            "path": hc["path"],
            "port": "traffic-port",
            "matcher": str(hc["matcher"]),
            "interval": int(hc["interval"]),
            "timeout": int(hc["timeout"]),
            "healthy_threshold": int(hc["healthy_threshold"]),
            "unhealthy_threshold": int(hc["unhealthy_threshold"]),
            "target_port": self.p["app_port"],
        }
        diff = {k: (actual[k], v) for k, v in expected.items() if actual[k] != v}
        self.add(
            ids[4][0],
            ids[4][1],
            not diff,
            "; ".join(f"{k}: {a!r}, configured {e!r}" for k, (a, e) in diff.items())
            or f"{hc['path']} on the traffic port, matcher {actual['matcher']}, "
            f"every {actual['interval']}s, "
            f"{actual['healthy_threshold']}/{actual['unhealthy_threshold']} healthy/unhealthy",
        )
        self.url = f"{'https' if alb.get('https') else 'http'}://{lb.get('DNSName', '')}"
        return {
            "lb_arn": arn,
            "target_group_arn": tg_arn,
            "security_groups": lb.get("SecurityGroups", []),
        }

    # -- compute ---------------------------------------------------------------------------

    def compute(self, network: dict[str, Any], edge: dict[str, Any]) -> dict[str, Any]:
        asg = self.p["asg"]
        ids = [
            ("compute.asg-sizes", "Group sizes as configured, desired capacity within them"),
            ("compute.asg-health-check", f"Group health check type {asg['health_check_type']}"),
            ("compute.asg-private-subnets", "Group launches in the private subnets only"),
            ("compute.asg-target-group", "The target group is attached to the group"),
            ("compute.healthy-targets", f"At least {asg['min_size']} healthy targets"),
            (
                "compute.az-spread",
                f"Instances spread over at least {self.p['min_azs']} availability zones",
            ),
            ("compute.no-public-ip", "No instance of the group has a public IP"),
        ]
        groups = self.autoscaling.describe_auto_scaling_groups(
            aws_retry=True, AutoScalingGroupNames=[asg["name"]]
        )["AutoScalingGroups"]
        if not groups:
            self.missing(ids, f"Auto Scaling group {asg['name']}")
            return {}
        group = groups[0]
        sizes = (group["MinSize"], group["MaxSize"], group["DesiredCapacity"])
        self.add(
            ids[0][0],
            ids[0][1],
            sizes[0] == asg["min_size"]
            and sizes[1] == asg["max_size"]
            and sizes[0] <= sizes[2] <= sizes[1],
            f"min {sizes[0]} / desired {sizes[2]} / max {sizes[1]}; "
            f"configured min {asg['min_size']} / max {asg['max_size']}",
        )
        self.add(
            ids[1][0],
            ids[1][1],
            group.get("HealthCheckType") == asg["health_check_type"],
            f"{group.get('HealthCheckType')}, grace {group.get('HealthCheckGracePeriod')}s",
        )
        subnets = sorted(filter(None, group.get("VPCZoneIdentifier", "").split(",")))
        private = network.get("private_subnet_ids") or []
        self.add(
            ids[2][0],
            ids[2][1],
            bool(subnets) and subnets == private,
            f"group subnets {', '.join(subnets) or 'none'}; "
            f"private subnets {', '.join(private) or 'unknown'}",
        )
        tg_arn = edge.get("target_group_arn", "")
        attached = group.get("TargetGroupARNs", [])
        self.add(
            ids[3][0],
            ids[3][1],
            bool(tg_arn) and tg_arn in attached,
            f"attached: {', '.join(a.rsplit(':', 1)[-1] for a in attached) or 'none'}",
        )
        healthy: list[str] = []
        states: list[str] = []
        if tg_arn:
            health = self.elbv2.describe_target_health(aws_retry=True, TargetGroupArn=tg_arn)
            for d in health["TargetHealthDescriptions"]:
                states.append(f"{d['Target']['Id']} {d['TargetHealth']['State']}")
                if d["TargetHealth"]["State"] == "healthy":
                    healthy.append(d["Target"]["Id"])
        self.add(
            ids[4][0],
            ids[4][1],
            len(healthy) >= asg["min_size"],
            f"{len(healthy)} healthy: {', '.join(states) or 'no targets registered'}",
        )
        instance_ids = [i["InstanceId"] for i in group.get("Instances", [])]
        instances = []
        if instance_ids:
            reservations = self.ec2.describe_instances(aws_retry=True, InstanceIds=instance_ids)[
                "Reservations"
            ]
            instances = [i for r in reservations for i in r["Instances"]]
        azs = sorted({i["Placement"]["AvailabilityZone"] for i in instances})
        if asg.get("require_az_spread", True):
            # One instance cannot be spread; two or more must use min_azs zones (or one each).
            self.add(
                ids[5][0],
                ids[5][1],
                len(azs) >= min(self.p["min_azs"], len(instances)),
                f"{len(instances)} instances in {', '.join(azs) or 'no zone'}",
            )
        else:
            self.add(
                ids[5][0],
                ids[5][1] + " (not required here: the emulator puts every instance in one zone)",
                True,
                f"{len(instances)} instances in {', '.join(azs) or 'no zone'}; "
                "spread not required (require_az_spread: false)",
            )
        public = [i["InstanceId"] for i in instances if i.get("PublicIpAddress")]
        self.add(
            ids[6][0],
            ids[6][1],
            not public,
            f"public IPs on {', '.join(public)}"
            if public
            else f"{len(instances)} instances, none with a public IP",
        )
        return {"group": group}

    # -- security --------------------------------------------------------------------------

    def security(
        self, network: dict[str, Any], edge: dict[str, Any], compute: dict[str, Any]
    ) -> None:
        name = self.p["launch_template_name"]
        port = self.p["app_port"]
        alb_sgs = set(edge.get("security_groups", []))
        # One lookup serves both invariants: the stack's groups, the app group among them.
        stack_groups = self.owned(
            self.ec2_list(
                "describe_security_groups",
                "SecurityGroups",
                stack_filters(self.stack),
            )
        )
        groups = [
            g
            for g in stack_groups
            if g["GroupName"] == name
            and (not network.get("vpc_id") or g.get("VpcId") == network["vpc_id"])
        ]
        if len(groups) != 1:
            self.add(
                "security.app-sg-ingress",
                "App security group admits only the app port from the load balancer",
                False,
                f"{len(groups)} app security groups named {name}",
            )
        else:
            rules = []
            ok = True
            for perm in groups[0].get("IpPermissions", []):
                sources = [p.get("GroupId") for p in perm.get("UserIdGroupPairs", [])]
                cidrs = [r["CidrIp"] for r in perm.get("IpRanges", [])] + [
                    r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])
                ]
                rules.append(
                    f"{perm.get('IpProtocol')} "
                    f"{perm.get('FromPort', 'all')}-{perm.get('ToPort', 'all')} from "
                    + ", ".join(
                        sources + cidrs + [p["PrefixListId"] for p in perm.get("PrefixListIds", [])]
                    )
                )
                if (
                    perm.get("IpProtocol") != "tcp"
                    or perm.get("FromPort") != port
                    or perm.get("ToPort") != port
                    or cidrs
                    or perm.get("PrefixListIds")
                    or not sources
                    or not set(sources) <= alb_sgs
                ):
                    ok = False
            self.add(
                "security.app-sg-ingress",
                f"App security group admits only tcp {port} from the load balancer's group",
                ok and bool(rules),
                f"{groups[0]['GroupId']}: "
                + ("; ".join(rules) or "no ingress rules")
                + f" (load balancer groups: {', '.join(sorted(alb_sgs)) or 'unknown'})",
            )
        ssh = [
            g["GroupId"]
            for g in stack_groups
            for perm in g.get("IpPermissions", [])
            if perm.get("IpProtocol") == "-1"
            or perm.get("FromPort", 0) <= 22 <= perm.get("ToPort", -1)
        ]
        self.add(
            "security.no-ssh",
            "No security group of the stack admits SSH (port 22)",
            not ssh,
            f"port 22 open in {', '.join(sorted(set(ssh)))}"
            if ssh
            else f"{len(stack_groups)} groups checked",
        )

        group = compute.get("group") or {}
        spec = group.get("LaunchTemplate") or (group.get("MixedInstancesPolicy") or {}).get(
            "LaunchTemplate", {}
        ).get("LaunchTemplateSpecification")
        data: dict[str, Any] = {}
        version = ""
        try:
            if spec:
                version = str(spec.get("Version") or "$Default")
                versions = self.ec2.describe_launch_template_versions(
                    aws_retry=True, LaunchTemplateId=spec["LaunchTemplateId"], Versions=[version]
                )["LaunchTemplateVersions"]
            else:
                versions = self.ec2.describe_launch_template_versions(
                    aws_retry=True, LaunchTemplateName=name, Versions=["$Default"]
                )["LaunchTemplateVersions"]
            data = versions[0]["LaunchTemplateData"] if versions else {}
            version = str(versions[0]["VersionNumber"]) if versions else version
        except botocore.exceptions.ClientError:
            data = {}
        if not data:
            self.missing(
                [
                    ("security.imdsv2", "The launch template requires IMDSv2"),
                    (
                        "security.encrypted-volumes",
                        "Every volume of the launch template is encrypted",
                    ),
                    ("security.template-no-public-ip", "The launch template gives no public IP"),
                ],
                f"launch template {name}",
            )
        else:
            md = data.get("MetadataOptions", {})
            self.add(
                "security.imdsv2",
                "The launch template requires IMDSv2",
                md.get("HttpTokens") == "required"
                and md.get("HttpEndpoint", "enabled") == "enabled",
                f"version {version}: HttpTokens={md.get('HttpTokens')}, "
                f"hop limit {md.get('HttpPutResponseHopLimit')}",
            )
            volumes = [b for b in data.get("BlockDeviceMappings", []) if "Ebs" in b]
            plain = [b["DeviceName"] for b in volumes if not b["Ebs"].get("Encrypted")]
            self.add(
                "security.encrypted-volumes",
                "Every volume of the launch template is encrypted",
                bool(volumes) and not plain,
                f"not encrypted: {', '.join(plain)}"
                if plain
                else f"{', '.join(b['DeviceName'] for b in volumes) or 'no EBS volumes'} encrypted",
            )
            nics = data.get("NetworkInterfaces", [])
            public = [n for n in nics if n.get("AssociatePublicIpAddress")]
            self.add(
                "security.template-no-public-ip",
                "The launch template gives no public IP",
                not public,
                f"{len(nics)} interfaces, AssociatePublicIpAddress "
                + ("true" if public else "false"),
            )
        self.instance_role(name)

    def instance_role(self, name: str) -> None:
        fid, title = (
            "security.instance-role-scope",
            "The instance role allows SSM and the stack's own parameters only",
        )
        try:
            attached = self.iam.list_attached_role_policies(aws_retry=True, RoleName=name)[
                "AttachedPolicies"
            ]
            inline = self.iam.list_role_policies(aws_retry=True, RoleName=name)["PolicyNames"]
            profile = self.iam.get_instance_profile(aws_retry=True, InstanceProfileName=name)[
                "InstanceProfile"
            ]
        except is_boto3_error_code("NoSuchEntity"):
            self.add(fid, title, False, f"role or instance profile {name} not found")
            return
        problems = [
            f"managed policy {p['PolicyName']}" for p in attached if p["PolicyName"] != SSM_CORE
        ]
        if SSM_CORE not in [p["PolicyName"] for p in attached]:
            problems.append(f"{SSM_CORE} not attached")
        allowed = f":parameter/{self.stack}/"
        for policy in inline:
            doc = self.iam.get_role_policy(aws_retry=True, RoleName=name, PolicyName=policy)[
                "PolicyDocument"
            ]
            if isinstance(doc, str):
                doc = json.loads(unquote(doc))
            statements = doc.get("Statement", [])
            for st in statements if isinstance(statements, list) else [statements]:
                actions = st.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                resources = st.get("Resource", [])
                resources = [resources] if isinstance(resources, str) else resources
                for action in actions:
                    if action.startswith("ssm:") and not all(allowed in r for r in resources):
                        problems.append(f"{policy}: {action} on {', '.join(resources)}")
                    elif action == "kms:Decrypt" and "ssm." not in json.dumps(
                        st.get("Condition", {})
                    ):
                        problems.append(f"{policy}: kms:Decrypt not limited to SSM")
                    elif not action.startswith(("ssm:Get", "kms:Decrypt")):
                        problems.append(f"{policy}: {action}")
        roles = [r["RoleName"] for r in profile.get("Roles", [])]
        if roles != [name]:
            problems.append(f"profile {name} holds roles {roles}")
        self.add(
            fid,
            title,
            not problems,
            "; ".join(problems)
            or f"{SSM_CORE} + {', '.join(inline) or 'no inline policy'} "
            f"limited to parameter/{self.stack}/*",
        )

    # -- scaling ---------------------------------------------------------------------------

    def scaling(self) -> None:
        sc = self.p["scaling"]
        group = self.p["asg"]["name"]
        policies = self.autoscaling.describe_policies(aws_retry=True, AutoScalingGroupName=group)[
            "ScalingPolicies"
        ]
        by_name = {p["PolicyName"]: p for p in policies}
        cpu = by_name.get(sc["cpu_policy"], {})
        cfg = cpu.get("TargetTrackingConfiguration", {})
        metric = cfg.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
        self.add(
            "scaling.cpu-target-tracking",
            f"CPU target tracking at {sc['cpu_target']}%",
            metric == "ASGAverageCPUUtilization"
            and float(cfg.get("TargetValue", -1)) == float(sc["cpu_target"]),
            f"{sc['cpu_policy']}: {metric or 'missing'} target {cfg.get('TargetValue', '-')}",
        )
        request = by_name.get(sc.get("request_policy") or "", {})
        want = int(sc.get("request_count_target") or 0)
        value = request.get("TargetTrackingConfiguration", {}).get("TargetValue")
        self.add(
            "scaling.request-count",
            f"Request-count target tracking at {want} per target"
            if want
            else "No request-count policy (off)",
            (value is not None and float(value) == want) if want else not request,
            f"{sc.get('request_policy')}: target {value}" if request else "no request-count policy",
        )
        steps = list(sc.get("step_policies") or [])
        alarms_wanted = list(sc.get("step_alarms") or [])
        missing = [p for p in steps if p not in by_name]
        found_alarms = []
        if alarms_wanted:
            found_alarms = self.cloudwatch.describe_alarms(
                aws_retry=True, AlarmNames=alarms_wanted
            )["MetricAlarms"]
        alarm_problems = [
            a for a in alarms_wanted if a not in {x["AlarmName"] for x in found_alarms}
        ]
        for alarm in found_alarms:
            dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
            if dims.get("AutoScalingGroupName") != group or not alarm.get("AlarmActions"):
                alarm_problems.append(f"{alarm['AlarmName']} does not act on {group}")
        extra = [n for n in by_name if "-cpu-step-" in n and n not in steps]
        self.add(
            "scaling.step-alarms",
            "Step policies and CPU alarms as configured"
            if steps
            else "No step policies or alarms (off)",
            not missing and not alarm_problems and not extra,
            "; ".join(
                [f"missing policy {m}" for m in missing]
                + [f"alarm {a}" for a in alarm_problems]
                + [f"unexpected policy {e}" for e in extra]
            )
            or (
                f"{', '.join(steps)} with alarms {', '.join(alarms_wanted)}"
                if steps
                else "none present"
            ),
        )

    def run(self) -> None:
        network = self.network()
        edge = self.edge()
        compute = self.compute(network, edge)
        self.security(network, edge, compute)
        self.scaling()


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "stack_name": {"type": "str", "required": True},
            "min_azs": {"type": "int", "default": 2},
            "nat_mode": {
                "type": "str",
                "default": "per_az",
                "choices": ["per_az", "single", "none"],
            },
            "app_port": {"type": "int", "required": True},
            "alb": {"type": "dict", "required": True},
            "asg": {"type": "dict", "required": True},
            "launch_template_name": {"type": "str", "required": True},
            "scaling": {"type": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    audit = Audit(module)
    try:
        audit.run()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to read stack {module.params['stack_name']}")
    failed = sum(not f["passed"] for f in audit.findings)
    module.exit_json(
        changed=False,
        findings=audit.findings,
        summary={"passed": len(audit.findings) - failed, "failed": failed},
        url=audit.url,
    )


if __name__ == "__main__":
    main()
