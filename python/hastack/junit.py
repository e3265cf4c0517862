"""``hastack check --junit FILE``: a check result as JUnit XML, which CI systems display.

The shape is the common Ant/Jenkins one (``tests/data/junit-10.xsd`` validates it): one
``<testsuite>`` per finding category, one ``<testcase>`` per finding, failures carrying the
evidence; a ``drift`` suite with a failed testcase per drift item; and, when the check run
itself broke, a ``run`` suite with an ``<error>`` per failed task, so a broken check never
shows as green.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from hastack.errors import ExitCode
from hastack.events import diff_text
from hastack.results import INVARIANTS_FAILED, CheckResult

__all__ = ["to_xml", "write"]

# XML 1.0 forbids most control characters (ANSI colour codes from Ansible, for one).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


class _Suite:
    def __init__(self, name: str, timestamp: str, hostname: str) -> None:
        self.element = ET.Element("testsuite", name=name, timestamp=timestamp, hostname=hostname)
        self.tests = self.failures = self.errors = 0

    def case(self, classname: str, name: str, *, output: str = "") -> ET.Element:
        self.tests += 1
        case = ET.SubElement(self.element, "testcase", classname=classname, name=_text(name))
        case.set("time", "0")
        if output:
            ET.SubElement(case, "system-out").text = _text(output)
        return case

    def fail(self, case: ET.Element, tag: str, message: str, kind: str, text: str) -> None:
        if tag == "failure":
            self.failures += 1
        else:
            self.errors += 1
        bad = ET.Element(tag, message=_text(message), type=kind)
        bad.text = _text(text)
        case.insert(0, bad)  # before system-out, as the schema orders them

    def close(self, suite_id: int) -> ET.Element:
        for key, value in (
            ("tests", self.tests),
            ("failures", self.failures),
            ("errors", self.errors),
            ("skipped", 0),
            ("time", "0"),
            ("id", suite_id),
            ("package", "hastack"),
        ):
            self.element.set(key, str(value))
        return self.element


def _suites(result: CheckResult, timestamp: str, hostname: str) -> Iterable[_Suite]:
    prefix = f"hastack.{result.stack}"
    categories: dict[str, _Suite] = {}
    for finding in result.findings:
        suite = categories.setdefault(
            finding.category, _Suite(finding.category, timestamp, hostname)
        )
        name = f"{finding.id}: {finding.title}"
        case = suite.case(f"{prefix}.{finding.category}", name, output=finding.evidence)
        if not finding.passed:
            suite.fail(case, "failure", finding.title, "invariant", finding.evidence)
    yield from categories.values()

    drift = _Suite("drift", timestamp, hostname)
    for item in result.drift:
        case = drift.case(f"{prefix}.drift", item.label())
        detail = "\n".join(filter(None, [item.message, diff_text(item.diff)]))
        detail = detail or "(no diff: the module reports the change only)"
        drift.fail(case, "failure", f"{item.label()} would change the stack", "drift", detail)
    yield drift

    errors = [t for t in result.failed_tasks if t.outcome != INVARIANTS_FAILED]
    if result.exit_code == ExitCode.FAILED or errors:
        run = _Suite("run", timestamp, hostname)
        for task in errors or ():
            case = run.case(f"{prefix}.run", f"{task.task} [{task.host}]")
            first_line = task.message.splitlines()[0] if task.message else ""
            run.fail(case, "error", first_line, "error", task.message)
        if not errors:
            case = run.case(f"{prefix}.run", "check.yml")
            run.fail(case, "error", result.message, "error", result.message)
        yield run


def to_xml(result: CheckResult, *, now: datetime | None = None) -> str:
    """The JUnit document for ``result`` (UTF-8 text with an XML declaration)."""
    timestamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", name=f"hastack check {result.env}/{result.stack}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for index, suite in enumerate(_suites(result, timestamp, socket.gethostname())):
        root.append(suite.close(index))
        totals["tests"] += suite.tests
        totals["failures"] += suite.failures
        totals["errors"] += suite.errors
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{result.elapsed_s:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(result: CheckResult, path: Path | str) -> Path:
    """Write the JUnit document to ``path`` (its folder is created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(to_xml(result), encoding="utf-8")
    return target
