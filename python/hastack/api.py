"""The typed Python API over ansible-runner: deploy, destroy, check, plan and outputs.

Everything the CLI can do is here first, so scripts and tests never have to shell out.
Runs work in a project (``hastack.project``: ``project=``, HASTACK_PROJECT_DIR, the cwd, the
checkout): its inventories, its ansible.cfg if any, and the collection's playbooks in place
(no copy); ansible-runner's per-run files go to ``<state_dir>/runs/<ident>/``.

Every run against a stack holds the stack's lock (``hastack.locking``): deploy and destroy
alone, check and plan shared with each other. ``outputs()`` reads a file and takes no lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from hastack import config as _config
from hastack import emulator as _emulator
from hastack import project as _project
from hastack.errors import ExitCode, HastackError, RefusedError, SettingError
from hastack.events import (
    CANCEL_EVENT,
    Event,
    EventHandler,
    changed_item,
    error_lines,
    failure_message,
    is_counted_failure,
    task_label,
)
from hastack.init import InitResult
from hastack.init import init as _init
from hastack.locking import LockHeld, LockHolder, StackLock
from hastack.results import (
    REFUSAL_TASKS,
    CheckResult,
    DriftItem,
    FailedTask,
    Finding,
    OutputsResult,
    PlanResult,
    RunResult,
    decide_exit_code,
)

__all__ = [
    "CheckResult",
    "DriftItem",
    "ExitCode",
    "FailedTask",
    "Finding",
    "HastackError",
    "InitResult",
    "LockHeld",
    "LockHolder",
    "OutputsResult",
    "PlanResult",
    "RefusedError",
    "RunResult",
    "SettingError",
    "check",
    "deploy",
    "destroy",
    "emulator_start",
    "emulator_status",
    "emulator_stop",
    "init",
    "list_envs",
    "outputs",
    "parse_var",
    "plan",
    "resolve_stack",
]

# Environment variable names whose values never go into the run's `command` artifact.
_SECRET_ENV = re.compile(r"SECRET|TOKEN|PASSW|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|API_KEY", re.I)
# ... and whose values, wherever a playbook echoes them (a fact, a message), are replaced in
# events and artifacts. Shorter values are placeholders ("testing"), and replacing them would
# mangle unrelated text.
_SECRET_MIN_LEN = 8
_REDACTED = "<redacted>"
# ansible-runner polls its cancel callback this often (seconds); its default, 5, is slow for ^C.
_CANCEL_POLL_S = 0.5
# After Ctrl-C, how long ansible-playbook gets to stop its workers before they are killed.
_CANCEL_GRACE_S = 15.0


def list_envs(project: Path | str | None = None) -> list[str]:
    """The environments one can deploy to: the folders under the project's ``inventories/``."""
    root = _project.resolve(project) / "inventories"
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
    project: Path | str | None = None,
) -> RunResult:
    """Create or update the stack: ``site.yml`` against ``inventories/<env>``."""
    return _run("deploy", env, stack, extra_vars, on_event, state_dir, project)


def destroy(
    env: str = "local",
    stack: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    *,
    on_event: EventHandler | None = None,
    state_dir: Path | str | None = None,
    project: Path | str | None = None,
) -> RunResult:
    """Delete every resource tagged with the stack's name: ``destroy.yml``."""
    return _run("destroy", env, stack, extra_vars, on_event, state_dir, project)


def check(
    env: str = "local",
    stack: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    *,
    on_event: EventHandler | None = None,
    state_dir: Path | str | None = None,
    project: Path | str | None = None,
) -> CheckResult:
    """Audit the live stack (``check.yml``): its invariants, then its drift from the code.

    Read-only. ``exit_code`` is 0 when every invariant holds and nothing drifted, 2 otherwise.
    """
    result = _run("check", env, stack, extra_vars, on_event, state_dir, project)
    assert isinstance(result, CheckResult)
    return result


def plan(
    env: str = "local",
    stack: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    *,
    on_event: EventHandler | None = None,
    state_dir: Path | str | None = None,
    project: Path | str | None = None,
) -> PlanResult:
    """What a deploy would change: ``site.yml --check --diff``; each change is a drift item."""
    result = _run("plan", env, stack, extra_vars, on_event, state_dir, project)
    assert isinstance(result, PlanResult)
    return result


