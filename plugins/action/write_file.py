# Apache-2.0 (see the project licence)
"""hastack.stack.write_file on the controller: the module's own code (plugins/modules/) run in the
task's process, without a module run (~0.3 s each on a deploy and a destroy).

The files it handles (the stack outputs under the state directory) belong to the machine
running hastack, and every hastack play runs there (inventories/*: localhost, connection
local). For any other connection the module runs as usual, on the host.
"""

from __future__ import annotations

import importlib.util
import os

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if self._connection.transport not in ("local", "ansible.builtin.local"):
            return {**result, **self._execute_module(task_vars=task_vars)}
        source = self._shared_loader_obj.module_loader.find_plugin("hastack.stack.write_file")
        spec = importlib.util.spec_from_file_location("hastack_write_file_module", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        args = dict(self._task.args)
        # The module's argument spec (type path) expands ~; raw task args need it here.
        args["path"] = os.path.expanduser(str(args.get("path") or ""))
        return {**result, **module.run(args, bool(self._task.check_mode))}
