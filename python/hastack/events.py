"""Reading ansible-runner events: task labels, failures and one-line progress.

Kept apart from the API so the CLI, a future JUnit writer and tests share one reading of
the event stream instead of each parsing ansible-runner's dictionaries their own way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

Event = Mapping[str, Any]
EventHandler = Callable[[Event], None]

TASK_START_EVENTS = frozenset({"playbook_on_task_start", "playbook_on_handler_task_start"})
FAILURE_EVENTS = frozenset({"runner_on_failed", "runner_on_unreachable"})
# ansible-runner gives ansible-playbook a terminal, so its own messages come coloured.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def task_label(event: Event) -> str:
    """``role : task`` as ansible-playbook prints it, so users can grep their run logs for it."""
    data = event.get("event_data") or {}
    task = str(data.get("task") or data.get("name") or data.get("task_action") or "?").strip()
    role = data.get("role")
    return f"{role} : {task}" if role else task


def is_counted_failure(event: Event) -> bool:
    """A failed or unreachable task that counts; ``ignore_errors: true`` failures do not."""
    if event.get("event") not in FAILURE_EVENTS:
        return False
    return not (event.get("event_data") or {}).get("ignore_errors")


def failure_message(event: Event) -> str:
    """The result's ``msg``; module crashes carry none, so fall back to what they wrote."""
    res = (event.get("event_data") or {}).get("res") or {}
    if not isinstance(res, Mapping):
        return str(res)
    for key in ("msg", "stderr", "module_stderr"):
        value = res.get(key)
        if value:
            return str(value).strip()
    return ""


def error_lines(event: Event) -> list[str]:
    """Ansible's own errors (bad syntax, missing role) arrive as output lines, not task events."""
    if event.get("event") != "verbose":
        return []
    lines = _ANSI.sub("", str(event.get("stdout") or "")).splitlines()
    return [ln.strip() for ln in lines if ln.lstrip().startswith(("ERROR!", "[ERROR]"))]


class ProgressPrinter:
    """Writes one plain line per task start (``[elapsed] role : task``) plus failures and errors.

    Plain lines rather than a live display, so CI logs and ``2>file`` stay readable.
    """

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._start = clock()

    def _line(self, text: str) -> None:
        self._stream.write(f"[{self._clock() - self._start:7.1f}s] {text}\n")
        self._stream.flush()

    def __call__(self, event: Event) -> None:
        kind = event.get("event")
        if kind in TASK_START_EVENTS:
            self._line(task_label(event))
        elif is_counted_failure(event):
            host = (event.get("event_data") or {}).get("host", "?")
            word = "UNREACHABLE" if kind == "runner_on_unreachable" else "FAILED"
            self._line(f"{word} [{host}] {task_label(event)}: {failure_message(event)}")
        else:
            for line in error_lines(event):
                self._line(line)
