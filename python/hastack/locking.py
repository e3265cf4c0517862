"""One run per stack at a time: an OS file lock under ``<state>/locks/``.

``flock(2)`` belongs to the open file, so the kernel drops it when the holder exits however it
exits (SIGKILL included): a crashed run never leaves a lock to clean by hand. deploy and
destroy take it exclusively; check and plan take it shared, because two read-only runs may
overlap but neither may overlap a run that changes the stack.

Who holds the lock is written beside it (``<key>.holders/<pid>.json``) for the refusal message;
the flock alone decides. A holder record also names the holder's ansible-playbook once it is
known: ansible-runner starts it in a session of its own, so if hastack itself is SIGKILLed the
playbook runs on, and the next run must refuse until it has ended.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import re
import shlex
import socket
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from hastack.emulator import pid_alive
from hastack.errors import RefusedError

__all__ = ["LockHeld", "LockHolder", "StackLock", "lock_path"]


@dataclass(frozen=True)
class LockHolder:
    """A process holding (or that held) a stack's lock, as it described itself."""

    pid: int
    user: str
    host: str
    command: str  # the holder's command line, e.g. "hastack deploy --env dev"
    action: str  # deploy, destroy, check or plan
    since: str  # ISO 8601, UTC
    ansible_pid: int | None = None

    def describe(self) -> str:
        return f"pid {self.pid}, {self.user}@{self.host}, `{self.command}`, since {self.since}"


class LockHeld(RefusedError):
    """Another run holds the stack's lock; ``holders`` says who (empty if they could not tell)."""

    def __init__(self, message: str, holders: tuple[LockHolder, ...], path: Path) -> None:
        super().__init__(message)
        self.holders = holders
        self.path = path


def lock_path(state_dir: Path, env: str, stack: str) -> Path:
    """``<state>/locks/<env>.<stack>.lock``: one lock per stack of an environment."""
    env_key, stack_key = (re.sub(r"[^A-Za-z0-9_-]", "_", part) for part in (env, stack))
    return state_dir / "locks" / f"{env_key}.{stack_key}.lock"


def _is_ansible_playbook(pid: int) -> bool:
    """A live ansible-playbook, not whatever process reused the pid (where /proc can tell)."""
    if not pid_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.parent.is_dir():  # no procfs (macOS): trust the pid
        return True
    try:
        return b"ansible-playbook" in cmdline.read_bytes()
    except OSError:
        return False


class StackLock:
    """Held around one run: ``with StackLock(...):`` acquires at once or raises ``LockHeld``."""

    def __init__(
        self, state_dir: Path, env: str, stack: str, action: str, *, shared: bool = False
    ) -> None:
        self.path = lock_path(state_dir, env, stack)
        self.holders_dir = self.path.with_suffix(".holders")
        self.stack = stack
        self.action = action
        self.shared = shared
        self._fd: int | None = None
        self._record: LockHolder | None = None

    # -- holder records ------------------------------------------------------------------

    def _record_file(self, pid: int) -> Path:
        return self.holders_dir / f"{pid}.json"

    def _write_record(self, record: LockHolder) -> None:
        target = self._record_file(record.pid)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(target)

    def holders(self) -> list[LockHolder]:
        """Every holder record on disk, live or not, oldest first."""
        found = []
        for path in sorted(self.holders_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError, TypeError):
                found.append(LockHolder(**json.loads(path.read_text())))
        return sorted(found, key=lambda h: h.since)

    # -- acquire / release ---------------------------------------------------------------

    def acquire(self) -> None:
        self.holders_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            live = tuple(h for h in self.holders() if pid_alive(h.pid))
            raise LockHeld(self._held_message(live), live, self.path) from None
        self._fd = fd
        try:
            self._check_orphans()
        except LockHeld:
            self.release()
            raise
        self._record = LockHolder(
            pid=os.getpid(),
            user=getpass.getuser(),
            host=socket.gethostname(),
            command=shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            action=self.action,
            since=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        self._write_record(self._record)

    def _check_orphans(self) -> None:
        """Drop records of dead holders, unless their ansible-playbook still runs."""
        for holder in self.holders():
            if holder.pid == os.getpid() or pid_alive(holder.pid):
                continue  # a shared holder beside us
            if holder.ansible_pid and _is_ansible_playbook(holder.ansible_pid):
                raise LockHeld(
                    f"stack {self.stack} is still being changed: the `{holder.action}` run "
                    f"({holder.describe()}) was killed, but its ansible-playbook (pid "
                    f"{holder.ansible_pid}) is still running. Wait for it to end, or stop it "
                    f"with `kill {holder.ansible_pid}`, then run again.",
                    (holder,),
                    self.path,
                )
            self._record_file(holder.pid).unlink(missing_ok=True)

    def _held_message(self, live: tuple[LockHolder, ...]) -> str:
        if not live:
            who = "another process (it left no details)"
        else:
            who = "; ".join(f"{h.action} run ({h.describe()})" for h in live)
        return (
            f"stack {self.stack} is locked by {who}. Two runs against one stack never overlap; "
            f"wait for it to finish and run again (lock: {self.path})."
        )

    def record_ansible_pid(self, pid: int) -> None:
        """Note the run's ansible-playbook, so a run after a SIGKILLed hastack waits for it."""
        if self._record is not None and self._record.ansible_pid != pid:
            self._record = LockHolder(**{**asdict(self._record), "ansible_pid": pid})
            self._write_record(self._record)

    def release(self) -> None:
        if self._record is not None:
            self._record_file(self._record.pid).unlink(missing_ok=True)
            self._record = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StackLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        mode = "shared" if self.shared else "exclusive"
        return f"StackLock({str(self.path)!r}, {mode})"


def describe_holders(holders: Any) -> list[dict[str, Any]]:
    """Holder records as plain dicts (the JSON error document's ``holders``)."""
    return [asdict(h) for h in holders]
