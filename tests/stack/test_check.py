"""check.yml (the audit) and site.yml --check (drift) on a live stack in the emulator.

A deployed stack passes every invariant and shows no drift; then things are broken by hand
in the emulator, and each break must fail its own invariant (and nothing else) or show as
drift. The HTTP probe cannot reach an emulated load balancer (moto's DNS names do not
resolve), so it is pointed at a local HTTP server with check_probe_url: this proves the probe
logic; on AWS the same tasks probe the load balancer's URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support import PlaybookRun, assert_rejected_before_aws, client, run_playbook, serving

pytestmark = pytest.mark.emulator

STACK = "chk"


@contextmanager
def http_server(status: int) -> Iterator[str]:
    """127.0.0.1 server answering every GET with ``status``; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: Any) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url


def check(**extra: Any) -> tuple[PlaybookRun, dict[str, dict[str, Any]]]:
    run = run_playbook(
        "check.yml",
        extra_vars={"stack_name": STACK, "check_probe_retries": 2, "check_probe_delay": 1, **extra},
        env={"ANSIBLE_SHOW_CUSTOM_STATS": "true"},
    )
    stats = run.data.get("global_custom_stats", {}).get("hastack_check", {})
    return run, {f["id"]: f for f in stats.get("findings", [])}


def failed(findings: dict[str, dict[str, Any]]) -> set[str]:
    return {fid for fid, f in findings.items() if not f["passed"]}


def test_audit_and_drift_on_a_live_stack(aws_env: str) -> None:
    try:
        deployed = run_playbook("site.yml", extra_vars={"stack_name": STACK})
        assert deployed.rc == 0, deployed.failures()

        # -- healthy: every invariant holds, the probe answers, nothing drifts
        with http_server(200) as url:
            run, findings = check(check_probe_url=url)
        assert run.rc == 0, run.failures()
        assert len(findings) == 28, sorted(findings)
        assert failed(findings) == set()
        categories = {f["category"] for f in findings.values()}
        assert categories == {"network", "edge", "compute", "security", "scaling", "probe"}
        assert findings["probe.health"]["evidence"].endswith("/healthz -> 200 after 1 attempt(s)")
        assert "nat-" in findings["network.private-routes-to-nat"]["evidence"]
        plan = run_playbook("site.yml", extra_vars={"stack_name": STACK}, args=["--check"])
        assert plan.rc == 0, plan.failures()
        assert plan.changed == 0, plan.changed_tasks()

        # -- broken by hand: each break fails its own invariant
        ec2 = client("ec2", aws_env)
        elbv2 = client("elbv2", aws_env)
        vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:hastack:stack", "Values": [STACK]}])
        vpc_id = vpc["Vpcs"][0]["VpcId"]
        private_rt = ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "tag:hastack:tier", "Values": ["private"]},
            ]
        )["RouteTables"][0]
        ec2.delete_route(RouteTableId=private_rt["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
        lb = elbv2.describe_load_balancers(Names=[f"{STACK}-alb"])["LoadBalancers"][0]
        elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Attributes=[
                {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "false"}
            ],
        )
        tg = elbv2.describe_target_groups(Names=[f"{STACK}-tg"])["TargetGroups"][0]
        elbv2.modify_target_group(TargetGroupArn=tg["TargetGroupArn"], HealthCheckPath="/")
        iam = client("iam", aws_env)
        iam.attach_role_policy(
            RoleName=f"{STACK}-app", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
        )

        with http_server(503) as url:
            run, findings = check(check_probe_url=url)
        assert run.rc != 0
        assert failed(findings) == {
            "network.private-routes-to-nat",
            "edge.drop-invalid-headers",
            "edge.health-check",
            "security.instance-role-scope",
            "probe.health",
            "probe.root",
        }
        assert "-> nothing" in findings["network.private-routes-to-nat"]["evidence"]
        assert "path: '/', configured '/healthz'" in findings["edge.health-check"]["evidence"]
        assert "AdministratorAccess" in findings["security.instance-role-scope"]["evidence"]
        assert "-> 503 after 2 attempt(s)" in findings["probe.health"]["evidence"]
        message = " ".join(msg for _, msg in run.failures())
        assert "6 of 28 invariants failed" in message

        # -- the same breaks as drift: the dry run would restore the route and the attribute
        plan = run_playbook("site.yml", extra_vars={"stack_name": STACK}, args=["--check"])
        assert plan.rc == 0, plan.failures()
        drift = plan.changed_tasks()
        nat_task = "hastack.stack.nat : present | Create the NAT gateways and route each private "
        assert nat_task + "subnet to the NAT gateway of its zone" in drift
        assert "hastack.stack.alb : present | Set the load balancer attributes" in drift
        assert "hastack.stack.launch_template : present | Create the instance role" in drift

        # -- a stack that does not exist fails the audit, without a Python error
        run, findings = check(stack_name="chk-none")
        assert run.rc != 0
        assert findings["network.vpc"]["evidence"] == "0 VPCs tagged"
        assert failed(findings) >= {
            "network.vpc",
            "edge.alb-active",
            "compute.asg-sizes",
            "security.imdsv2",
            "security.instance-role-scope",
            "scaling.cpu-target-tracking",
        }
    finally:
        run_playbook("destroy.yml", extra_vars={"stack_name": STACK})


@pytest.mark.parametrize(
    ("extra_vars", "setting"),
    [
        ({"check_probe_url": "ftp://lb.example.com/healthz"}, "check_probe_url"),
        ({"check_probe_retries": 0}, "check_probe_retries"),
        ({"check_require_az_spread": "sometimes"}, "check_require_az_spread"),
        ({"asg_max_size": 0}, "asg_max_size"),
    ],
    ids=["probe-url-not-http", "probe-retries-zero", "spread-not-bool", "role-setting"],
)
def test_check_rejects_bad_settings_before_any_aws_call(
    extra_vars: dict[str, Any], setting: str
) -> None:
    assert_rejected_before_aws("check.yml", extra_vars, setting)
