"""Helpers for tests that run the real playbooks: a runner that returns structured results,
boto3 clients on the emulator, and an endpoint that counts every AWS call it receives."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from bench.hastack_bench import operation

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REGION = "us-east-1"


def load_source(relative: str) -> Any:
    """Import a module, filter or plugin of the project from its file (``relative`` to the repo
    root): Ansible finds them by path, not as packages, and tests drive their code directly."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec, path
    assert spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """Serve ``server`` (bound to 127.0.0.1) from a daemon thread; yields its base URL and shuts
    it down after the block."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    data: dict[str, Any] = field(repr=False)

    @property
    def changed(self) -> int:
        return sum(h.get("changed", 0) for h in self.data.get("stats", {}).values())

    @property
    def failed(self) -> int:
        return sum(h.get("failures", 0) for h in self.data.get("stats", {}).values())

    def changed_tasks(self) -> list[str]:
        return [
            t["task"]["name"]
            for play in self.data.get("plays", [])
            for t in play["tasks"]
            if any(r.get("changed") for r in t["hosts"].values())
        ]

    def failures(self) -> list[tuple[str, str]]:
        """(task name, message) of every failed task."""
        out = []
        for play in self.data.get("plays", []):
            for t in play["tasks"]:
                for res in t["hosts"].values():
                    if res.get("failed") and not res.get("ignore_errors"):
                        out.append((t["task"]["name"], str(res.get("msg", res))))
        return out

    def failed_results(self) -> list[tuple[str, dict[str, Any]]]:
        """(task name, result) of every failed task, as the JSON callback recorded it."""
        return [
            (t["task"]["name"], res)
            for play in self.data.get("plays", [])
            for t in play["tasks"]
            for res in t["hosts"].values()
            if res.get("failed") and not res.get("ignore_errors")
        ]

    def ran_tasks(self) -> list[str]:
        return [t["task"]["name"] for play in self.data.get("plays", []) for t in play["tasks"]]


def run_playbook(
    playbook: str,
    *,
    inventory: str = "local",
    extra_vars: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    timeout: float = 600,
) -> PlaybookRun:
    """Run ``ansible-playbook <playbook> -i inventories/<inventory>`` from the repo root."""
    cmd = [str(BIN / "ansible-playbook"), playbook, "-i", f"inventories/{inventory}"]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += args or []
    full_env = {
        **os.environ,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
        **(env or {}),
    }
    proc = subprocess.run(
        cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    # Timing callbacks (ansible.cfg) print around the JSON document; it starts on a line "{".
    start = proc.stdout.find("\n{\n")
    try:
        data, _ = json.JSONDecoder().raw_decode(
            proc.stdout[start + 1 :] if start >= 0 else proc.stdout
        )
    except ValueError:
        data = {}
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, data)


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy key, not a secret
    )


def tag_filter(stack: str) -> list[dict[str, Any]]:
    return [{"Name": "tag:hastack:stack", "Values": [stack]}]


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


class _Counter(BaseHTTPRequestHandler):
    calls: list[str]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace") if length else ""
        self.server.calls.append(f"{self.command} {self.path} {body[:200]}")  # type: ignore[attr-defined]
        self.send_response(500)
        self.end_headers()

    # CONNECT too: set as HTTPS_PROXY, it counts a call to real AWS the same way.
    do_GET = do_POST = do_PUT = do_DELETE = do_CONNECT = _answer

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def counting_endpoint() -> Iterator[tuple[str, list[str]]]:
    """An HTTP endpoint on 127.0.0.1 that records every request and answers 500.

    Pointing AWS_ENDPOINT_URL (or HTTP(S)_PROXY) at it proves a run made no AWS call at all:
    the list stays empty.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    server.calls = []  # type: ignore[attr-defined]
    with serving(server) as url:
        yield url, server.calls  # type: ignore[attr-defined]


