# Apache-2.0 (see the project licence)
"""Start or reuse the embedded AWS emulator, on the controller, without a module run.

Why an action plugin: the emulator is a process on the controller (loopback only), so there is
nothing to send to a host. The task was ``ansible.builtin.command: python -m hastack.emulator
ensure``: a module run (~0.35 s of start-up) plus a second Python start. This calls
``hastack.emulator.ensure()`` in the worker process instead (python/hastack/emulator.py).

Arguments: ``state_dir`` (hastack's state directory: the emulator's record and log) and
``python_path`` (the directory holding the hastack package). Returns ``endpoint``, ``pid``,
``port``, ``log`` and ``started``; changed when it started the emulator.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("state_dir", "python_path"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        missing = [a for a in sorted(self._VALID_ARGS) if not args.get(a)]
        if missing:
            return {**result, "failed": True, "msg": f"hastack_emulator needs {', '.join(missing)}"}
        python_path = str(Path(args["python_path"]).resolve())
        # This worker process is forked for the one task: the changes stay in it. The emulator
        # it may start inherits PYTHONPATH to import hastack.moto_server.
        if python_path not in sys.path:
            sys.path.insert(0, python_path)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (python_path, os.environ.get("PYTHONPATH", "")) if p
        )
        from hastack import emulator

        try:
            emu = emulator.ensure(Path(args["state_dir"]).expanduser())
        except emulator.EmulatorError as exc:
            return {**result, "failed": True, "msg": f"hastack: {exc}"}
        return {**result, **asdict(emu), "changed": emu.started}
