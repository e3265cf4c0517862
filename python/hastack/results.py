"""What the API returns: frozen dataclasses whose ``to_dict()`` is the CLI's ``--format json``.

``schemas/result.schema.json`` describes that JSON; ``tests/unit/test_api_results.py`` validates it.
The exit code is decided here, once, from what the run reported, so the API, the JSON
``exit_code`` and the process exit status always agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

from hastack.errors import ExitCode

__all__ = [
    "CheckResult",
    "DriftItem",
    "FailedTask",
    "Finding",
    "OutputsResult",
    "PlanResult",
    "RunResult",
    "decide_exit_code",
    "json_schema",
]

# What a failed task's result says it means (events.failure_outcome); None is an error.
#   refused            the run would not act without an explicit setting: exit 4
#   setting_error      a setting is wrong, caught before anything changed: exit 3
#   invariants_failed  check's audit gate: the findings are the verdict (exit 2), not an error
REFUSED, SETTING_ERROR, INVARIANTS_FAILED = "refused", "setting_error", "invariants_failed"


@dataclass(frozen=True)
class FailedTask:
    """One task that failed (or whose host was unreachable), with Ansible's ``msg``."""

    task: str  # "role : task" as ansible-playbook prints it
    host: str
    message: str
    outcome: str | None = None  # refused, setting_error, invariants_failed; None: an error

    @property
    def name(self) -> str:
        """The task's own name, without its role."""
        return self.task.split(" : ", 1)[-1]


@dataclass(frozen=True)
class Finding:
    """One invariant check.yml evaluated against the live stack."""

    id: str  # e.g. network.private-subnets-route-to-nat
    category: str  # network, edge, compute, security, scaling, probe
    title: str
    passed: bool
    evidence: str

    @classmethod
    def from_stats(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            id=str(data.get("id", "?")),
            category=str(data.get("category") or "uncategorised"),
            title=str(data.get("title") or data.get("id", "")),
            passed=bool(data.get("passed")),
            evidence=str(data.get("evidence") or ""),
        )


@dataclass(frozen=True)
class DriftItem:
    """A task that would change something in check mode: the live stack differs from the code."""

    task: str  # "role : task"
    host: str
    item: str | None = None  # the loop item's label, when the task loops
    diff: Any = None  # the module's --diff (before/after), when it gives one
    message: str | None = None  # the task's msg, when it explains the change ("max_size 7 -> 5")

    def label(self) -> str:
        return f"{self.task} [{self.item}]" if self.item is not None else self.task


@dataclass(frozen=True)
class RunResult:
    """The outcome of one playbook run (deploy, destroy; check and plan extend it)."""

    command: str  # deploy, destroy, check, plan
    env: str
    stack: str  # the stack name the run used (--stack, or the inventory's stack_name)
    status: str  # ansible-runner's: successful, failed, timeout, canceled
    rc: int  # ansible-playbook's return code (254 when cancelled)
    ok: bool  # exit_code == 0
    exit_code: int  # the hastack process exit status this result means (ExitCode)
    message: str  # one line for people: what happened and, if it went wrong, what to do
    changed: int  # tasks that changed something, summed over hosts
    failed: int  # failed plus unreachable tasks, summed over hosts
    failed_tasks: tuple[FailedTask, ...]
    last_task: str | None  # the task running when the run ended (where an interrupt hit)
    artifacts_dir: str
    elapsed_s: float
    # The stack outputs a deploy publishes (set_stats in playbooks/tasks/outputs.yml); else {}.
    outputs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outputs"] = dict(self.outputs)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass(frozen=True)
class CheckResult(RunResult):
    """``check``: the invariants of the live stack and its drift from the code."""

    findings: tuple[Finding, ...] = ()
    drift: tuple[DriftItem, ...] = ()
    # check runs twice: the audit (artifacts_dir), then site.yml in check mode (this one)
    drift_artifacts_dir: str | None = None

    @property
    def failed_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.passed)


@dataclass(frozen=True)
class PlanResult(RunResult):
    """``plan``: what a deploy would change (site.yml in check mode)."""

    drift: tuple[DriftItem, ...] = ()