def counting_env(endpoint: str) -> dict[str, str]:
    """Environment that sends every AWS call to ``endpoint`` with dummy credentials."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}


def assert_rejected_before_aws(
    playbook: str, extra_vars: dict[str, Any], setting: str, *, stack: str = "validation"
) -> PlaybookRun:
    """Run ``playbook`` with bad ``extra_vars``: it must fail with a message naming ``setting``
    and without a single request reaching the (counting) AWS endpoint."""
    with counting_endpoint() as (endpoint, calls):
        run = run_playbook(
            playbook, extra_vars={"stack_name": stack, **extra_vars}, env=counting_env(endpoint)
        )
    assert run.rc != 0, run.stdout[-2000:]
    assert calls == [], f"AWS was called before validation failed: {calls}"
    messages = " ".join(msg for _, msg in run.failures())
    assert setting in messages, f"message does not name {setting!r}: {messages}"
    assert not any("present |" in t for t in run.ran_tasks())
    return run


# -- destroy tests: an API recorder, an interrupted run and an independent leak sweep --------


def _operation(headers: Any, path: str, body: bytes) -> tuple[str, str]:
    """(service, operation) of one botocore request: the benchmark's reading of it, split."""
    service, _, name = operation(headers, path, body).partition(":")
    return service, name


class _Forwarder(BaseHTTPRequestHandler):
    def _forward(self) -> None:
        import http.client

        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.calls.append(_operation(self.headers, self.path, body))  # type: ignore[attr-defined]
        host, port = self.server.target  # type: ignore[attr-defined]
        conn = http.client.HTTPConnection(host, port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def recording_proxy(endpoint: str) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """An endpoint on 127.0.0.1 that forwards every request to ``endpoint`` (the emulator)
    and records its (service, operation) in order: the API calls a run made, as AWS saw them."""
    from urllib.parse import urlsplit

    target = urlsplit(endpoint)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forwarder)
    server.calls = []  # type: ignore[attr-defined]
    server.target = (target.hostname, target.port)  # type: ignore[attr-defined]
    with serving(server) as url:
        yield url, server.calls  # type: ignore[attr-defined]


def stack_leftovers(endpoint: str, stack: str) -> list[str]:
    """Everything of ``stack`` the emulator still holds, as "kind id" strings.

    The tests' own sweep, written apart from the product's hastack.stack.stack_info so that one
    bug cannot hide in both: EC2 by tag (checked client-side), ELBv2 by tag, the Auto Scaling
    group, IAM and alarms by the stack's names, SSM parameters under /<stack>/.
    """
    ec2 = client("ec2", endpoint)
    found: list[str] = []

    def mine(resource: dict[str, Any]) -> bool:
        return tags_of(resource).get("hastack:stack") == stack

    flt = tag_filter(stack)
    found += [f"vpc {v['VpcId']}" for v in ec2.describe_vpcs(Filters=flt)["Vpcs"] if mine(v)]
    found += [
        f"subnet {s['SubnetId']}" for s in ec2.describe_subnets(Filters=flt)["Subnets"] if mine(s)
    ]
    found += [
        f"route-table {r['RouteTableId']}"
        for r in ec2.describe_route_tables(Filters=flt)["RouteTables"]
        if mine(r)
    ]
    found += [
        f"igw {g['InternetGatewayId']}"
        for g in ec2.describe_internet_gateways(Filters=flt)["InternetGateways"]
        if mine(g)
    ]
    found += [
        f"nat {n['NatGatewayId']} {n['State']}"
        for n in ec2.describe_nat_gateways()["NatGateways"]
        if mine(n) and n["State"] != "deleted"
    ]
    found += [f"eip {a['PublicIp']}" for a in ec2.describe_addresses()["Addresses"] if mine(a)]
    found += [
        f"sg {g['GroupId']}"
        for g in ec2.describe_security_groups(Filters=flt)["SecurityGroups"]
        if mine(g)
    ]
    found += [
        f"instance {i['InstanceId']} {i['State']['Name']}"
        for r in ec2.describe_instances(Filters=flt)["Reservations"]
        for i in r["Instances"]
        if mine(i) and i["State"]["Name"] != "terminated"
    ]
    found += [
        f"launch-template {t['LaunchTemplateName']}"
        for t in ec2.describe_launch_templates()["LaunchTemplates"]
        if mine(t) or t["LaunchTemplateName"] == f"{stack}-app"
    ]
    elbv2 = client("elbv2", endpoint)
    arns = [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]
    arns += [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]]
    for start in range(0, len(arns), 20):
        for desc in elbv2.describe_tags(ResourceArns=arns[start : start + 20])["TagDescriptions"]:
            if mine(desc):
                found.append(f"elbv2 {desc['ResourceArn']}")
    groups = client("autoscaling", endpoint).describe_auto_scaling_groups()["AutoScalingGroups"]
    found += [f"asg {g['AutoScalingGroupName']}" for g in groups if mine(g)]
    iam = client("iam", endpoint)
    found += [
        f"iam-role {r['RoleName']}"
        for r in iam.list_roles()["Roles"]
        if r["RoleName"] == f"{stack}-app"
    ]
    found += [
        f"instance-profile {p['InstanceProfileName']}"
        for p in iam.list_instance_profiles()["InstanceProfiles"]
        if p["InstanceProfileName"] == f"{stack}-app"
    ]
    alarms = client("cloudwatch", endpoint).describe_alarms(AlarmNamePrefix=f"{stack}-cpu-")
    found += [f"alarm {a['AlarmName']}" for a in alarms["MetricAlarms"]]
    params = client("ssm", endpoint).get_parameters_by_path(Path=f"/{stack}/", Recursive=True)
    found += [f"ssm {p['Name']}" for p in params["Parameters"]]
    return found


