"""The typed Python API over ansible-runner: ``deploy()`` and ``destroy()`` return a ``RunResult``.

Everything the CLI can do is here first, so scripts and tests never have to shell out.
Runs use the checkout's playbooks in place (no copy) with its ``ansible.cfg``; ansible-runner's
per-run files go to ``<state_dir>/runs/<ident>/`` so the repository stays clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from hastack import emulator as _emulator
from hastack.events import (
    Event,
    EventHandler,
    error_lines,
    failure_message,
    is_counted_failure,
    task_label,
)

__all__ = [
    "FailedTask",
    "HastackError",
    "RunResult",
    "SettingError",
    "deploy",
    "destroy",
    "emulator_start",
    "emulator_status",
    "emulator_stop",
    "list_envs",
    "parse_var",
]

# Environment variable names whose values never go into the run's `command` artifact.
_SECRET_ENV = re.compile(r"SECRET|TOKEN|PASSW|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|API_KEY", re.I)


class HastackError(Exception):
    """hastack could not do what was asked; the message says what to fix."""


class SettingError(HastackError):
    """A setting the caller passed is invalid; nothing was run. ``setting`` names it."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class FailedTask:
    """One task that failed (or whose host was unreachable), with Ansible's ``msg``."""

    task: str
    host: str
    message: str


@dataclass(frozen=True)
class RunResult:
    """The outcome of one playbook run; ``to_dict()`` is the CLI's ``--format json`` output."""

    command: str
    env: str
    stack: str | None  # the --stack override, None when the inventory's stack_name applied
    status: str  # ansible-runner's: successful, failed, timeout, canceled
    rc: int
    ok: bool
    changed: int  # tasks that changed something, summed over hosts
    failed: int  # failed plus unreachable tasks, summed over hosts
    failed_tasks: tuple[FailedTask, ...]
    artifacts_dir: str
    elapsed_s: float
    # The stack outputs a deploy publishes (set_stats in playbooks/tasks/outputs.yml); else {}.
    outputs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed_tasks"] = [asdict(t) for t in self.failed_tasks]
        data["outputs"] = dict(self.outputs)
        return data


