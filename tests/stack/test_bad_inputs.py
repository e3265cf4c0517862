"""The bad inputs of ``tests/bad_inputs.py``: every one fails before any mutating AWS call, naming
the setting and what would be valid, and says it is a setting error. Figures for
docs/RELIABILITY.md ("inputs tried and rejected").

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
from pathlib import Path

import pytest

from tests.bad_inputs import CASES, NO_CREDS, Case
from tests.reliability import record
from tests.support import ROOT, counting_endpoint, counting_env, recording_proxy, run_playbook

READ_ONLY = ("Describe", "List", "Get")


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
    # What the wrapper reads to exit 3: every failure says it is a setting error.
    for task, res in run.failed_results():
        assert res.get("setting_error") is True or res.get("argument_errors"), (task, res)
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
    """At least 150 cases, with every role, the stack, check.yml and the CLI represented."""
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    prefixes = {c.id.split("-")[0] for c in CASES}
    for area in ("vpc", "nat", "alb", "lt", "app", "asg", "scaling", "stack", "check", "cli"):
        assert area in prefixes, area
    assert {c.entry for c in CASES} >= {"site.yml", "destroy.yml", "check.yml", "cli"}
