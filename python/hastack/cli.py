"""The ``hastack`` command: a thin click layer over ``hastack.api``.

Progress goes to stderr, the result to stdout (text or ``--format json``), so
``hastack deploy --format json | jq`` works while the progress scrolls. The exit status is
the result's ``exit_code`` (``hastack.errors.ExitCode``); docs/CLI.md has the table.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from hastack import api, junit
from hastack.emulator import Emulator, EmulatorError
from hastack.errors import ExitCode
from hastack.events import ProgressPrinter, diff_text
from hastack.locking import LockHeld, describe_holders

EXIT_OK = int(ExitCode.OK)
EXIT_FAILED = int(ExitCode.FAILED)
EXIT_DRIFT = int(ExitCode.DRIFT)
EXIT_USAGE = int(ExitCode.USAGE)
EXIT_REFUSED = int(ExitCode.REFUSED)
EXIT_INTERRUPTED = int(ExitCode.INTERRUPTED)

# Which flag sets each API setting, so a refusal names what the user typed.
_FLAGS = {
    "env": "--env",
    "stack": "--stack",
    "extra_vars": "--var",
    "project": "--project",
    "directory": "DIR",
}
# Lines of a drift item's diff shown in text output; JSON and JUnit carry all of it.
_DIFF_LINES = 20


class _Group(click.Group):
    """click exits 2 on usage errors; hastack keeps 2 for drift, so usage errors exit 3."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"hastack: error: {message}", err=True)
    sys.exit(code)


def _parse_vars(
    _ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for value in values:
        try:
            key, val = api.parse_var(value)
        except api.SettingError as exc:
            raise click.BadParameter(str(exc), param=param) from exc
        parsed[key] = val
    return parsed


_PROJECT = click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Project folder (default: HASTACK_PROJECT_DIR, else the current folder if it has "
    "inventories/, else the checkout).",
)

_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Result on stdout as a summary or as JSON (python/hastack/schemas/result.schema.json).",
)


