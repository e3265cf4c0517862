"""hastack_write_file: the same results through its action plugin (the controller, no module
run: the project's ansible.cfg) and as a plain module (molecule's or another project's
ansible.cfg, which does not name plugins/action)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import ROOT, run_playbook


def play(tmp_path: Path, args: dict[str, Any], *, plugin: bool, check: bool = False) -> Any:
    book = tmp_path / "play.yml"
    task = {"name": "Write", "hastack_write_file": args, "register": "out"}
    book.write_text(
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}])
    )
    env = {}
    if not plugin:
        cfg = tmp_path / "ansible.cfg"
        cfg.write_text(f"[defaults]\nlibrary = {ROOT / 'plugins/modules'}\n")
        env["ANSIBLE_CONFIG"] = str(cfg)
    return run_playbook(str(book), inventory="local", env=env, args=["--check"] if check else [])


def result(run: Any) -> dict[str, Any]:
    return run.data["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.mark.parametrize("plugin", [True, False], ids=["action-plugin", "module"])
def test_write_file(tmp_path: Path, plugin: bool) -> None:
    target = tmp_path / "out" / "deep" / "stack.json"
    args = {"path": str(target), "content": "{}\n", "mode": "0640"}

    first = play(tmp_path, args, plugin=plugin)
    assert first.rc == 0, first.failures()
    assert first.changed == 1
    assert target.read_text() == "{}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert play(tmp_path, args, plugin=plugin).changed == 0

    # check mode: reports the change, writes nothing
    dry = play(tmp_path, {**args, "content": "{1}\n"}, plugin=plugin, check=True)
    assert dry.changed == 1
    assert target.read_text() == "{}\n"
    # a mode change alone is a change
    assert play(tmp_path, {**args, "mode": "0644"}, plugin=plugin).changed == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o644

    bad = play(tmp_path, {**args, "mode": "rw-r"}, plugin=plugin)
    assert bad.rc != 0
    assert "mode" in " ".join(m for _, m in bad.failures())

    gone = {"path": str(target), "state": "absent"}
    assert play(tmp_path, gone, plugin=plugin, check=True).changed == 1
    assert target.exists()
    assert play(tmp_path, gone, plugin=plugin).changed == 1
    assert not target.exists()
    assert play(tmp_path, gone, plugin=plugin).changed == 0


def test_the_action_plugin_runs_no_module(tmp_path: Path) -> None:
    """Through the plugin nothing is sent to the host: with -vvv a module run shows as an
    AnsiballZ payload being put in place; the plugin's run shows none."""
    target = tmp_path / "x.txt"
    args = {"path": str(target), "content": "x"}
    book = tmp_path / "play.yml"
    task = {"name": "Write", "hastack_write_file": args}
    book.write_text(
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}])
    )
    fast = run_playbook(str(book), args=["-vvv"])
    assert fast.rc == 0
    assert "AnsiballZ_hastack_write_file" not in fast.stdout + fast.stderr
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(f"[defaults]\nlibrary = {ROOT / 'plugins/modules'}\n")
    target.unlink()
    slow = run_playbook(str(book), args=["-vvv"], env={"ANSIBLE_CONFIG": str(cfg)})
    assert slow.rc == 0
    assert "AnsiballZ_hastack_write_file" in slow.stdout + slow.stderr
