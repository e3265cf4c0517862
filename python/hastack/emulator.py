"""The embedded AWS emulator: a moto server on 127.0.0.1 that hastack starts and stops itself.

State lives in ``<state_dir>/emulator/`` (``state.json`` with pid/port/endpoint, ``moto.log``),
so a deploy, a later check and a destroy run by separate processes all reach the same
in-memory AWS. ``ensure()`` is safe to call concurrently: a file lock serialises starts.

Run as ``python -m hastack.emulator ensure|status|stop`` (the playbooks do this, so plain
``ansible-playbook site.yml -i inventories/local`` works without the Python wrapper).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from hastack import project as _project

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# moto accepts any key pair; these make boto3 happy without touching real credentials.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class EmulatorError(RuntimeError):
    """The emulator could not be started, reached or stopped."""


@dataclass(frozen=True)
class Emulator:
    endpoint: str
    pid: int
    port: int
    log: str
    started: bool  # True when this call started it, False when it was already running


def default_state_dir() -> Path:
    """``HASTACK_STATE_DIR``, else the ``.hastack/`` of the project (``hastack.project``)."""
    return _project.state_dir(_project.resolve())


def _paths(state_dir: Path) -> tuple[Path, Path, Path]:
    base = state_dir / "emulator"
    return base / "state.json", base / "moto.log", base / "lock"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); reap it if it is one.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def healthy(endpoint: str, timeout: float = 2.0) -> bool:
    """True when the moto server at ``endpoint`` answers its own API."""
    try:
        # Not /moto-api/data.json: it serialises every resource, seconds once IAM's AWS
        # managed policies are loaded, and a slow answer got a healthy emulator replaced.
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=timeout) as r:  # noqa: S310
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_state(state_file: Path) -> dict | None:
    try:
        return json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None


def status(state_dir: Path | None = None) -> Emulator | None:
    """The running emulator recorded under ``state_dir``, or None if none is running and healthy."""
    state_file, log, _ = _paths(state_dir or default_state_dir())
    state = _read_state(state_file)
    if not state or not pid_alive(int(state["pid"])) or not healthy(state["endpoint"]):
        return None
    return Emulator(state["endpoint"], int(state["pid"]), int(state["port"]), str(log), False)


def ensure(state_dir: Path | None = None, timeout: float = START_TIMEOUT_S) -> Emulator:
    """Return the running emulator, starting one on a free loopback port if there is none."""
    state_dir = state_dir or default_state_dir()
    state_file, log, lock = _paths(state_dir)
    with _locked(lock):
        running = status(state_dir)
        if running:
            return running
        stale = _read_state(state_file)
        if stale and pid_alive(int(stale["pid"])):
            _terminate(int(stale["pid"]))  # alive but not answering: replace it
        last_error = ""
        for _attempt in range(3):  # the free port can be taken between probe and bind
            port = _free_port()
            endpoint = f"http://{HOST}:{port}"
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    # moto plus the EC2 calls it lacks (hastack/moto_server.py)
                    [sys.executable, "-m", "hastack.moto_server", "-H", HOST, "-p", str(port)],
                    # AWS managed policies (AmazonSSMManagedInstanceCore ...) exist in every account
                    env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # outlives the playbook or CLI that started it
                    close_fds=True,
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if healthy(endpoint, timeout=1.0):
                    state = {"pid": proc.pid, "port": port, "endpoint": endpoint, "log": str(log)}
                    state_file.write_text(json.dumps(state))
                    return Emulator(endpoint, proc.pid, port, str(log), True)
                time.sleep(0.1)
            last_error = _tail(log)
            if proc.poll() is None:
                _terminate(proc.pid)
        raise EmulatorError(
            f"the embedded AWS emulator (moto) did not become healthy within {timeout:.0f}s; "
            f"see {log}. Last log lines:\n{last_error}"
        )


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop(state_dir: Path | None = None) -> bool:
    """Stop the recorded emulator; True if one was running. Its in-memory AWS is gone after."""
    state_file, _, lock = _paths(state_dir or default_state_dir())
    with _locked(lock):
        state = _read_state(state_file)
        if not state:
            return False
        pid = int(state["pid"])
        was_alive = pid_alive(pid)
        if was_alive:
            _terminate(pid)
        state_file.unlink(missing_ok=True)
        return was_alive


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hastack.emulator", description=__doc__)
    parser.add_argument("action", choices=["ensure", "status", "stop"])
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        if args.action == "ensure":
            print(json.dumps(asdict(ensure(args.state_dir))))
        elif args.action == "status":
            emu = status(args.state_dir)
            print(json.dumps(asdict(emu) if emu else {"running": False}))
            return 0 if emu else 3
        else:
            print(json.dumps({"stopped": stop(args.state_dir)}))
    except EmulatorError as exc:
        print(f"hastack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