@dataclass(frozen=True)
class OutputsResult:
    """``outputs``: what the stack's last deploy wrote; read from disk, no AWS call."""

    command: str  # always "outputs"
    env: str
    stack: str
    ok: bool
    exit_code: int
    path: str  # <state>/outputs/<stack>.json
    updated_at: str  # when the deploy wrote it (ISO 8601, UTC)
    outputs: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outputs": dict(self.outputs)}


def decide_exit_code(
    command: str,
    status: str,
    rc: int,
    failed_tasks: Sequence[FailedTask],
    findings: Sequence[Finding] = (),
    drift: Sequence[DriftItem] = (),
) -> ExitCode:
    """The one mapping from a run's outcome to hastack's exit code (docs/CLI.md)."""
    if status == "canceled":
        return ExitCode.INTERRUPTED
    if any(t.outcome == REFUSED for t in failed_tasks):
        return ExitCode.REFUSED
    succeeded = status == "successful" and rc == 0
    if not succeeded and failed_tasks and all(t.outcome == SETTING_ERROR for t in failed_tasks):
        return ExitCode.USAGE  # a setting failed validation: nothing reached AWS
    if command not in ("check", "plan"):
        return ExitCode.OK if succeeded else ExitCode.FAILED
    if command == "check" and not findings:
        return ExitCode.FAILED  # check.yml published no findings: the audit did not run
    if not succeeded:
        # A check whose only failure is the gate ran fine and found failed invariants.
        gate_only = bool(failed_tasks) and all(t.outcome == INVARIANTS_FAILED for t in failed_tasks)
        if not (command == "check" and status == "failed" and gate_only):
            return ExitCode.FAILED
        if all(f.passed for f in findings):
            return ExitCode.FAILED  # the gate failed on passing findings: check.yml is wrong
    if drift or any(not f.passed for f in findings):
        return ExitCode.DRIFT
    return ExitCode.OK


_AFTER_INTERRUPT = {
    "deploy": "the stack may be partly deployed: run `hastack deploy` again to converge it, "
    "or `hastack destroy` to remove it",
    "destroy": "the stack may be partly destroyed: run `hastack destroy` again to finish "
    "(or `hastack deploy` to rebuild it)",
    "check": "check only reads, so nothing was changed; run it again",
    "plan": "plan only reads, so nothing was changed; run it again",
}


def message(
    command: str,
    stack: str,
    exit_code: ExitCode,
    last_task: str | None,
    failed_tasks: tuple[FailedTask, ...],
    findings: tuple[Finding, ...] = (),
    drift: tuple[DriftItem, ...] = (),
) -> str:
    """One line for people: what happened and, if it went wrong, what to do next."""
    if exit_code == ExitCode.INTERRUPTED:
        where = f"during `{last_task}`" if last_task else "before the first task"
        return f"{command} of stack {stack} interrupted {where}; {_AFTER_INTERRUPT[command]}."
    if exit_code == ExitCode.REFUSED:
        refusal = next(t for t in failed_tasks if t.outcome == REFUSED)
        return f"{command} of stack {stack} refused: {refusal.message}"
    if exit_code == ExitCode.USAGE:
        first = failed_tasks[0]
        return f"{command} of stack {stack} refused a setting at `{first.task}`: {first.message}"
    if exit_code == ExitCode.FAILED:
        if command == "check" and not findings and not failed_tasks:
            return f"check of stack {stack} published no findings (hastack_check); see artifacts."
        first = failed_tasks[0] if failed_tasks else None
        why = f" at `{first.task}`: {first.message}" if first else ""
        return f"{command} of stack {stack} failed{why}"
    if command == "check":
        bad = sum(not f.passed for f in findings)
        return (
            f"stack {stack}: {len(findings) - bad} of {len(findings)} invariants hold, "
            f"{bad} failed; {len(drift)} drift item(s)."
        )
    if command == "plan":
        if not drift:
            return f"stack {stack} matches the code: a deploy would change nothing."
        return f"a deploy of stack {stack} would change {len(drift)} thing(s)."
    done = {"deploy": "deployed", "destroy": "destroyed"}.get(command, command)
    return f"stack {stack} {done}."


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``to_dict()`` (and of the CLI's ``--format json``), shipped as data."""
    text = resources.files("hastack").joinpath("schemas/result.schema.json").read_text()
    return dict(json.loads(text))
