"""Reading ansible-runner events: task labels, failures, changes and progress on stderr.

Kept apart from the API so the CLI, the JUnit writer and tests share one reading of the
event stream instead of each parsing ansible-runner's dictionaries their own way.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

Event = Mapping[str, Any]
EventHandler = Callable[[Event], None]

TASK_START_EVENTS = frozenset({"playbook_on_task_start", "playbook_on_handler_task_start"})
FAILURE_EVENTS = frozenset({"runner_on_failed", "runner_on_unreachable"})
CHANGE_EVENTS = frozenset({"runner_on_ok", "runner_item_on_ok"})
# Not ansible-runner's: the API sends it to on_event when Ctrl-C/SIGTERM starts a cancel.
CANCEL_EVENT = "hastack_cancel"
# ansible-runner gives ansible-playbook a terminal, so its own messages come coloured.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def task_label(event: Event) -> str:
    """``role : task`` as ansible-playbook prints it, so users can grep their run logs for it."""
    data = event.get("event_data") or {}
    task = str(data.get("task") or data.get("name") or data.get("task_action") or "?").strip()
    # ansible-runner sends the role's short name in ``role`` and, for a collection's role, the
    # name ansible-playbook prints (``hastack.stack.alb``) in ``resolved_role``.
    role = data.get("resolved_role") or data.get("role")
    return f"{role} : {task}" if role else task


# Result keys that say what a failure means (set by hastack.stack.require, by modules such as
# hastack.stack.aws_reach, and by Ansible's argument spec check), most telling first.
OUTCOMES = ("refused", "setting_error", "invariants_failed")


def failure_outcome(event: Event) -> str | None:
    """What a failed task's result says its failure means, or None for a plain error."""
    res = (event.get("event_data") or {}).get("res") or {}
    if not isinstance(res, Mapping):
        return None
    for key in OUTCOMES:
        if res.get(key) is True:
            return key
    if res.get("argument_errors"):  # ansible.builtin.validate_argument_spec: a role's input
        return "setting_error"
    return None


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


def changed_item(event: Event) -> tuple[str | None, Any, str | None] | None:
    """``(item label, diff, msg)`` when the event reports a change (in check mode: would change).

    A loop reports each item and then a summary of all of them; only the items count. A
    ``no_log`` result is censored down to nothing, so its change shows only in the line
    ansible-playbook printed ("changed: [host]"); its diff stays hidden, as it should.
    """
    if event.get("event") not in CHANGE_EVENTS:
        return None
    res = (event.get("event_data") or {}).get("res") or {}
    if not isinstance(res, Mapping) or "results" in res:
        return None
    if "censored" in res:
        printed = _ANSI.sub("", str(event.get("stdout") or "")).lstrip()
        changed = printed.startswith("changed:")
    else:
        changed = bool(res.get("changed"))
    if not changed:
        return None
    item = None
    if event.get("event") == "runner_item_on_ok":
        raw = res.get("_ansible_item_label", res.get("item"))
        item = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True, default=str)
    msg = res.get("msg")
    return item, res.get("diff") or None, str(msg) if msg else None


def _as_text(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.splitlines()
    return json.dumps(value, indent=2, sort_keys=True, default=str).splitlines()


def diff_text(diff: Any) -> str:
    """A module's ``--diff`` result as unified-diff text, the way ansible-playbook shows it."""
    if not diff:
        return ""
    lines: list[str] = []
    for part in diff if isinstance(diff, list) else [diff]:
        if not isinstance(part, Mapping):
            lines += _as_text(part)
            continue
        if part.get("prepared"):
            lines += _as_text(part["prepared"])
        if "before" in part or "after" in part:
            lines += difflib.unified_diff(
                _as_text(part.get("before", "")),
                _as_text(part.get("after", "")),
                fromfile=str(part.get("before_header", "before")),
                tofile=str(part.get("after_header", "after")),
                lineterm="",
            )
    return "\n".join(lines)


class ProgressPrinter:
    """Progress on stderr: the running play, role and task, with elapsed time.

    On a terminal (``live``) one line is redrawn in place, ticking while a task runs, and only
    failures, errors and play starts stay on screen. Elsewhere (CI, ``2>file``) every task start
    is a plain ``[elapsed] role : task`` line, so logs stay readable and greppable.
    Call ``close()`` when the run ends (it stops the ticker and clears the live line).
    """

    def __init__(
        self,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        *,
        live: bool | None = None,
        tick_s: float = 0.25,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._start = clock()
        self.live = _isatty(stream) if live is None else live
        self._tick_s = tick_s
        self._task: str | None = None
        self._task_start = self._start
        self._lock = threading.RLock()  # RLock: a signal may land while we hold it
        self._shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _stamp(self) -> str:
        return f"[{self._clock() - self._start:7.1f}s]"

    def _line(self, text: str) -> None:
        """A line that stays: above the live line, which is then redrawn."""
        with self._lock:
            if self.live and self._shown:
                self._stream.write("\r\x1b[2K")
            self._stream.write(f"{self._stamp()} {text}\n")
            self._shown = False
            if self.live:
                self._draw()
            self._stream.flush()

    def _draw(self) -> None:
        if self._task is None:
            return
        text = f"{self._stamp()} {self._task} ({self._clock() - self._task_start:.0f}s)"
        width = shutil.get_terminal_size((100, 24)).columns - 1
        if len(text) > width:
            text = text[: max(width - 1, 0)] + "\u2026"
        self._stream.write(f"\r\x1b[2K{text}")
        self._shown = True

    def _tick(self) -> None:
        while not self._stop.wait(self._tick_s):
            with self._lock:
                self._draw()
                self._stream.flush()

    def _task_started(self, label: str) -> None:
        with self._lock:
            self._task, self._task_start = label, self._clock()
            if not self.live:
                self._line(label)
                return
            self._draw()
            self._stream.flush()
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, daemon=True)
                self._ticker.start()

    def __call__(self, event: Event) -> None:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind in TASK_START_EVENTS:
            self._task_started(task_label(event))
        elif kind == "playbook_on_play_start":
            self._line(f"PLAY {data.get('play') or data.get('name') or '?'}")
        elif kind == CANCEL_EVENT:
            self._line(f"INTERRUPTED during {self._task or 'start-up'}: stopping ansible-playbook")
        elif is_counted_failure(event):
            word = "UNREACHABLE" if kind == "runner_on_unreachable" else "FAILED"
            self._line(
                f"{word} [{data.get('host', '?')}] {task_label(event)}: {failure_message(event)}"
            )
        else:
            for line in error_lines(event):
                self._line(line)

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            if self.live and self._shown:
                self._stream.write("\r\x1b[2K")
                self._stream.flush()
            self._shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
