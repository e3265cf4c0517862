"""The stack lock: runs never overlap, refusals are immediate and name the holder, and a
holder killed with SIGKILL leaves nothing stale behind."""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from hastack import api, cli
from hastack import runner as hastack_runner
from hastack.locking import LockHeld, StackLock, lock_path
from hastack.results import json_schema

ROOT = Path(__file__).resolve().parents[2]

# A separate process holds the lock until killed; it prints "held" once it does.
HOLDER = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from hastack.locking import StackLock
    lock = StackLock(Path(sys.argv[1]), "local", "locked", sys.argv[2], shared=sys.argv[3] == "1")
    lock.acquire()
    if len(sys.argv) > 4:
        lock.record_ansible_pid(int(sys.argv[4]))
    print("held", flush=True)
    time.sleep(600)
""")


def _hold(state: Path, action: str = "deploy", shared: bool = False, *extra: str) -> Any:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state), action, "1" if shared else "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def holders() -> Any:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: Any, **kwargs: Any) -> subprocess.Popen[str]:
        procs.append(_hold(*args, **kwargs))
        return procs[-1]

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_exclusive_lock_refuses_at_once_naming_the_holder(tmp_path: Path, holders: Any) -> None:
    holder = holders(tmp_path)
    started = time.monotonic()
    with pytest.raises(LockHeld) as info:
        StackLock(tmp_path, "local", "locked", "destroy").acquire()
    assert time.monotonic() - started < 1, "a refusal must not wait for the holder"
    message = str(info.value)
    assert f"pid {holder.pid}" in message
    assert f"{getpass.getuser()}@{socket.gethostname()}" in message
    assert "deploy run" in message
    assert " since 20" in message
    assert info.value.exit_code == 4
    assert [h.pid for h in info.value.holders] == [holder.pid]
    # a shared (read-only) run is refused by an exclusive holder too
    with pytest.raises(LockHeld):
        StackLock(tmp_path, "local", "locked", "check", shared=True).acquire()
    # another stack, or the same stack name in another environment, is independent
    with StackLock(tmp_path, "local", "other", "deploy"), StackLock(tmp_path, "dev", "locked", "x"):
        pass


def test_shared_runs_overlap_but_keep_writers_out(tmp_path: Path, holders: Any) -> None:
    first = holders(tmp_path, "check", True)
    with StackLock(tmp_path, "local", "locked", "plan", shared=True) as mine:
        with pytest.raises(LockHeld) as info:
            StackLock(tmp_path, "local", "locked", "deploy").acquire()
        assert {h.pid for h in info.value.holders} == {first.pid, os.getpid()}
        assert "check run" in str(info.value)
        assert "plan run" in str(info.value)
        assert mine.holders_dir.is_dir()
    first.kill()
    first.wait()
    with StackLock(tmp_path, "local", "locked", "deploy"):
        pass


def test_sigkilled_holder_leaves_no_stale_lock(tmp_path: Path, holders: Any) -> None:
    holder = holders(tmp_path)
    with pytest.raises(LockHeld):
        StackLock(tmp_path, "local", "locked", "deploy").acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with StackLock(tmp_path, "local", "locked", "deploy") as lock:
        # the dead holder's record is gone; only ours is left
        assert [h.pid for h in lock.holders()] == [os.getpid()]
    assert list(lock.holders_dir.iterdir()) == []


def test_killed_holder_whose_ansible_playbook_runs_on_still_refuses(
    tmp_path: Path, holders: Any
) -> None:
    # Stands in for the ansible-playbook a SIGKILLed hastack leaves behind (own session).
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", "ansible-playbook"]
    )
    try:
        holder = holders(tmp_path, "deploy", False, str(orphan.pid))
        holder.kill()
        holder.wait(timeout=10)
        with pytest.raises(LockHeld) as info:
            StackLock(tmp_path, "local", "locked", "destroy").acquire()
        assert f"ansible-playbook (pid {orphan.pid}) is still running" in str(info.value)
        assert f"kill {orphan.pid}" in str(info.value)
    finally:
        orphan.kill()
        orphan.wait(timeout=10)
    with StackLock(tmp_path, "local", "locked", "destroy"):
        pass


def test_lock_key_is_env_and_stack(tmp_path: Path) -> None:
    assert lock_path(tmp_path, "local", "shop-dev") == tmp_path / "locks" / "local.shop-dev.lock"
    assert lock_path(tmp_path, "a/b", "x y").name == "a_b.x_y.lock"


# -- through the CLI ------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "inventories" / "local").mkdir(parents=True)
    (root / "inventories" / "local" / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n")
    for playbook in ("site.yml", "destroy.yml", "check.yml"):
        (root / playbook).write_text("[]\n")
    monkeypatch.setenv("HASTACK_PROJECT_DIR", str(root))
    monkeypatch.setenv("HASTACK_STATE_DIR", str(tmp_path / "state"))
    return root


@pytest.mark.parametrize("command", ["deploy", "destroy", "check", "plan"])
def test_cli_refuses_with_4_and_a_json_error(
    project: Path, tmp_path: Path, holders: Any, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(hastack_runner.ansible_runner, "run", lambda **kw: ran.append(kw))
    holder = holders(tmp_path / "state")
    runner = CliRunner()
    args = [command, "--stack", "locked", "--format", "json"]
    result = runner.invoke(cli.cli, args, catch_exceptions=False)
    assert result.exit_code == cli.EXIT_REFUSED == 4
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, json_schema())
    assert doc["exit_code"] == 4
    assert doc["error"]["kind"] == "refused"
    assert doc["error"]["holders"][0]["pid"] == holder.pid
    assert f"pid {holder.pid}" in result.stderr
    assert ran == []  # nothing ran
    assert not (tmp_path / "state" / "runs").exists()


def test_outputs_needs_no_lock(project: Path, tmp_path: Path, holders: Any) -> None:
    holders(tmp_path / "state")
    out = tmp_path / "state" / "outputs" / "locked.json"
    out.parent.mkdir(parents=True)
    out.write_text(json.dumps({"stack_name": "locked", "vpc_id": "vpc-1"}))
    result = api.outputs(stack="locked")
    assert result.outputs["vpc_id"] == "vpc-1"


def test_python_api_releases_the_lock_after_a_run(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []

    def run(**_: Any) -> Any:
        with pytest.raises(LockHeld):  # held during the run ...
            StackLock(tmp_path / "state", "local", "s", "deploy").acquire()
        seen.append(True)
        raise RuntimeError("runner broke")

    monkeypatch.setattr(hastack_runner.ansible_runner, "run", run)
    with pytest.raises(api.HastackError, match="runner broke"):
        api.deploy(stack="s")
    assert seen == [True]
    with StackLock(tmp_path / "state", "local", "s", "deploy"):  # ... and released after, even so
        pass
