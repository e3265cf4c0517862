"""The ``hastack`` command: a thin click layer over ``hastack.api``.

Progress goes to stderr, the result to stdout (text or ``--format json``), so
``hastack deploy --format json | jq`` works while the log scrolls.

Exit codes:
  0  success
  1  the run failed, or hastack hit an error (emulator, ansible-runner)
  2  reserved: drift found / checks failed (``hastack check``, later)
  3  bad usage or refused input (unknown option or --env, malformed --var); nothing ran
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import click

from hastack import api
from hastack.emulator import Emulator, EmulatorError
from hastack.events import ProgressPrinter

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_DRIFT = 2
EXIT_USAGE = 3

# Which flag sets each API setting, so a refusal names what the user typed.
_FLAGS = {"env": "--env", "stack": "--stack", "extra_vars": "--var"}


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


def _fail(message: str) -> NoReturn:
    click.echo(f"hastack: error: {message}", err=True)
    sys.exit(EXIT_FAILED)


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


_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Result on stdout as a summary or as JSON.",
)


def _run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options deploy and destroy share (and check will)."""
    options = [
        click.option(
            "--env",
            default="local",
            show_default=True,
            help="Environment: a folder under inventories/.",
        ),
        click.option("--stack", default=None, help="Stack name (overrides stack_name)."),
        click.option(
            "--var",
            "variables",
            multiple=True,
            metavar="KEY=VALUE",
            callback=_parse_vars,
            help="Override an Ansible variable; VALUE is YAML (3, true, [a, b]). Repeatable.",
        ),
        _FORMAT,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _print_result(result: api.RunResult, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    stack = f" stack {result.stack}" if result.stack else ""
    click.echo(
        f"{result.command} {result.env}{stack}: {result.status} in {result.elapsed_s:.1f}s "
        f"(changed {result.changed}, failed {result.failed}, rc {result.rc})"
    )
    for task in result.failed_tasks:
        click.echo(f"  failed: {task.task} [{task.host}]: {task.message}")
    if result.outputs:
        click.echo("outputs:")
        for key, value in sorted(result.outputs.items()):
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            click.echo(f"  {key}: {shown}")
    click.echo(f"  artifacts: {result.artifacts_dir}")


def _run(
    action: Callable[..., api.RunResult],
    env: str,
    stack: str | None,
    variables: dict[str, Any],
    fmt: str,
) -> None:
    try:
        result = action(env, stack, variables, on_event=ProgressPrinter(sys.stderr))
    except api.SettingError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{_FLAGS[exc.setting]}'") from exc
    except (api.HastackError, EmulatorError) as exc:
        _fail(str(exc))
    _print_result(result, fmt)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hastack")
def cli() -> None:
    """Stand up and tear down a highly available Django web tier on AWS (or the local emulator).

    Exit codes: 0 success, 1 failed run or error, 2 drift (reserved), 3 bad usage.
    """


@cli.command()
@_run_options
def deploy(env: str, stack: str | None, variables: dict[str, Any], fmt: str) -> None:
    """Create or update the stack (site.yml)."""
    _run(api.deploy, env, stack, variables, fmt)


@cli.command()
@_run_options
def destroy(env: str, stack: str | None, variables: dict[str, Any], fmt: str) -> None:
    """Delete every resource tagged with the stack's name (destroy.yml)."""
    _run(api.destroy, env, stack, variables, fmt)


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
def emulator_start(fmt: str) -> None:
    """Start the emulator, or report the one already running."""
    try:
        emu = api.emulator_start()
    except EmulatorError as exc:
        _fail(str(exc))
    _print_emulator(emu, fmt, started=emu.started)


@emulator.command("status")
@_FORMAT
def emulator_status(fmt: str) -> None:
    """Report the emulator; exits 1 when it is not running."""
    emu = api.emulator_status()
    _print_emulator(emu, fmt)
    sys.exit(EXIT_OK if emu else EXIT_FAILED)


@emulator.command("stop")
@_FORMAT
def emulator_stop(fmt: str) -> None:
    """Stop the emulator; everything it held is gone."""
    stopped = api.emulator_stop()
    if fmt == "json":
        click.echo(json.dumps({"stopped": stopped}))
    else:
        click.echo("emulator: stopped" if stopped else "emulator: was not running")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hastack")
