"""ansible-runner glue: one ansible-playbook run, its events, its cancel, and its result.

``hastack.api`` decides what to run (inputs, the stack's lock); this module runs it:
a fresh private data dir per run under ``<state>/runs/``, an event collector that redacts
secrets and gathers what the result needs, Ctrl-C/SIGTERM turned into a clean stop of
ansible-playbook and its workers, and the ``RunResult`` built from what the runs reported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner

from hastack import project as _project
from hastack.errors import ExitCode, HastackError
from hastack.events import (
    CANCEL_EVENT,
    Event,
    EventHandler,
    changed_item,
    error_lines,
    failure_message,
    failure_outcome,
    is_counted_failure,
    task_label,
)
from hastack.locking import StackLock
from hastack.redact import redact, scrub_command_artifact, scrub_run_dir
from hastack.results import (
    CheckResult,
    DriftItem,
    FailedTask,
    Finding,
    PlanResult,
    RunResult,
    decide_exit_code,
    message,
)

# ansible-runner polls its cancel callback this often (seconds); its default, 5, is slow for ^C.
_CANCEL_POLL_S = 0.5
# After Ctrl-C, how long ansible-playbook gets to stop its workers before they are killed.
_CANCEL_GRACE_S = 15.0


def ansible_bin_dir() -> str:
    """The folder of the ansible-playbook that belongs to this Python (the venv's, not the OS's).

    ansible-runner spawns plain ``ansible-playbook`` through PATH (its ``binary`` option would
    drop the playbook argument), so we put this folder first on the child's PATH.
    """
    here = Path(sys.executable).parent
    if (here / "ansible-playbook").exists():
        return str(here)
    found = shutil.which("ansible-playbook")
    if not found:
        raise HastackError(
            f"ansible-playbook not found next to {sys.executable} or on PATH; "
            "install hastack with its dependencies (pip install -e .)"
        )
    return str(Path(found).parent)


def ansible_env(project: Path, state: Path) -> dict[str, str]:
    return {
        **_project.ansible_env(project),
        "HASTACK_STATE_DIR": str(state),  # the playbooks' emulator and outputs use the same dir
        "PATH": os.pathsep.join(filter(None, [ansible_bin_dir(), os.environ.get("PATH")])),
    }


@contextlib.contextmanager
def cancel_on_signals() -> Iterator[Callable[[], int]]:
    """Count Ctrl-C/SIGTERM instead of dying, then restore the caller's handlers.

    ansible-runner's default installs handlers for good; a library should not.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: len(received)
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda n, _f: received.append(n))
    try:
        yield lambda: len(received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Canceller:
    """ansible-runner's cancel callback, polled every ``_CANCEL_POLL_S`` while the run goes on.

    ansible-runner cancels by SIGKILLing ansible-playbook's process group, but ansible-core's
    workers ``setsid()`` into groups of their own: they, and the AWS call they are making,
    would run on unsupervised. So the first signal goes to ansible-playbook as SIGINT, which it
    forwards to its workers before stopping ("User interrupted execution"). Only if it is still
    running ``grace_s`` later, or on a second Ctrl-C, are ansible-playbook, its workers and their
    children killed outright.
    """

    def __init__(self, signals: Callable[[], int], collector: Collector, grace_s: float) -> None:
        self.signals = signals
        self.collector = collector
        self.grace_s = grace_s
        self.asked_at: float | None = None

    @property
    def requested(self) -> bool:
        return self.asked_at is not None

    def __call__(self) -> bool:
        count = self.signals()
        if not count:
            return False
        pid = self.collector.ansible_pid
        if self.asked_at is None:
            self.asked_at = time.monotonic()
            self.collector({"event": CANCEL_EVENT, "event_data": {}})
            # No playbook yet (or gone): ansible-runner's kill is all there is to do.
            return pid is None or not _signal(pid, signal.SIGINT)
        if count > 1 or time.monotonic() - self.asked_at > self.grace_s:
            if pid is not None:
                for worker in _children(pid):
                    with contextlib.suppress(OSError):
                        os.killpg(worker, signal.SIGKILL)  # workers lead their own groups
            return True
        return False


def _signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
    except OSError:
        return False
    return True


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc; elsewhere none are found)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