def list_envs(project: Path | None = None) -> list[str]:
    """The environments one can deploy to: the folders under ``inventories/``."""
    root = (project or _emulator.project_dir()) / "inventories"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def parse_var(assignment: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` with VALUE as YAML, so ``vpc_az_count=3`` reaches Ansible as an int.

    An empty VALUE is the empty string (YAML would make it null, which nobody means).
    """
    key, sep, raw = assignment.partition("=")
    key = key.strip()
    if not sep:
        raise SettingError("extra_vars", f"expected KEY=VALUE, got {assignment!r}")
    if not key.isidentifier():
        raise SettingError("extra_vars", f"{key!r} is not a valid Ansible variable name")
    if raw == "":
        return key, ""
    try:
        return key, yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SettingError(
            "extra_vars",
            f"value of {key!r} is not valid YAML ({problem}); "
            f"to pass it as text, quote it inside: {key}='{raw}'",
        ) from exc


def deploy(
    env: str = "local",
    stack: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    *,
    on_event: EventHandler | None = None,
    state_dir: Path | str | None = None,
) -> RunResult:
    """Create or update the stack: ``site.yml`` against ``inventories/<env>``."""
    return _run("deploy", "site.yml", env, stack, extra_vars, on_event, state_dir)


def destroy(
    env: str = "local",
    stack: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    *,
    on_event: EventHandler | None = None,
    state_dir: Path | str | None = None,
) -> RunResult:
    """Delete every resource tagged with the stack's name: ``destroy.yml``."""
    return _run("destroy", "destroy.yml", env, stack, extra_vars, on_event, state_dir)


def emulator_start(state_dir: Path | None = None) -> _emulator.Emulator:
    """Start the embedded AWS emulator, or return the one already running."""
    return _emulator.ensure(state_dir)


def emulator_status(state_dir: Path | None = None) -> _emulator.Emulator | None:
    """The running emulator, or None."""
    return _emulator.status(state_dir)


def emulator_stop(state_dir: Path | None = None) -> bool:
    """Stop the emulator (its in-memory AWS is lost); True if one was running."""
    return _emulator.stop(state_dir)


def _resolve_inputs(
    project: Path, playbook: str, env: str, stack: str | None, extra_vars: Mapping[str, Any] | None
) -> tuple[Path, Path, dict[str, Any]]:
    """Refuse bad input before ansible-runner starts, so a typo costs no AWS calls."""
    envs = list_envs(project)
    if env not in envs:
        valid = ", ".join(envs) or f"none ({project / 'inventories'} has no folders)"
        raise SettingError(
            "env",
            f"unknown environment {env!r} (no inventories/{env}/); valid environments: {valid}",
        )
    variables = dict(extra_vars or {})
    if stack is not None:
        if "stack_name" in variables and variables["stack_name"] != stack:
            raise SettingError(
                "stack", f"stack {stack!r} conflicts with stack_name={variables['stack_name']!r}"
            )
        variables["stack_name"] = stack
    playbook_path = project / playbook
    if not playbook_path.is_file():
        raise HastackError(f"playbook {playbook_path} not found; is HASTACK_PROJECT_DIR right?")
    return playbook_path, project / "inventories" / env, variables


def _ansible_bin_dir() -> str:
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


@contextlib.contextmanager
def _cancel_on_signals() -> Iterator[Callable[[], bool]]:
    """Turn Ctrl-C/SIGTERM into a clean runner cancel, then restore the caller's handlers.

    ansible-runner's default installs handlers for good; a library should not.
    """
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag.is_set
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda _n, _f: flag.set())
    try:
        yield flag.is_set
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Collector:
    """Gathers what RunResult needs from the event stream while forwarding every event."""

    def __init__(self, forward: EventHandler | None) -> None:
        self.forward = forward
        self.failures: list[FailedTask] = []
        self.stats: Mapping[str, Any] | None = None
        self.errors: list[str] = []

    def __call__(self, event: Event) -> bool:
        if is_counted_failure(event):
            host = str((event.get("event_data") or {}).get("host", "?"))
            self.failures.append(FailedTask(task_label(event), host, failure_message(event)))
        elif event.get("event") == "playbook_on_stats":
            self.stats = event.get("event_data") or {}
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


def _scrub_command_artifact(run_dir: Path) -> None:
    """ansible-runner saves the full environment in ``command``; keep credentials off disk."""
    path = run_dir / "command"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    env = data.get("env") or {}
    data["env"] = {k: ("<redacted>" if _SECRET_ENV.search(k) else v) for k, v in env.items()}
    path.write_text(json.dumps(data))


def _run(
    command: str,
    playbook: str,
    env: str,
    stack: str | None,
    extra_vars: Mapping[str, Any] | None,
    on_event: EventHandler | None,
    state_dir: Path | str | None,
) -> RunResult:
    """The one place a playbook runs; check/plan and locks wrap this."""
    project = _emulator.project_dir()
    playbook_path, inventory, variables = _resolve_inputs(project, playbook, env, stack, extra_vars)
    state = Path(state_dir).resolve() if state_dir else _emulator.default_state_dir()
    envvars = {
        "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
        "HASTACK_STATE_DIR": str(state),  # the playbooks' emulator and outputs use the same dir
        "PATH": os.pathsep.join(filter(None, [_ansible_bin_dir(), os.environ.get("PATH")])),
    }
    ident = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{command}"
    run_dir = state / "runs" / ident
    run_dir.mkdir(parents=True, exist_ok=False)
    collector = _Collector(on_event)
    started = time.monotonic()
    try:
        with _cancel_on_signals() as cancelled:
            runner = ansible_runner.run(
                private_data_dir=str(run_dir),  # fresh per run: no stale env/ files are read
                artifact_dir=str(run_dir.parent),
                ident=ident,
                project_dir=str(project),  # used in place as the cwd; never copied
                playbook=str(playbook_path),
                inventory=str(inventory),
                envvars=envvars,
                extravars=variables,
                suppress_env_files=True,  # extravars go on the command line, not into env/
                quiet=True,  # our stdout is for the result; ansible's output is in run_dir
                event_handler=collector,
                cancel_callback=cancelled,
            )
    except Exception as exc:  # ansible-runner raises plain exceptions for setup problems
        raise HastackError(f"the {command} run broke off ({run_dir}): {exc}") from exc
    finally:
        _scrub_command_artifact(run_dir)
    elapsed = round(time.monotonic() - started, 3)
    status = str(runner.status)
    rc = int(runner.rc) if runner.rc is not None else -1
    failed_tasks = collector.failed_tasks()
    if not failed_tasks and rc != 0 and collector.errors:
        # Ansible stopped before any task ran (syntax error, missing role): surface why.
        failed_tasks = (FailedTask("(ansible-playbook)", "localhost", collector.errors[-1]),)
    return RunResult(
        command=command,
        env=env,
        stack=stack,
        status=status,
        rc=rc,
        ok=status == "successful" and rc == 0,
        changed=collector.total("changed"),
        failed=collector.total("failures", "dark"),
        failed_tasks=failed_tasks,
        artifacts_dir=str(run_dir),
        elapsed_s=elapsed,
        outputs=dict(
            ((collector.stats or {}).get("artifact_data") or {}).get("hastack_outputs") or {}
        ),
    )
