"""The typed Python API over ansible-runner: deploy, destroy, check, plan and outputs.

Everything the CLI can do is here first, so scripts and tests never have to shell out.
Runs work in a project (``hastack.project``: ``project=``, HASTACK_PROJECT_DIR, the cwd, the
checkout): its inventories, its ansible.cfg if any, and the collection's playbooks in place
(no copy); ansible-runner's per-run files go to ``<state_dir>/runs/<ident>/``.

Every run against a stack holds the stack's lock (``hastack.locking``): deploy and destroy
alone, check and plan shared with each other. ``outputs()`` reads a file and takes no lock.
This module decides what runs (inputs, playbooks, the lock); ``hastack.runner`` runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from hastack import config as _config
from hastack import emulator as _emulator
from hastack import project as _project
from hastack import runner as _runner
from hastack.errors import ExitCode, HastackError, RefusedError, SettingError
from hastack.events import EventHandler
from hastack.init import InitResult
from hastack.init import init as _init
from hastack.locking import LockHeld, LockHolder, StackLock
from hastack.redact import secret_values
from hastack.results import (
    CheckResult,
    DriftItem,
    FailedTask,
    Finding,
    OutputsResult,
    PlanResult,
    RunResult,
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
        str(Path(_runner.ansible_bin_dir()) / "ansible"),
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
        **_runner.ansible_env(project, _project.state_dir(project)),
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
    outcomes: list[_runner.Outcome] = []
    lock = StackLock(state, env, name, command, shared=shared)
    with lock, _runner.cancel_on_signals() as sigs:
        for index, (path, (_, cmdline)) in enumerate(zip(playbooks, runs, strict=True)):
            if sigs():
                break  # interrupted between runs: the next one does not start
            suffix = command if index == 0 else f"{command}-drift"
            collector = _runner.Collector(on_event, lock, secret_values())
            outcome = _runner.play(
                suffix, path, inventory, cmdline, variables, project, state, collector, sigs
            )
            outcomes.append(outcome)
            if outcome.status == "canceled":
                break
        interrupted = sigs() > 0
    return _runner.result(command, env, name, outcomes, interrupted)
