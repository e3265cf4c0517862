"""Where Ansible's time goes: seconds per module run against seconds per AWS call.

Starts its own emulator, runs bench/module_cost.yml (each loop item is one module run) and
makes the same AWS calls with boto3, then prints milliseconds per call for each. Run as
``python -m bench.module_cost [--count N]``; docs/PERFORMANCE.md quotes its output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from bench.hastack_bench import ROOT
from hastack import emulator as hastack_emulator


def _seconds(duration: dict[str, str]) -> float:
    start, end = (dt.datetime.fromisoformat(duration[k].rstrip("Z")) for k in ("start", "end"))
    return (end - start).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="module runs per task")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hastack-module-cost-") as tmp:
        emu = hastack_emulator.ensure(Path(tmp))
        try:
            env = {
                **os.environ,
                **hastack_emulator.DUMMY_CREDENTIALS,
                "AWS_ENDPOINT_URL": emu.endpoint,
                "AWS_DEFAULT_REGION": "us-east-1",
                "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            }
            session = boto3.session.Session(
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy key
            )
            sts = session.client("sts", endpoint_url=emu.endpoint)
            ec2 = session.client("ec2", endpoint_url=emu.endpoint)
            flt = [{"Name": "tag:hastack:stack", "Values": ["module-cost"]}]
            sts.get_caller_identity()  # warm the emulator's backends: not measured
            ec2.describe_vpcs(Filters=flt)
            cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "bench/module_cost.yml"]
            cmd += ["-i", "localhost,", "-e", f"module_cost_count={args.count}"]
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            start = proc.stdout.find("\n{\n")
            data, _ = json.JSONDecoder().raw_decode(proc.stdout[start + 1 if start >= 0 else 0 :])
            if proc.returncode != 0:
                print(proc.stdout[-3000:], proc.stderr[-2000:], file=sys.stderr)
                return 1
            rows = []
            for task in data["plays"][0]["tasks"]:
                secs = _seconds(task["task"]["duration"])
                rows.append((task["task"]["name"], secs / args.count))
            for name, call in (
                ("boto3 sts.get_caller_identity", sts.get_caller_identity),
                ("boto3 ec2.describe_vpcs", lambda: ec2.describe_vpcs(Filters=flt)),
            ):
                begin = time.monotonic()
                for _ in range(args.count):
                    call()
                rows.append((name, (time.monotonic() - begin) / args.count))
        finally:
            hastack_emulator.stop(Path(tmp))
    print(f"{args.count} runs each; load average {os.getloadavg()[0]:.2f}")
    for name, secs in rows:
        print(f"{secs * 1000:8.0f} ms per call  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