def outputs(
    env: str = "local",
    stack: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    *,
    state_dir: Path | str | None = None,
    project: Path | str | None = None,
) -> OutputsResult:
    """The outputs the stack's last deploy wrote (``<state>/outputs/<stack>.json``).

    No AWS call and no lock: it answers at once, offline, even while a deploy runs. Whether
    the live stack still matches is ``check()``'s question, not this one's.
    """
    root = _project.resolve(project)
    _check_env(root, env)
    name = resolve_stack(env, stack, extra_vars, project=root)
    state = _state_dir(state_dir, root)
    path = state / "outputs" / f"{name}.json"
    try:
        data = json.loads(path.read_text())
        updated = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        raise HastackError(
            f"stack {name} has no outputs in {path.parent}: it was never deployed from this "
            f"state dir (or was destroyed). Run `hastack deploy --env {env}` first."
        ) from None
    except (OSError, ValueError) as exc:
        raise HastackError(f"cannot read the outputs of stack {name} ({path}): {exc}") from exc
    return OutputsResult(
        command="outputs",
        env=env,
        stack=name,
        ok=True,
        exit_code=int(ExitCode.OK),
        path=str(path),
        updated_at=updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        outputs=data,
    )


def init(directory: Path | str = ".", *, force: bool = False) -> InitResult:
    """Write a starter project into ``directory``: inventories local, dev and prod, and the
    shared settings; refused (nothing written) if a file is there already, unless ``force``."""
    return _init(directory, force=force)


def emulator_start(
    state_dir: Path | None = None, *, project: Path | str | None = None
) -> _emulator.Emulator:
    """Start the embedded AWS emulator, or return the one already running."""
    return _emulator.ensure(_state_dir(state_dir, project))


def emulator_status(
    state_dir: Path | None = None, *, project: Path | str | None = None
) -> _emulator.Emulator | None:
    """The running emulator, or None."""
    return _emulator.status(_state_dir(state_dir, project))


def emulator_stop(state_dir: Path | None = None, *, project: Path | str | None = None) -> bool:
    """Stop the emulator (its in-memory AWS is lost); True if one was running."""
    return _emulator.stop(_state_dir(state_dir, project))


# -- inputs -------------------------------------------------------------------------------


def _check_env(project: Path, env: str) -> Path:
    envs = list_envs(project)
    if env not in envs:
        valid = ", ".join(envs) or f"none ({project / 'inventories'} has no folders)"
        raise SettingError(
            "env",
            f"unknown environment {env!r} (no inventories/{env}/); valid environments: {valid}",
        )
    return project / "inventories" / env


def _state_dir(state_dir: Path | str | None, project: Path | str | None = None) -> Path:
    if state_dir:
        return Path(state_dir).resolve()
    return _project.state_dir(_project.resolve(project))


def _resolve_inputs(
    project: Path, playbook: str, env: str, stack: str | None, extra_vars: Mapping[str, Any] | None
) -> tuple[Path, Path, dict[str, Any]]:
    """Refuse bad input before ansible-runner starts, so a typo costs no AWS calls."""
    inventory = _check_env(project, env)
    variables = dict(extra_vars or {})
    if stack is not None:
        if "stack_name" in variables and variables["stack_name"] != stack:
            raise SettingError(
                "stack", f"stack {stack!r} conflicts with stack_name={variables['stack_name']!r}"
            )
        variables["stack_name"] = stack
    playbook_path = _project.playbook(project, playbook)
    if not playbook_path.is_file():
        raise HastackError(f"playbook {playbook_path} not found; reinstall hastack")
    return playbook_path, inventory, variables


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


def _ansible_env(project: Path, state: Path) -> dict[str, str]:
    return {
        **_project.ansible_env(project),
        "HASTACK_STATE_DIR": str(state),  # the playbooks' emulator and outputs use the same dir
        "PATH": os.pathsep.join(filter(None, [_ansible_bin_dir(), os.environ.get("PATH")])),
    }


def resolve_stack(
    env: str,
    stack: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    *,
    project: Path | None = None,
) -> str:
    """The stack name a run would use: ``stack``, a ``stack_name`` extra var, or the inventory's.

    The inventory's value may be a template (``hastack-{{ stack_environment }}``) over other
    settings and extra vars, so Ansible itself evaluates it, with the same inventory, playbook
    folder and extra vars as the run (about a second). The lock and the outputs file are keyed
    by this name, so ``--stack hastack-local`` and the default share them.
    """
    if stack is not None:
        return stack
    given = (extra_vars or {}).get("stack_name")
    if isinstance(given, str) and "{{" not in given:
        return given
    project = _project.resolve(project)
    inventory = _check_env(project, env)
    cmd = [
        str(Path(_ansible_bin_dir()) / "ansible"),
        "all",
        "-i",
        str(inventory),
        "--playbook-dir",
        str(_project.playbook(project, "site").parent),  # its group_vars/, as in the run
        "-m",
        "ansible.builtin.debug",
        "-a",
        "var=stack_name",
        "-e",
        json.dumps(dict(extra_vars or {})),
    ]
    child_env = {
        **os.environ,
        **_ansible_env(project, _project.state_dir(project)),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "0",  # ad-hoc default: no timing lines around it
        "ANSIBLE_NOCOLOR": "1",
    }
    proc = subprocess.run(
        cmd, cwd=project, env=child_env, capture_output=True, text=True, check=False, timeout=120
    )
    _, sep, answer = proc.stdout.partition("=>")
    try:
        name = json.loads(answer)["stack_name"] if sep else None
    except (ValueError, KeyError, TypeError):
        name = None
    if proc.returncode != 0 or not isinstance(name, str):
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise HastackError(
            f"could not read stack_name from inventories/{env}: {' '.join(detail)}"
        ) from None
    if name == "VARIABLE IS NOT DEFINED!" or not name:
        raise SettingError("stack", f"inventories/{env} sets no stack_name; pass --stack NAME")
    return name