@dataclass(frozen=True)
class KilledRun:
    output: str  # everything the run printed until it was killed
    killed_during: str  # the last task banner printed before the kill: where it really landed


def role_marker(role: str) -> str:
    """The banner that starts ``role`` proper: Ansible's check of its ``main`` argument spec.

    Survives any renaming of the role's tasks, and is not matched by the banners of the
    role's validation in preflight (``arg spec 'validate'``) or of ``tasks_from`` imports.
    Killed there, every role before it has finished and nothing of it has run."""
    return f"TASK [hastack.stack.{role} : Validating arguments against arg spec 'main'"


def run_killed_during(
    playbook: str,
    marker: str,
    *,
    extra_vars: dict[str, Any],
    delay: float = 0.0,
    timeout: float = 600,
) -> KilledRun:
    """Run ``playbook`` and SIGKILL it (and its module processes) ``delay`` seconds after the
    line containing ``marker`` appears: a pipeline cancelled, a laptop closed. The output is
    read during ``delay`` too, so the result says which task was really running when the kill
    landed (delays meant to land inside a wait can overshoot it as the roles get faster).
    Fails if the run ends before the marker or the kill (the test would prove nothing)."""
    import signal
    import time

    cmd = [str(BIN / "ansible-playbook"), playbook, "-i", "inventories/local"]
    cmd += ["-e", json.dumps(extra_vars)]
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "default", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    reached = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                reached.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not reached.is_set() and proc.poll() is None and time.monotonic() < deadline:
        reached.wait(0.05)
    if reached.is_set():
        time.sleep(delay)
    ended_first = proc.poll() is not None
    if not ended_first:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(timeout=30)
    output = "".join(seen)
    if not reached.is_set():
        raise AssertionError(f"{playbook} never reached {marker!r}:\n{output[-3000:]}")
    if ended_first:
        raise AssertionError(f"{playbook} ended before the kill, {delay}s after {marker!r}")
    banners = [line for line in seen if line.startswith("TASK [")]
    killed_during = banners[-1].split("]")[0] + "]" if banners else ""
    return KilledRun(output, killed_during)
