"""``hastack check --junit``: the XML validates against the JUnit schema CI readers use and
says what failed, where a CI system shows it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import xmlschema
from click.testing import CliRunner

from hastack import cli, junit
from hastack import runner as hastack_runner
from hastack.results import INVARIANTS_FAILED, CheckResult, DriftItem, FailedTask, Finding

CHECK_GATE_TASK = "Check every invariant holds"  # as check's audit names it

XSD = xmlschema.XMLSchema(Path(__file__).parents[1] / "data" / "junit-10.xsd")

BASE = CheckResult(
    command="check",
    env="local",
    stack="shop",
    status="failed",
    rc=2,
    ok=False,
    exit_code=2,
    message="stack shop: 2 of 3 invariants hold, 1 failed; 1 drift item(s).",
    changed=1,
    failed=1,
    failed_tasks=(
        FailedTask(CHECK_GATE_TASK, "localhost", "1 invariant failed", INVARIANTS_FAILED),
    ),
    last_task=CHECK_GATE_TASK,
    artifacts_dir="state/runs/x-check",
    elapsed_s=12.5,
    findings=(
        Finding("network.vpc-dns", "network", "VPC has DNS", True, "enableDnsSupport=true"),
        Finding(
            "network.private-subnets-route-to-nat",
            "network",
            "Private subnets route to a NAT",
            False,
            "rtb-1: 0.0.0.0/0 -> igw-1 <not a NAT> & \x1b[31mred\x1b[0m",
        ),
        Finding("security.no-ssh", "security", "No SSH", True, "sg-1: 8000 only"),
    ),
    drift=(
        DriftItem(
            "hastack.stack.launch_template : present | Create the app security group",
            "localhost",
            None,
            {"before": {"rules": []}, "after": {"rules": [22]}},
        ),
    ),
)


def _parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)  # noqa: S314 - the document hastack itself just wrote


def _suites(xml: str) -> dict[str, ET.Element]:
    return {s.get("name", ""): s for s in _parse(xml).iter("testsuite")}


def test_one_suite_per_category_and_drift_validates() -> None:
    xml = junit.to_xml(BASE, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    XSD.validate(xml)
    root = _parse(xml)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "2", "0")
    suites = _suites(xml)
    assert list(suites) == ["network", "security", "drift"]
    network = suites["network"]
    assert (network.get("tests"), network.get("failures")) == ("2", "1")
    assert network.get("timestamp") == "2026-01-02T03:04:05"
    cases = {c.get("name"): c for c in network.iter("testcase")}
    failing = cases["network.private-subnets-route-to-nat: Private subnets route to a NAT"]
    assert failing.get("classname") == "hastack.shop.network"
    failure = failing.find("failure")
    assert failure is not None
    assert failure.get("message") == "Private subnets route to a NAT"
    assert failure.text == "rtb-1: 0.0.0.0/0 -> igw-1 <not a NAT> & [31mred[0m"
    passing = cases["network.vpc-dns: VPC has DNS"]
    assert passing.find("failure") is None
    assert passing.findtext("system-out") == "enableDnsSupport=true"
    drift = suites["drift"]
    [case] = drift.iter("testcase")
    assert (
        case.get("name")
        == "hastack.stack.launch_template : present | Create the app security group"
    )
    assert "+    22" in (case.findtext("failure") or "")


def test_clean_check_has_an_empty_drift_suite_and_no_failures() -> None:
    clean = replace(
        BASE,
        status="successful",
        rc=0,
        ok=True,
        exit_code=0,
        failed_tasks=(),
        findings=tuple(replace(f, passed=True) for f in BASE.findings),
        drift=(),
    )
    xml = junit.to_xml(clean)
    XSD.validate(xml)
    root = _parse(xml)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "0", "0")
    assert _suites(xml)["drift"].get("tests") == "0"
    assert "run" not in _suites(xml)


def test_a_broken_check_is_an_error_not_green(tmp_path: Path) -> None:
    broken = replace(
        BASE,
        exit_code=1,
        failed_tasks=(FailedTask("Read the load balancers", "localhost", "AccessDenied\nmore"),),
        findings=(),
        drift=(),
        message="check of stack shop failed at `Read the load balancers`: AccessDenied",
    )
    path = junit.write(broken, tmp_path / "reports" / "check.xml")
    XSD.validate(str(path))
    run = _suites(path.read_text())["run"]
    assert run.get("errors") == "1"
    error = next(run.iter("error"))
    assert error.get("message") == "AccessDenied"
    assert error.text == "AccessDenied\nmore"


def test_xsd_rejects_what_ci_readers_would_not_take() -> None:
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        XSD.validate("<testsuites><testsuite name='x'/></testsuites>")  # no counts
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        XSD.validate(
            "<testsuites><testsuite name='x' tests='1' failures='0' errors='0'>"
            "<testcase name='a'/></testsuite></testsuites>"  # no classname
        )


def test_cli_check_writes_junit_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "project"
    (root / "inventories" / "local").mkdir(parents=True)
    (root / "inventories" / "local" / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n")
    (root / "check.yml").write_text("[]\n")
    (root / "site.yml").write_text("[]\n")
    monkeypatch.setenv("HASTACK_PROJECT_DIR", str(root))
    monkeypatch.setenv("HASTACK_STATE_DIR", str(tmp_path / "state"))
    findings = [
        {"id": "scaling.cpu-target", "category": "scaling", "title": "CPU target", "passed": False}
    ]
    stats = {
        "failures": {"localhost": 1},
        "artifact_data": {"hastack_check": {"stack": "s", "findings": findings}},
    }
    gate = {"task": CHECK_GATE_TASK, "host": "localhost"}
    gate["res"] = {"msg": "1 failed", "failed": True, "invariants_failed": True}

    changed = {"task": "present | Compare the group", "role": "asg", "host": "localhost"}
    changed["resolved_role"] = "hastack.stack.asg"  # as ansible-runner sends a collection role
    changed["res"] = {"changed": True, "msg": "max_size 7 -> 5"}

    def run(**kwargs: Any) -> Any:
        if kwargs["playbook"].endswith("check.yml"):  # the audit: one invariant fails
            kwargs["event_handler"]({"event": "runner_on_failed", "event_data": gate})
            kwargs["event_handler"]({"event": "playbook_on_stats", "event_data": stats})
            return SimpleNamespace(status="failed", rc=2)
        kwargs["event_handler"]({"event": "runner_on_ok", "event_data": changed})  # drift
        return SimpleNamespace(status="successful", rc=0)

    monkeypatch.setattr(hastack_runner.ansible_runner, "run", run)
    report = tmp_path / "out" / "check.xml"
    result = CliRunner().invoke(
        cli.cli, ["check", "--stack", "s", "--junit", str(report)], catch_exceptions=False
    )
    assert result.exit_code == cli.EXIT_DRIFT
    assert "FAIL scaling.cpu-target: CPU target" in result.stdout
    assert "hastack.stack.asg : present | Compare the group" in result.stdout
    assert "max_size 7 -> 5" in result.stdout
    XSD.validate(str(report))
    suites = _suites(report.read_text())
    assert suites["scaling"].get("failures") == "1"
    assert "max_size 7 -> 5" in (next(suites["drift"].iter("failure")).text or "")
