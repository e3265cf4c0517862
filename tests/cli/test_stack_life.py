"""The ``hastack`` command against the emulator, end to end, in one combined life of a stack
(each whole-stack deploy costs about a minute): a deploy interrupted with Ctrl-C, the
converging re-run while a second command is refused by the lock, outputs, secrets kept out
of everything, a clean check with JUnit, hand-made drift caught by check and plan, and a
destroy refused by deletion protection, then confirmed.

Asserts on what the emulator holds, the exit codes and the documents the CLI prints.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema

from hastack.locking import StackLock
from hastack.results import json_schema
from tests.support import BIN, ROOT, client, stack_leftovers, tag_filter

pytestmark = pytest.mark.emulator

STACK = "pytest-cli-life"
SCHEMA = json_schema()
XSD = xmlschema.XMLSchema(Path(__file__).parents[1] / "data" / "junit-10.xsd")
# Credentials a pipeline would have in its environment: they must reach no file and no output.
CREDENTIALS = {
    "AWS_SECRET_ACCESS_KEY": f"e2e-secret-{uuid.uuid4().hex}",
    "AWS_SESSION_TOKEN": f"e2e-token-{uuid.uuid4().hex}",
}


class Cli:
    """Runs ``hastack`` as a pipeline would and keeps everything it printed."""

    def __init__(self) -> None:
        self.env = {**os.environ, **CREDENTIALS}
        self.printed: list[str] = []

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(BIN / "hastack"), *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "hastack"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return self.keep(proc)

    def keep(self, proc: Any) -> Any:
        self.printed += [proc.stdout or "", proc.stderr or ""]
        return proc

    def json(self, proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
        data = json.loads(proc.stdout)
        jsonschema.validate(data, SCHEMA)
        assert data["exit_code"] == proc.returncode
        return data


def _read_until(proc: subprocess.Popen[str], marker: str, seen: list[str]) -> None:
    """Read the progress on stderr until a line contains ``marker``."""
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            return
    proc.wait()
    pytest.fail(f"the run ended before {marker!r}:\n{''.join(seen)[-3000:]}")


def _processes_naming(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(f"{cmdline.parent.name}: {args[:200]}")
    return found


def test_the_cli_drives_a_stack_from_deploy_to_destroy(aws_env: str) -> None:
    state = Path(os.environ["HASTACK_STATE_DIR"])
    cli = Cli()
    assert stack_leftovers(aws_env, STACK) == [], "a previous test left the stack behind"
    try:
        # -- Ctrl-C in the middle of a deploy: a clean stop that says what to do -------------
        first = cli.popen("deploy", "--stack", STACK)
        seen: list[str] = []
        _read_until(
            first, "hastack.stack.alb : present | Create", seen
        )  # network built, ALB under way
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=120)
        cli.keep(subprocess.CompletedProcess([], first.returncode, out, "".join(seen) + err))
        assert first.returncode == 130, out + err
        # Ansible ends the task under way, so the named task is that one or a later one.
        stopped_in = re.search(r"interrupted during `([^`]+)`", err)
        assert stopped_in, err
        # alb, then the NAT wait (hastack.stack.nat : wait), then launch_template
        role = stopped_in.group(1).split(" : ")[0]
        assert role in (
            "hastack.stack.alb",
            "hastack.stack.nat",
            "hastack.stack.launch_template",
        ), err
        shown = "".join(seen) + err[: stopped_in.start()]
        assert stopped_in.group(1) in shown  # a task the progress lines showed
        assert "run `hastack deploy` again to converge it, or `hastack destroy`" in err
        assert "canceled" in out
        assert _processes_naming(STACK) == []  # ansible-playbook and its workers are gone
        with StackLock(state, "local", STACK, "deploy"):  # and so is the lock
            pass

        # -- the re-run converges; meanwhile a check is refused at once, naming the deploy ----
        second = cli.popen("deploy", "--stack", STACK, "--format", "json")
        _read_until(second, "hastack.stack.vpc : present | ", [])  # it holds the lock now
        started = time.monotonic()
        refused = cli.run("check", "--stack", STACK, "--format", "json")
        assert refused.returncode == 4, refused.stderr
        assert time.monotonic() - started < 15  # refused, not queued
        error = cli.json(refused)["error"]
        assert error["kind"] == "refused"
        assert error["holders"][0]["pid"] == second.pid
        assert f"pid {second.pid}" in refused.stderr
        assert "hastack deploy --stack pytest-cli-life" in refused.stderr
        out, err = second.communicate(timeout=900)
        deployed = cli.json(cli.keep(subprocess.CompletedProcess([], second.returncode, out, err)))
        assert second.returncode == 0, deployed["message"]
        assert deployed["outputs"]["asg_name"] == f"{STACK}-asg"

        # -- outputs: the file the deploy wrote, no AWS call ---------------------------------
        shown = cli.json(cli.run("outputs", "--stack", STACK, "--format", "json"))
        written = json.loads((state / "outputs" / f"{STACK}.json").read_text())
        assert shown["outputs"] == written == deployed["outputs"]

        # -- a clean stack: every invariant holds, nothing drifted, JUnit all green ----------
        junit_file = state.parent / "reports" / "check.xml"
        clean = cli.run("check", "--stack", STACK, "--junit", str(junit_file), "--format", "json")
        report = cli.json(clean)
        assert clean.returncode == 0, report["message"]
        assert len(report["findings"]) >= 20
        assert all(f["passed"] for f in report["findings"])
        assert report["drift"] == []
        XSD.validate(str(junit_file))
        assert "<failure" not in junit_file.read_text()

        # -- secrets: the Django key in SSM and the pipeline's credentials are nowhere ------
        secret = client("ssm", aws_env).get_parameter(
            Name=f"/{STACK}/django/secret-key", WithDecryption=True
        )["Parameter"]
        assert secret["Type"] == "SecureString"
        assert len(secret["Value"]) >= 32
        versions = client("ec2", aws_env).describe_launch_template_versions(
            LaunchTemplateName=f"{STACK}-app", Versions=["$Latest"]
        )["LaunchTemplateVersions"]
        user_data = base64.b64decode(versions[0]["LaunchTemplateData"]["UserData"]).decode()
        assert f"/{STACK}/django/secret-key" in user_data  # it names the parameter ...
        files = [p for p in state.rglob("*") if p.is_file()]
        assert any(p.name == "command" for p in files)
        assert any(p.parent.name == "job_events" for p in files)
        for value in [secret["Value"], *CREDENTIALS.values()]:
            assert value not in user_data  # ... never a value
            leaks = [str(p) for p in files if value.encode() in p.read_bytes()]
            assert leaks == [], f"a secret reached {leaks}"
            assert not any(value in text for text in cli.printed)

        # -- drift by hand: a rule on the app security group, a new ASG max size -----------
        ec2 = client("ec2", aws_env)
        app_sg = ec2.describe_security_groups(
            Filters=[*tag_filter(STACK), {"Name": "group-name", "Values": [f"{STACK}-app"]}]
        )["SecurityGroups"][0]
        ec2.authorize_security_group_ingress(
            GroupId=app_sg["GroupId"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 9000,
                    "ToPort": 9000,
                    "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
                }
            ],
        )
        client("autoscaling", aws_env).update_auto_scaling_group(
            AutoScalingGroupName=f"{STACK}-asg", MaxSize=7
        )
        drifted = cli.run("check", "--stack", STACK, "--junit", str(junit_file), "--format", "json")
        report = cli.json(drifted)
        assert drifted.returncode == 2, report["message"]
        failed = {f["id"] for f in report["findings"] if not f["passed"]}
        assert {"security.app-sg-ingress", "compute.asg-sizes"} <= failed
        tasks = {d["task"] for d in report["drift"]}
        assert "hastack.stack.launch_template : present | Create the app security group" in tasks
        asg_drift = [d for d in report["drift"] if d["task"].startswith("hastack.stack.asg : ")]
        assert "max_size 7 -> 5" in (asg_drift[0]["message"] or "")
        XSD.validate(str(junit_file))
        suites = {s["@name"]: s for s in XSD.to_dict(str(junit_file))["testsuite"]}
        assert suites["drift"]["@failures"] == len(report["drift"])
        assert suites["security"]["@failures"] >= 1

        plan = cli.run("plan", "--stack", STACK)
        assert plan.returncode == 2, plan.stdout + plan.stderr
        assert (
            "hastack.stack.launch_template : present | Create the app security group" in plan.stdout
        )
        assert "max_size 7 -> 5" in plan.stdout

        # -- destroy: refused while the load balancer is protected, then confirmed --------
        elbv2 = client("elbv2", aws_env)
        lb_arn = deployed["outputs"]["load_balancer_arn"]
        elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=lb_arn,
            Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}],
        )
        protected = cli.run("destroy", "--stack", STACK, "--format", "json")
        result = cli.json(protected)
        assert protected.returncode == 4, result["message"]
        assert "deletion protection" in result["message"]
        assert elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"]
    finally:
        destroyed = cli.run(
            "destroy", "--stack", STACK, "--var", "alb_confirm_delete_protected=true"
        )
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr[-3000:]
    assert stack_leftovers(aws_env, STACK) == []