def _stack_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every stack command shares."""
    options = [
        click.option(
            "--env",
            default="local",
            show_default=True,
            help="Environment: a folder under inventories/.",
        ),
        click.option(
            "--stack", default=None, help="Stack name (default: the inventory's stack_name)."
        ),
        click.option(
            "--var",
            "variables",
            multiple=True,
            metavar="KEY=VALUE",
            callback=_parse_vars,
            help="Override an Ansible variable; VALUE is YAML (3, true, [a, b]). Repeatable.",
        ),
        _FORMAT,
        _PROJECT,
    ]
    for option in reversed(options):
        func = option(func)
    return func


# -- printing results ----------------------------------------------------------------------


def _print_error(command: str, exc: Exception, code: int, fmt: str, **where: Any) -> NoReturn:
    if fmt == "json":
        kind = {EXIT_REFUSED: "refused", EXIT_INTERRUPTED: "interrupted"}.get(code, "error")
        error: dict[str, Any] = {"kind": kind, "message": str(exc)}
        if isinstance(exc, LockHeld):
            error["holders"] = describe_holders(exc.holders)
        doc = {"command": command, **where, "ok": False, "exit_code": code, "error": error}
        click.echo(json.dumps(doc, indent=2))
    _fail(str(exc), code)


def _print_run(result: api.RunResult) -> None:
    click.echo(
        f"{result.command} {result.env} stack {result.stack}: {result.status} in "
        f"{result.elapsed_s:.1f}s (changed {result.changed}, failed {result.failed}, "
        f"rc {result.rc}, exit {result.exit_code})"
    )
    click.echo(f"  {result.message}")
    for task in result.failed_tasks:
        click.echo(f"  failed: {task.task} [{task.host}]: {task.message}")
    if isinstance(result, api.CheckResult):
        for finding in result.findings:
            mark = "ok  " if finding.passed else "FAIL"
            click.echo(f"  {mark} {finding.id}: {finding.title}")
            if not finding.passed and finding.evidence:
                click.echo(f"         {finding.evidence}")
    if isinstance(result, (api.CheckResult, api.PlanResult)) and result.drift:
        click.echo("drift:" if result.command == "check" else "would change:")
        for item in result.drift:
            click.echo(f"  {item.label()}")
            if item.message:
                click.echo(f"      {item.message}")
            lines = diff_text(item.diff).splitlines()
            for line in lines[:_DIFF_LINES]:
                click.echo(f"      {line}")
            if len(lines) > _DIFF_LINES:
                click.echo(f"      ... {len(lines) - _DIFF_LINES} more lines (--format json)")
    if result.outputs:
        click.echo("outputs:")
        _print_mapping(result.outputs)
    click.echo(f"  artifacts: {result.artifacts_dir}")
    if isinstance(result, api.CheckResult) and result.drift_artifacts_dir:
        click.echo(f"  drift artifacts: {result.drift_artifacts_dir}")


def _print_mapping(data: Any) -> None:
    for key, value in sorted(data.items()):
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        click.echo(f"  {key}: {shown}")


def _run(
    command: str,
    action: Callable[..., api.RunResult],
    env: str,
    stack: str | None,
    variables: dict[str, Any],
    fmt: str,
    project: Path | None,
    after: Callable[[api.RunResult], None] | None = None,
) -> NoReturn:
    progress = ProgressPrinter(sys.stderr)
    try:
        result = action(env, stack, variables, on_event=progress, project=project)
    except api.SettingError as exc:
        if exc.setting in _FLAGS:
            raise click.BadParameter(str(exc), param_hint=f"'{_FLAGS[exc.setting]}'") from exc
        _print_error(command, exc, EXIT_USAGE, fmt, env=env, stack=stack)  # the environment's
    except api.HastackError as exc:
        _print_error(command, exc, int(exc.exit_code), fmt, env=env, stack=stack)
    except EmulatorError as exc:
        _print_error(command, exc, EXIT_FAILED, fmt, env=env, stack=stack)
    except KeyboardInterrupt:  # before the run started: nothing ran, nothing to cancel
        _print_error(
            command,
            RuntimeError(f"{command} interrupted before the run started; nothing was changed"),
            EXIT_INTERRUPTED,
            fmt,
            env=env,
            stack=stack,
        )
    finally:
        progress.close()
    if after is not None:
        after(result)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _print_run(result)
    if result.exit_code == EXIT_INTERRUPTED or (result.exit_code and fmt == "json"):
        click.echo(f"hastack: {result.message}", err=True)  # also where people look while waiting
    sys.exit(result.exit_code)


# -- commands ------------------------------------------------------------------------------


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hastack")
def cli() -> None:
    """Stand up, check and tear down a highly available Django web tier on AWS (or the local
    emulator). Progress goes to stderr, the result to stdout.

    \b
    Exit codes (docs/CLI.md):
      0    success; check/plan: every invariant holds, nothing drifted
      1    a task failed, or hastack hit an error
      2    check: an invariant failed or the stack drifted; plan: a deploy would change things
      3    bad usage: unknown option, --env, malformed --var, or a setting, endpoint or
           credential that fails validation; nothing reached AWS
      4    refused: another run holds the stack's lock, or destroy met deletion protection
      130  interrupted (Ctrl-C or SIGTERM); the message says what state the stack may be in
    """


@cli.command()
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), default=".", metavar="[DIR]"
)
@click.option("--force", is_flag=True, help="Overwrite files the project already has.")
@_FORMAT
def init(directory: Path, force: bool, fmt: str) -> None:
    """Write a starter project into DIR (default: here): inventories local, dev and prod,
    the shared settings in group_vars/all, a README. Refuses (exit 4) to overwrite a file
    unless --force."""
    try:
        result = api.init(directory, force=force)
    except api.SettingError as exc:
        _print_error("init", exc, EXIT_USAGE, fmt, project=str(directory))
    except api.HastackError as exc:
        _print_error("init", exc, int(exc.exit_code), fmt, project=str(directory))
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"hastack project written to {result.project}:")
        for rel in result.written:
            click.echo(f"  {rel}")
        click.echo("next: hastack deploy --env local   (in that folder, or --project DIR)")
    sys.exit(EXIT_OK)


@cli.command()
@_stack_options
def deploy(
    env: str, stack: str | None, variables: dict[str, Any], fmt: str, project: Path | None
) -> None:
    """Create or update the stack (site.yml)."""
    _run("deploy", api.deploy, env, stack, variables, fmt, project)


@cli.command()
@_stack_options
def destroy(
    env: str, stack: str | None, variables: dict[str, Any], fmt: str, project: Path | None
) -> None:
    """Delete every resource tagged with the stack's name (destroy.yml).

    A load balancer with deletion protection is refused (exit 4) unless
    --var alb_confirm_delete_protected=true.
    """
    _run("destroy", api.destroy, env, stack, variables, fmt, project)


@cli.command()
@_stack_options
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also write the findings and drift as JUnit XML for CI (whenever the check ran).",
)
def check(
    env: str,
    stack: str | None,
    variables: dict[str, Any],
    fmt: str,
    project: Path | None,
    junit_file: Path | None,
) -> None:
    """Audit the live stack (check.yml), then its drift (site.yml in check mode).

    Read-only. Exits 0 when every invariant holds and nothing drifted, 2 when an invariant
    failed or something drifted.
    """

    def write_junit(result: api.RunResult) -> None:
        if junit_file is not None and isinstance(result, api.CheckResult):
            junit.write(result, junit_file)
            click.echo(f"hastack: JUnit report written to {junit_file}", err=True)

    _run("check", api.check, env, stack, variables, fmt, project, after=write_junit)


@cli.command()
@_stack_options
def plan(
    env: str, stack: str | None, variables: dict[str, Any], fmt: str, project: Path | None
) -> None:
    """Show what a deploy would change (site.yml --check --diff); changes nothing.

    Exits 0 when a deploy would change nothing, 2 when it would.
    """
    _run("plan", api.plan, env, stack, variables, fmt, project)


@cli.command()
@_stack_options
def outputs(
    env: str, stack: str | None, variables: dict[str, Any], fmt: str, project: Path | None
) -> None:
    """Show the outputs the stack's last deploy wrote (no AWS call, no lock)."""
    try:
        result = api.outputs(env, stack, variables, project=project)
    except api.SettingError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{_FLAGS[exc.setting]}'") from exc
    except api.HastackError as exc:
        _print_error("outputs", exc, int(exc.exit_code), fmt, env=env, stack=stack)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"outputs of stack {result.stack} ({result.env}), written {result.updated_at}:")
        _print_mapping(result.outputs)
    sys.exit(result.exit_code)


