"""Exit codes and the errors that carry them.

One table, shared by the API (``RunResult.exit_code``, the JSON ``exit_code``) and the CLI
(the process exit status), so the two can never disagree.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The ``hastack`` process exit status; docs/CLI.md has the table."""

    OK = 0  # success; check/plan: every invariant holds and nothing drifted
    FAILED = 1  # a task failed, or hastack itself hit an error (emulator, ansible-runner)
    DRIFT = 2  # check: an invariant failed or something drifted; plan: changes pending
    USAGE = 3  # bad option, environment, --var or setting (failed validation); nothing reached AWS
    REFUSED = 4  # another run holds the stack's lock, or destroy met deletion protection
    INTERRUPTED = 130  # Ctrl-C or SIGTERM stopped the run (128 + SIGINT, as shells report it)


class HastackError(Exception):
    """hastack could not do what was asked; the message says what to fix."""

    exit_code: ExitCode = ExitCode.FAILED


class SettingError(HastackError):
    """A setting the caller passed is invalid; nothing was run. ``setting`` names it."""

    exit_code = ExitCode.USAGE

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


class RefusedError(HastackError):
    """hastack declined to start: running now could harm the stack or another run."""

    exit_code = ExitCode.REFUSED