# -- running a playbook --------------------------------------------------------------------


@contextlib.contextmanager
def _cancel_on_signals() -> Iterator[Callable[[], int]]:
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

    def __init__(self, signals: Callable[[], int], collector: _Collector, grace_s: float) -> None:
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


class _Collector:
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
        self.setting_failures: set[FailedTask] = set()  # failed validation: bad input
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
                    event[key] = _redact(event[key], self.secrets)
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
            failed = FailedTask(task_label(event), host, failure_message(event))
            self.failures.append(failed)
            if _is_validation(data):
                self.setting_failures.add(failed)
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


# Where the tasks that validate settings live: every role's tasks/validate.yml (preflight
# includes them, and its own), argument specs, check.yml's own settings; and the target check
# (preflight's hastack.stack.aws_reach), whose failures on a setting say so.
_VALIDATION_PATHS = re.compile(r"/tasks/validate\.yml:\d+$")
_VALIDATION_TASKS = ("Validating arguments against arg spec", "Validate the check settings")


def _is_validation(data: Mapping[str, Any]) -> bool:
    """Whether a failed task's event comes from validating settings (before any AWS call)."""
    name = str(data.get("task") or "")
    if (data.get("res") or {}).get("setting_error") is True:
        return True
    return bool(_VALIDATION_PATHS.search(str(data.get("task_path") or ""))) or name.startswith(
        _VALIDATION_TASKS
    )


def _secret_values() -> tuple[str, ...]:
    """The values of this process's credential-like environment variables, longest first."""
    found = {v for k, v in os.environ.items() if _SECRET_ENV.search(k)}
    found = {v for v in found if len(v) >= _SECRET_MIN_LEN}
    return tuple(sorted(found, key=len, reverse=True))