@cli.group()
def emulator() -> None:
    """The embedded AWS emulator (moto) the local environment uses."""


def _print_emulator(emu: Emulator | None, fmt: str, **extra: Any) -> None:
    if fmt == "json":
        data = {"running": emu is not None, **(vars(emu) if emu else {}), **extra}
        click.echo(json.dumps(data))
    elif emu is None:
        click.echo("emulator: not running")
    else:
        click.echo(f"emulator: running at {emu.endpoint} (pid {emu.pid}, log {emu.log})")


@emulator.command("start")
@_FORMAT
@_PROJECT
def emulator_start(fmt: str, project: Path | None) -> None:
    """Start the emulator, or report the one already running."""
    try:
        emu = api.emulator_start(project=project)
    except EmulatorError as exc:
        _fail(str(exc))
    except api.SettingError as exc:
        _fail(str(exc), EXIT_USAGE)
    _print_emulator(emu, fmt, started=emu.started)


@emulator.command("status")
@_FORMAT
@_PROJECT
def emulator_status(fmt: str, project: Path | None) -> None:
    """Report the emulator; exits 1 when it is not running."""
    try:
        emu = api.emulator_status(project=project)
    except api.SettingError as exc:
        _fail(str(exc), EXIT_USAGE)
    _print_emulator(emu, fmt)
    sys.exit(EXIT_OK if emu else EXIT_FAILED)


@emulator.command("stop")
@_FORMAT
@_PROJECT
def emulator_stop(fmt: str, project: Path | None) -> None:
    """Stop the emulator; everything it held is gone."""
    try:
        stopped = api.emulator_stop(project=project)
    except api.SettingError as exc:
        _fail(str(exc), EXIT_USAGE)
    if fmt == "json":
        click.echo(json.dumps({"stopped": stopped}))
    else:
        click.echo("emulator: stopped" if stopped else "emulator: was not running")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hastack")
