"""Progress on stderr: plain lines off a terminal, one live line on a terminal."""

from __future__ import annotations

import io
import time
from typing import Any

from hastack.events import CANCEL_EVENT, ProgressPrinter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _play(name: str) -> dict[str, Any]:
    return {"event": "playbook_on_play_start", "event_data": {"play": name, "name": name}}


def _task(task: str, role: str | None = None) -> dict[str, Any]:
    return {"event": "playbook_on_task_start", "event_data": {"task": task, "role": role}}


def _failed(task: str, role: str) -> dict[str, Any]:
    data = {"task": task, "role": role, "host": "localhost", "res": {"msg": "no such VPC"}}
    return {"event": "runner_on_failed", "event_data": data}


def test_plain_lines_off_a_terminal() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = ProgressPrinter(stream, clock)
    assert progress.live is False  # StringIO is no terminal: CI logs get plain lines
    progress(_play("Deploy the hastack web tier"))
    clock.now += 1.5
    progress(_task("present | Create the VPC", "vpc"))
    progress({"event": "runner_on_ok", "event_data": {"task": "x", "res": {}}})  # not shown
    clock.now += 2
    progress(_failed("present | Create the VPC", "vpc"))
    progress({"event": "verbose", "stdout": "\x1b[0;31mERROR! the role 'x' was not found\x1b[0m"})
    progress({"event": CANCEL_EVENT, "event_data": {}})
    progress.close()
    assert stream.getvalue().splitlines() == [
        "[    0.0s] PLAY Deploy the hastack web tier",
        "[    1.5s] vpc : present | Create the VPC",
        "[    3.5s] FAILED [localhost] vpc : present | Create the VPC: no such VPC",
        "[    3.5s] ERROR! the role 'x' was not found",
        "[    3.5s] INTERRUPTED during vpc : present | Create the VPC: stopping ansible-playbook",
    ]
    assert "\r" not in stream.getvalue()


def test_live_line_on_a_terminal_ticks_and_keeps_failures() -> None:
    stream, clock = Tty(), Clock()
    progress = ProgressPrinter(stream, clock, tick_s=0.01)
    assert progress.live is True
    progress(_task("present | Create the VPC", "vpc"))
    clock.now += 7
    deadline = time.monotonic() + 5
    while "(7s)" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)  # the ticker redraws the line while the task runs
    assert "\r\x1b[2K[    7.0s] vpc : present | Create the VPC (7s)" in stream.getvalue()
    progress(_failed("present | Create the VPC", "vpc"))
    progress(_task("present | Create the subnets", "vpc"))
    progress.close()
    out = stream.getvalue()
    # the failure is a line of its own that stays; task starts are not lines
    lines = out.split("\n")
    assert "FAILED [localhost] vpc : present | Create the VPC: no such VPC" in lines[0]
    assert len(lines) == 2
    # close() leaves the terminal clean: the live line is erased
    assert out.endswith("\r\x1b[2K")


def test_live_line_fits_the_terminal(monkeypatch: Any) -> None:
    import os
    import shutil

    monkeypatch.setattr(shutil, "get_terminal_size", lambda *_: os.terminal_size((40, 24)))
    stream = Tty()
    progress = ProgressPrinter(stream, Clock(), tick_s=60)
    progress(_task("present | A task whose name is far too long for the terminal", "vpc"))
    progress.close()
    drawn = stream.getvalue().split("\r\x1b[2K")[1]
    assert len(drawn) <= 39
    assert drawn.endswith("\u2026")


def test_live_can_be_forced_either_way() -> None:
    assert ProgressPrinter(Tty(), live=False).live is False
    assert ProgressPrinter(io.StringIO(), live=True).live is True