class Collector:
    """Gathers what the result needs from the event stream while forwarding every event."""

    def __init__(
        self,
        forward: EventHandler | None,
        lock: StackLock | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.forward = forward
        self.lock = lock
        self.secrets = secrets
        self.failures: list[FailedTask] = []
        self.changes: list[DriftItem] = []
        self.stats: Mapping[str, Any] | None = None
        self.errors: list[str] = []
        self.last_task: str | None = None
        self.ansible_pid: int | None = None

    def __call__(self, event: Event) -> bool:
        if self.secrets and isinstance(event, dict):
            # In place: ansible-runner writes job_events/ from this very dict after we return.
            for key in ("event_data", "stdout"):
                if key in event:
                    event[key] = redact(event[key], self.secrets)
        kind = event.get("event")
        data = event.get("event_data") or {}
        if self.ansible_pid is None and isinstance(event.get("pid"), int):
            self.ansible_pid = event["pid"]
            if self.lock is not None:
                self.lock.record_ansible_pid(self.ansible_pid)
        if kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
            self.last_task = task_label(event)
        if is_counted_failure(event):
            host = str(data.get("host", "?"))
            outcome = failure_outcome(event)
            self.failures.append(
                FailedTask(task_label(event), host, failure_message(event), outcome)
            )
        elif kind == "playbook_on_stats":
            self.stats = data
        elif change := changed_item(event):
            item, diff, msg = change
            host = str(data.get("host", "?"))
            self.changes.append(DriftItem(task_label(event), host, item, diff, msg))
        self.errors.extend(error_lines(event))
        if self.forward is not None:
            self.forward(event)
        return True  # keep the event in artifacts/job_events

    def total(self, *keys: str) -> int:
        stats = self.stats or {}
        return sum(sum((stats.get(k) or {}).values()) for k in keys)

    def failed_tasks(self) -> tuple[FailedTask, ...]:
        """Drop failures a ``rescue`` recovered: only hosts the final stats count as failed."""
        if self.stats is None:
            return tuple(self.failures)
        bad = set(self.stats.get("failures") or {}) | set(self.stats.get("dark") or {})
        return tuple(f for f in self.failures if f.host in bad)

    def published(self, key: str) -> Any:
        """What the playbook handed over with ``set_stats`` (per_host: false) under ``key``."""
        return ((self.stats or {}).get("artifact_data") or {}).get(key)


@dataclass(frozen=True)
class Outcome:
    """One ansible-playbook run, as _run saw it."""

    status: str
    rc: int
    collector: Collector
    run_dir: Path
    elapsed: float

    def failed_tasks(self) -> tuple[FailedTask, ...]:
        failed = self.collector.failed_tasks()
        if failed or self.rc == 0 or self.status == "canceled":
            return failed
        # Ansible stopped before any task ran (syntax error, missing role): surface why.
        why = self.collector.errors[-1] if self.collector.errors else f"exited with rc {self.rc}"
        return (FailedTask("(ansible-playbook)", "localhost", why),)


def play(
    label: str,
    playbook: Path,
    inventory: Path,
    cmdline: str | None,
    variables: dict[str, Any],
    project: Path,
    state: Path,
    collector: Collector,
    signals: Callable[[], int],
) -> Outcome:
    ident = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{label}"
    run_dir = state / "runs" / ident
    run_dir.mkdir(parents=True, exist_ok=False)
    canceller = _Canceller(signals, collector, _CANCEL_GRACE_S)
    started = time.monotonic()

    def scrub_once_written(status: Mapping[str, Any], **_: Any) -> None:
        # 'running' comes right after ansible-runner wrote `command`, before the child starts.
        if status.get("status") == "running":
            scrub_command_artifact(run_dir)

    try:
        runner = ansible_runner.run(
            private_data_dir=str(run_dir),  # fresh per run: no stale env/ files are read
            artifact_dir=str(run_dir.parent),
            ident=ident,
            project_dir=str(project),  # used in place as the cwd; never copied
            playbook=str(playbook),
            inventory=str(inventory),
            cmdline=cmdline,
            envvars=ansible_env(project, state),
            extravars=variables,
            suppress_env_files=True,  # extravars go on the command line, not into env/
            quiet=True,  # our stdout is for the result; ansible's output is in run_dir
            settings={"pexpect_timeout": _CANCEL_POLL_S},
            event_handler=collector,
            status_handler=scrub_once_written,
            cancel_callback=canceller,
        )
    except Exception as exc:  # ansible-runner raises plain exceptions for setup problems
        raise HastackError(f"the {label} run broke off ({run_dir}): {exc}") from exc
    finally:
        scrub_run_dir(run_dir, collector.secrets)
    return Outcome(
        # Cancelled by us even when ansible-playbook stopped itself on our SIGINT (rc 99).
        status="canceled" if canceller.requested else str(runner.status),
        rc=int(runner.rc) if runner.rc is not None else -1,
        collector=collector,
        run_dir=run_dir,
        elapsed=round(time.monotonic() - started, 3),
    )


def _merged_status(outcomes: list[Outcome]) -> str:
    statuses = [o.status for o in outcomes]
    for worst in ("canceled", "timeout", "failed"):
        if worst in statuses:
            return worst
    return "successful" if statuses else "canceled"  # none ran: interrupted before the first


def result(
    command: str, env: str, stack: str, outcomes: list[Outcome], interrupted: bool
) -> RunResult:
    # A signal between check's two runs cancels the second: the check as a whole was cancelled.
    status = "canceled" if interrupted else _merged_status(outcomes)
    rc = next((o.rc for o in outcomes if o.rc != 0), outcomes[-1].rc if outcomes else -1)
    failed_tasks = tuple(t for o in outcomes for t in o.failed_tasks())
    last = outcomes[-1].collector if outcomes else None
    findings: tuple[Finding, ...] = ()
    drift: tuple[DriftItem, ...] = ()
    extra: dict[str, Any] = {}
    result_cls: type[RunResult] = RunResult
    if command == "check":
        published = (outcomes[0].collector.published("hastack_check") if outcomes else {}) or {}
        findings = tuple(Finding.from_stats(f) for f in published.get("findings") or ())
        drift = tuple(outcomes[1].collector.changes) if len(outcomes) > 1 else ()
        extra = {"findings": findings, "drift": drift}
        if len(outcomes) > 1:
            extra["drift_artifacts_dir"] = str(outcomes[1].run_dir)
        result_cls = CheckResult
    elif command == "plan":
        drift = tuple(outcomes[0].collector.changes) if outcomes else ()
        extra = {"drift": drift}
        result_cls = PlanResult
    exit_code = decide_exit_code(command, status, rc, failed_tasks, findings, drift)
    last_task = last.last_task if last else None
    outputs = last.published("hastack_outputs") if last and command == "deploy" else None
    return result_cls(
        command=command,
        env=env,
        stack=stack,
        status=status,
        rc=rc,
        ok=exit_code == ExitCode.OK,
        exit_code=int(exit_code),
        message=message(command, stack, exit_code, last_task, failed_tasks, findings, drift),
        changed=sum(o.collector.total("changed") for o in outcomes),
        failed=sum(o.collector.total("failures", "dark") for o in outcomes),
        failed_tasks=failed_tasks,
        last_task=last_task,
        artifacts_dir=str(outcomes[0].run_dir) if outcomes else "",
        elapsed_s=round(sum(o.elapsed for o in outcomes), 3),
        outputs=dict(outputs or {}),
        **extra,
    )
