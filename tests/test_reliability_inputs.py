"""The catalogue of bad inputs: every one fails before any mutating AWS call, naming the setting
and what would be valid. Figures for docs/RELIABILITY.md ("inputs tried and rejected").

Each case runs the entry a user would: a playbook (site.yml, or destroy.yml/check.yml for their
own settings) with ``-e``, or the ``hastack`` CLI. Every AWS call is counted: AWS_ENDPOINT_URL
points at an endpoint that records each request (and answers 500), or, where the zones must be
read from AWS, at a recorder in front of the emulator; where the case is the endpoint or the
credentials themselves, HTTP(S)_PROXY points at the recorder so a call to real AWS would be
counted too. Only Describe-type reads are allowed, and only where validation must read AWS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import record
from tests.support import ROOT, counting_endpoint, counting_env, recording_proxy, run_playbook

READ_ONLY = ("Describe", "List", "Get")
LONG_NAME = "shop-" + "a" * 24  # 29 characters: "<stack>-alb" would pass AWS's 32


@dataclass(frozen=True)
class Case:
    id: str
    setting: str  # the message names it
    valid: tuple[str, ...]  # ... and says what would be valid (each must appear)
    entry: str = "site.yml"  # a playbook, or "cli"
    extra_vars: dict[str, Any] = field(default_factory=dict)
    args: tuple[str, ...] = ()  # cli: the hastack arguments
    env: dict[str, str] = field(default_factory=dict)  # cli: the environment's AWS settings
    exit_code: int = 3  # cli: the documented code
    reads: tuple[str, ...] = ()  # AWS operations validation may make (zones come from AWS)
    max_seconds: float | None = None  # a bound on the time to the rejection


def _site(case_id: str, setting: str, valid: tuple[str, ...], **extra: Any) -> Case:
    return Case(case_id, setting, valid, "site.yml", extra)


def _play(entry: str, case_id: str, setting: str, valid: tuple[str, ...], **extra: Any) -> Case:
    return Case(case_id, setting, valid, entry, extra)


def _cli(case_id: str, setting: str, valid: tuple[str, ...], *args: str, **kw: Any) -> Case:
    return Case(case_id, setting, valid, "cli", args=args, **kw)


# preflight proves the target answers (GetCallerIdentity); the vpc role's one network call
# reads the zones and the stack's VPC together, then refuses the zones before any change.
ZONES = ("GetCallerIdentity", "DescribeAvailabilityZones", "DescribeVpcs")
NO_CREDS: dict[str, str] = {}  # AWS_* all unset, HOME without ~/.aws

CASES: list[Case] = [
    # -- vpc ---------------------------------------------------------------------------------
    _site("vpc-cidr-malformed", "vpc_cidr_block", ("IPv4 CIDR",), vpc_cidr_block="10.0.0/16"),
    _site("vpc-cidr-15", "vpc_cidr_block", ("/16", "/28"), vpc_cidr_block="10.0.0.0/15"),
    _site("vpc-cidr-29", "vpc_cidr_block", ("/16", "/28"), vpc_cidr_block="10.0.0.0/29"),
    _site(
        "vpc-subnet-outside",
        "vpc_public_subnet_cidrs[0]",
        ("outside vpc_cidr_block 10.0.0.0/16",),
        vpc_public_subnet_cidrs=["192.168.1.0/24", "10.0.2.0/24"],
    ),
    _site(
        "vpc-subnets-overlap",
        "vpc_private_subnet_cidrs[0]",
        ("overlaps vpc_public_subnet_cidrs[0]",),
        vpc_private_subnet_cidrs=["10.0.1.0/25", "10.0.12.0/24"],
    ),
    _site(
        "vpc-subnets-dict-not-list",
        "vpc_public_subnet_cidrs",
        ("list",),
        vpc_public_subnet_cidrs={"a": "10.0.1.0/24"},
    ),
    _site("vpc-az-count-string", "vpc_az_count", ("int",), vpc_az_count="two"),
    _site("vpc-az-count-one", "vpc_az_count", ("at least 2",), vpc_az_count=1),
    Case(
        "vpc-zones-more-than-region",
        "vpc_az_count",
        ("us-east-1a", "us-east-1f"),
        extra_vars={"vpc_az_count": 7},
        reads=ZONES,
    ),
    Case(
        "vpc-zone-unknown",
        "vpc_azs",
        ("available zones: us-east-1a",),
        extra_vars={"vpc_azs": ["us-east-1a", "us-east-1z"]},
        reads=ZONES,
    ),
    _site(
        "vpc-zone-other-region", "vpc_azs", ("us-east-1a",), vpc_azs=["eu-west-1a", "eu-west-1b"]
    ),
    _play(
        "destroy.yml",
        "vpc-delete-timeout-zero",
        "vpc_delete_timeout",
        ("1 or more",),
        vpc_delete_timeout=0,
    ),
    # -- nat ---------------------------------------------------------------------------------
    _site("nat-mode-unknown", "nat_mode", ("per_az", "single", "none"), nat_mode="cheap"),
    _site("nat-wait-timeout-negative", "nat_wait_timeout", ("positive",), nat_wait_timeout=-5),
    _play(
        "destroy.yml",
        "nat-wait-timeout-zero-destroy",
        "nat_wait_timeout",
        ("1 or more",),
        nat_wait_timeout=0,
    ),
    # -- alb ---------------------------------------------------------------------------------
    _site("alb-name-33-chars", "alb_name", ("1 to 32",), alb_name="a" * 33),
    _site(
        "alb-tg-name-underscore",
        "alb_target_group_name",
        ("letters, digits and hyphens",),
        alb_target_group_name="shop_tg",
    ),
    _site(
        "alb-health-path-relative",
        "alb_health_check_path",
        ("start with '/'",),
        alb_health_check_path="healthz",
    ),
    _site(
        "alb-health-matcher-word",
        "alb_health_check_matcher",
        ("200-299",),
        alb_health_check_matcher="OK",
    ),
    _site("alb-health-port-70000", "app_port", ("1 to 65535",), app_port=70000),
    _site(
        "alb-health-interval-string",
        "alb_health_check_interval",
        ("int",),
        alb_health_check_interval="often",
    ),
    _play(
        "destroy.yml",
        "alb-wait-delay-over-timeout",
        "alb_wait_delay",
        ("no longer than its timeout",),
        alb_wait_delay=900,
    ),
    # -- launch_template ---------------------------------------------------------------------
    _site(
        "lt-instance-type-bogus",
        "launch_template_instance_type",
        ("t3.small",),
        launch_template_instance_type="large",
    ),
    _site("app-image-spaces", "app_image", ("ghcr.io/acme/shop:1.4.2",), app_image="my app:1"),
    _site(
        "app-image-uppercase",
        "app_image",
        ("lowercase repository",),
        app_image="ghcr.io/Acme/Shop:1",
    ),
    _site("app-image-empty", "app_image", ("[registry/]repository[:tag]",), app_image=""),
    _site(
        "app-image-url",
        "app_image",
        ("[registry/]repository[:tag]",),
        app_image="http://ghcr.io/acme/shop:1",
    ),
    _site(
        "lt-root-volume-zero",
        "launch_template_root_volume_size",
        ("8 to 16384",),
        launch_template_root_volume_size=0,
    ),
    _site("app-secrets-list", "app_secrets", ("dict",), app_secrets=["DJANGO_SECRET_KEY"]),
    # -- asg ---------------------------------------------------------------------------------
    _site(
        "asg-min-above-max", "asg_min_size", ("raise asg_max_size",), asg_min_size=6, asg_max_size=5
    ),
    _site(
        "asg-desired-above-max",
        "asg_desired_capacity",
        ("between asg_min_size",),
        asg_desired_capacity=9,
    ),
    _site(
        "asg-max-zero",
        "asg_max_size",
        ("1 or more",),
        asg_min_size=0,
        asg_desired_capacity=0,
        asg_max_size=0,
    ),
    _site(
        "asg-min-negative", "asg_min_size", ("0 or more",), asg_min_size=-1, asg_desired_capacity=0
    ),
    _site("asg-max-string", "asg_max_size", ("int",), asg_max_size="lots"),
    _play(
        "destroy.yml",
        "asg-wait-timeout-zero-destroy",
        "asg_wait_timeout",
        ("1 or more",),
        asg_wait_timeout=0,
    ),
    # -- scaling -----------------------------------------------------------------------------
    _site("scaling-cpu-target-150", "scaling_cpu_target", ("at most 100",), scaling_cpu_target=150),
    _site("scaling-cpu-target-zero", "scaling_cpu_target", ("above 0",), scaling_cpu_target=0),
    _site(
        "scaling-warmup-negative",
        "scaling_instance_warmup",
        ("0 or more",),
        scaling_instance_warmup=-1,
    ),
    # -- preflight: stack settings -----------------------------------------------------------
    _site("stack-name-over-alb-limit", "stack_name", ("2 to 28",), stack_name=LONG_NAME),
    _site(
        "stack-name-invalid-chars",
        "stack_name",
        ("lowercase letters, digits",),
        stack_name="Shop_Prod!",
    ),
    _site(
        "stack-environment-unknown",
        "stack_environment",
        ("lowercase letters",),
        stack_environment="Prod Env",
    ),
    _site(
        "stack-tag-reserved-prefix",
        "stack_extra_tags",
        ("not starting with 'aws:'",),
        stack_extra_tags={"aws:owner": "me"},
    ),
    _site(
        "stack-tag-key-too-long",
        "stack_extra_tags",
        ("up to 128",),
        stack_extra_tags={"k" * 129: "v"},
    ),
    _site("region-not-in-aws", "aws_region", ("us-east-1, us-east-2",), aws_region="us-east-9"),
    _play(
        "destroy.yml", "region-malformed-destroy", "aws_region", ("eu-west-1",), aws_region="mars-1"
    ),
    # -- check.yml settings ------------------------------------------------------------------
    _play(
        "check.yml",
        "check-probe-retries-zero",
        "check_probe_retries",
        ("positive",),
        check_probe_retries=0,
    ),
    _play(
        "check.yml",
        "check-probe-delay-negative",
        "check_probe_delay",
        ("positive",),
        check_probe_delay=-10,
    ),
    _play(
        "check.yml",
        "check-probe-url-ftp",
        "check_probe_url",
        ("http://",),
        check_probe_url="ftp://shop.example.com",
    ),
    _play(
        "check.yml",
        "check-az-spread-maybe",
        "check_require_az_spread",
        ("true or false",),
        check_require_az_spread="maybe",
    ),
    # -- the wrapper / CLI -------------------------------------------------------------------
    _cli("cli-env-unknown", "--env", ("dev", "local", "prod"), "deploy", "--env", "nope"),
    _cli("cli-var-malformed", "--var", ("KEY=VALUE",), "deploy", "--var", "vpc_az_count"),
    _cli("cli-stack-invalid", "stack_name", ("2 to 28",), "deploy", "--stack", "Shop_Prod"),
    _cli(
        "cli-region-unknown",
        "aws_region",
        ("us-east-1",),
        "deploy",
        "--var",
        "aws_region=us-east-9",
    ),
    _cli(
        "cli-dev-no-credentials",
        "AWS_PROFILE",
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        "deploy",
        "--env",
        "dev",
        env=NO_CREDS,
    ),
    _cli(
        "cli-dev-profile-unknown",
        "AWS_PROFILE",
        ("aws configure --profile",),
        "destroy",
        "--env",
        "dev",
        env={"AWS_PROFILE": "nope"},
    ),
    _cli(
        "cli-dev-access-key-malformed",
        "AWS_ACCESS_KEY_ID",
        ("AKIA",),
        "deploy",
        "--env",
        "dev",
        env={"AWS_ACCESS_KEY_ID": "not-a-key", "AWS_SECRET_ACCESS_KEY": "x" * 40},
    ),
    _cli(
        "cli-dev-secret-missing",
        "AWS_SECRET_ACCESS_KEY",
        ("set both",),
        "plan",
        "--env",
        "dev",
        env={"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"},
    ),
    _cli(
        "cli-endpoint-not-a-url",
        "AWS_ENDPOINT_URL",
        ("http://127.0.0.1:5000",),
        "deploy",
        env={"AWS_ENDPOINT_URL": "not-a-url"},
    ),
    _cli(
        "cli-endpoint-ftp",
        "AWS_ENDPOINT_URL",
        ("http:// or https://",),
        "check",
        env={"AWS_ENDPOINT_URL": "ftp://x"},
    ),
    _cli(
        "cli-endpoint-unreachable",
        "AWS_ENDPOINT_URL",
        ("nothing answers", "unset"),
        "deploy",
        env={"AWS_ENDPOINT_URL": "CLOSED"},
        exit_code=1,
        max_seconds=30,
    ),
]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def _operation(call: str) -> str:
    body = call.split(" ", 2)[-1]
    for pair in body.split("&"):
        if pair.startswith("Action="):
            return pair[len("Action=") :]
    return call.split(" ", 1)[0]  # CONNECT host:443 (a call to real AWS through the proxy)


def _run_playbook_case(case: Case, emulator_endpoint: str | None) -> tuple[int, str, list[str]]:
    extra = {"stack_name": "inputs", **case.extra_vars}
    if case.reads:
        assert emulator_endpoint
        with recording_proxy(emulator_endpoint) as (endpoint, recorded):
            run = run_playbook(case.entry, extra_vars=extra, env=counting_env(endpoint))
        calls = [op for _, op in recorded]
    else:
        with counting_endpoint() as (endpoint, raw):
            run = run_playbook(case.entry, extra_vars=extra, env=counting_env(endpoint))
        calls = [_operation(c) for c in raw]
    if not case.reads:  # else only the zone lookup and its check, before "Create the VPC"
        assert not any("present |" in t for t in run.ran_tasks()), run.ran_tasks()
    message = " ".join(msg for _, msg in run.failures()) or run.stderr[-2000:]
    return run.rc, message, calls


def _run_cli_case(case: Case, tmp_path: Path) -> tuple[int, str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    home = tmp_path / "home"  # no ~/.aws: the credential chain has only what the case sets
    home.mkdir()
    with counting_endpoint() as (endpoint, raw):
        env.update(
            HOME=str(home),
            HASTACK_STATE_DIR=str(tmp_path / "state"),
            PYTHONPATH=str(ROOT / "python"),
            # A call to real AWS (or the metadata service) would reach the counter instead.
            HTTPS_PROXY=endpoint,
            HTTP_PROXY=endpoint,
            NO_PROXY="",
        )
        env.update(case.env)
        if case.env.get("AWS_ENDPOINT_URL") == "CLOSED":
            env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{_closed_port()}"
        elif (
            "AWS_ENDPOINT_URL" not in case.env
            and case.env is not NO_CREDS
            and not any(k.startswith("AWS_") for k in case.env)
        ):
            env.update(counting_env(endpoint))  # the default local run: calls go to the counter
        proc = subprocess.run(
            [sys.executable, "-m", "hastack", *case.args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        calls = [_operation(c) for c in raw]
    return proc.returncode, proc.stderr + proc.stdout, calls


def _first_line(message: str, setting: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return next((line for line in lines if setting in line), lines[0] if lines else "")


@pytest.fixture
def zones_emulator(request: pytest.FixtureRequest) -> str | None:
    """The session emulator, started only for cases that must read zones from AWS."""
    case: Case = request.node.callspec.params["case"]
    return request.getfixturevalue("emulator") if case.reads else None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_rejected_before_any_mutating_call(
    case: Case, zones_emulator: str | None, tmp_path: Path
) -> None:
    started = time.monotonic()
    if case.entry == "cli":
        rc, message, calls = _run_cli_case(case, tmp_path)
        assert rc == case.exit_code, message[-3000:]
    else:
        rc, message, calls = _run_playbook_case(case, zones_emulator)
        assert rc != 0, message[-3000:]
    elapsed = time.monotonic() - started
    if case.max_seconds is not None:
        assert elapsed < case.max_seconds, f"rejected only after {elapsed:.0f} s"
    assert case.setting in message, f"the message does not name {case.setting!r}: {message}"
    for valid in case.valid:
        assert valid in message, f"the message does not say {valid!r} is valid: {message}"
    mutating = [op for op in calls if not op.startswith(READ_ONLY)]
    assert mutating == [], f"mutating AWS calls before the rejection: {mutating}"
    assert set(calls) <= set(case.reads), f"AWS calls validation should not need: {calls}"
    record(
        "inputs",
        case.id,
        {
            "setting": case.setting,
            "entry": case.entry,
            "rejected": True,
            "exit_code": rc,
            "message": _first_line(message, case.setting)[:300],
            "aws_calls": len(calls),
            "read_calls": sorted(set(calls)),
            "mutating_calls": len(mutating),
            "seconds": round(elapsed, 1),
        },
    )


def test_catalogue_covers_every_role_and_the_wrapper() -> None:
    """At least 40 cases, with every role, the stack, check.yml and the CLI represented."""
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    prefixes = {c.id.split("-")[0] for c in CASES}
    for area in ("vpc", "nat", "alb", "lt", "app", "asg", "scaling", "stack", "check", "cli"):
        assert area in prefixes, area
    assert {c.entry for c in CASES} >= {"site.yml", "destroy.yml", "check.yml", "cli"}