def _redact(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` with every secret replaced, recursing into dicts and lists."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, _REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value


def _scrub_command_artifact(run_dir: Path) -> None:
    """ansible-runner saves the full environment in ``command``; keep credentials off disk."""
    path = run_dir / "command"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    env = data.get("env") or {}
    data["env"] = {k: (_REDACTED if _SECRET_ENV.search(k) else v) for k, v in env.items()}
    path.write_text(json.dumps(data))


def _scrub_run_dir(run_dir: Path, secrets: tuple[str, ...]) -> None:
    """Last line of defence: no file of the run keeps a credential's value (``stdout`` too)."""
    _scrub_command_artifact(run_dir)
    if not secrets:
        return
    needles = [s.encode() for s in secrets]
    for path in run_dir.rglob("*"):
        with contextlib.suppress(OSError):
            if not path.is_file():
                continue
            data = path.read_bytes()
            if any(n in data for n in needles):
                for needle in needles:
                    data = data.replace(needle, _REDACTED.encode())
                path.write_bytes(data)


# What each command runs: (playbook, ansible-playbook options) per run, and whether its lock
# is shared. check is two runs: the audit (check.yml), then drift (site.yml in check mode,
# as plan) -- docs/CHECK.md says why drift cannot be a play of check.yml.
_DRIFT_RUN = ("site", "--check --diff")
_COMMANDS: dict[str, tuple[tuple[tuple[str, str | None], ...], bool]] = {
    "deploy": ((("site", None),), False),
    "destroy": ((("destroy", None),), False),
    "check": ((("check", None), _DRIFT_RUN), True),
    "plan": ((_DRIFT_RUN,), True),
}


@dataclass(frozen=True)
class _Outcome:
    """One ansible-playbook run, as _run saw it."""

    status: str
    rc: int
    collector: _Collector
    run_dir: Path
    elapsed: float

    def failed_tasks(self) -> tuple[FailedTask, ...]:
        failed = self.collector.failed_tasks()
        if failed or self.rc == 0 or self.status == "canceled":
            return failed
        # Ansible stopped before any task ran (syntax error, missing role): surface why.
        why = self.collector.errors[-1] if self.collector.errors else f"exited with rc {self.rc}"
        return (FailedTask("(ansible-playbook)", "localhost", why),)


def _run(
    command: str,
    env: str,
    stack: str | None,
    extra_vars: Mapping[str, Any] | None,
    on_event: EventHandler | None,
    state_dir: Path | str | None,
    project_dir: Path | str | None = None,
) -> RunResult:
    """The one place playbooks run: inputs, the stack's lock, the run(s), the result."""
    runs, shared = _COMMANDS[command]
    project = _project.resolve(project_dir)
    playbooks = []
    variables: dict[str, Any] = {}
    for playbook, _ in runs:
        path, inventory, variables = _resolve_inputs(project, playbook, env, stack, extra_vars)
        playbooks.append(path)
    if endpoint := os.environ.get("AWS_ENDPOINT_URL"):
        _config.check_endpoint(endpoint)  # every run would go there: a bad one is refused now
    name = resolve_stack(env, stack, variables, project=project)
    variables["stack_name"] = name  # the run uses exactly the stack the lock is for
    state = _state_dir(state_dir, project)
    outcomes: list[_Outcome] = []
    with StackLock(state, env, name, command, shared=shared) as lock, _cancel_on_signals() as sigs:
        for index, (path, (_, cmdline)) in enumerate(zip(playbooks, runs, strict=True)):
            if sigs():
                break  # interrupted between runs: the next one does not start
            suffix = command if index == 0 else f"{command}-drift"
            collector = _Collector(on_event, lock, _secret_values())
            outcome = _play(
                suffix, path, inventory, cmdline, variables, project, state, collector, sigs
            )
            outcomes.append(outcome)
            if outcome.status == "canceled":
                break
        interrupted = sigs() > 0
    return _result(command, env, name, outcomes, interrupted)


def _play(
    label: str,
    playbook: Path,
    inventory: Path,
    cmdline: str | None,
    variables: dict[str, Any],
    project: Path,
    state: Path,
    collector: _Collector,
    signals: Callable[[], int],
) -> _Outcome:
    ident = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{label}"
    run_dir = state / "runs" / ident
    run_dir.mkdir(parents=True, exist_ok=False)
    canceller = _Canceller(signals, collector, _CANCEL_GRACE_S)
    started = time.monotonic()

    def scrub_once_written(status: Mapping[str, Any], **_: Any) -> None:
        # 'running' comes right after ansible-runner wrote `command`, before the child starts.
        if status.get("status") == "running":
            _scrub_command_artifact(run_dir)

    try:
        runner = ansible_runner.run(
            private_data_dir=str(run_dir),  # fresh per run: no stale env/ files are read
            artifact_dir=str(run_dir.parent),
            ident=ident,
            project_dir=str(project),  # used in place as the cwd; never copied
            playbook=str(playbook),
            inventory=str(inventory),
            cmdline=cmdline,
            envvars=_ansible_env(project, state),
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
        _scrub_run_dir(run_dir, collector.secrets)
    return _Outcome(
        # Cancelled by us even when ansible-playbook stopped itself on our SIGINT (rc 99).
        status="canceled" if canceller.requested else str(runner.status),
        rc=int(runner.rc) if runner.rc is not None else -1,
        collector=collector,
        run_dir=run_dir,
        elapsed=round(time.monotonic() - started, 3),
    )


def _merged_status(outcomes: list[_Outcome]) -> str:
    statuses = [o.status for o in outcomes]
    for worst in ("canceled", "timeout", "failed"):
        if worst in statuses:
            return worst
    return "successful" if statuses else "canceled"  # none ran: interrupted before the first


def _result(
    command: str, env: str, stack: str, outcomes: list[_Outcome], interrupted: bool
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
    setting_failures = set().union(*(o.collector.setting_failures for o in outcomes))
    if exit_code == ExitCode.FAILED and failed_tasks and set(failed_tasks) <= setting_failures:
        exit_code = ExitCode.USAGE  # a setting failed validation: nothing reached AWS
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
        message=_message(command, stack, exit_code, last_task, failed_tasks, findings, drift),
        changed=sum(o.collector.total("changed") for o in outcomes),
        failed=sum(o.collector.total("failures", "dark") for o in outcomes),
        failed_tasks=failed_tasks,
        last_task=last_task,
        artifacts_dir=str(outcomes[0].run_dir) if outcomes else "",
        elapsed_s=round(sum(o.elapsed for o in outcomes), 3),
        outputs=dict(outputs or {}),
        **extra,
    )


_AFTER_INTERRUPT = {
    "deploy": "the stack may be partly deployed: run `hastack deploy` again to converge it, "
    "or `hastack destroy` to remove it",
    "destroy": "the stack may be partly destroyed: run `hastack destroy` again to finish "
    "(or `hastack deploy` to rebuild it)",
    "check": "check only reads, so nothing was changed; run it again",
    "plan": "plan only reads, so nothing was changed; run it again",
}


def _message(
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
        refusal = next(t for t in failed_tasks if t.name in REFUSAL_TASKS)
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
