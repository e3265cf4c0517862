"""hastack.stack.write_file: the same results through its action plugin (the controller, no module
run, for a local connection) and as a plain module (what a non-local connection runs), here run
in-process the way Ansible runs a module: arguments in, one JSON result out."""

from __future__ import annotations

import contextlib
import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import load_source, run_playbook


def play(tmp_path: Path, args: dict[str, Any], *, plugin: bool, check: bool = False) -> Any:
    book = tmp_path / "play.yml"
    task = {"name": "Write", "hastack.stack.write_file": args, "register": "out"}
    book.write_text(
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}])
    )
    if not plugin:
        return ModuleRun(args, check)
    return run_playbook(str(book), inventory="local", args=["--check"] if check else [])


class ModuleRun:
    """The module's main() with Ansible's argument passing, as a non-local connection runs it."""

    def __init__(self, args: dict[str, Any], check: bool) -> None:
        from ansible.module_utils import basic
        from ansible.module_utils.common.text.converters import to_bytes

        module = load_source("plugins/modules/write_file.py")
        payload = {"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check}}
        out = io.StringIO()
        with (
            contextlib.redirect_stdout(out),
            pytest.MonkeyPatch.context() as mp,
            contextlib.suppress(SystemExit),
        ):
            mp.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps(payload)))
            mp.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
            module.main()
        self.result = json.loads(out.getvalue())
        self.rc = 1 if self.result.get("failed") else 0
        self.changed = int(bool(self.result.get("changed")))

    def failures(self) -> list[tuple[str, str]]:
        return [("Write", str(self.result.get("msg")))] if self.rc else []


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
    task = {"name": "Write", "hastack.stack.write_file": args}
    control = {"name": "Stat", "ansible.builtin.stat": {"path": str(target)}}
    book.write_text(
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task, control]}])
    )
    run = run_playbook(str(book), args=["-vvv"])
    assert run.rc == 0
    assert target.read_text() == "x"
    assert "AnsiballZ_stat" in run.stdout + run.stderr  # a module run shows this way
    assert "AnsiballZ_write_file" not in run.stdout + run.stderr
