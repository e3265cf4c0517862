# Apache-2.0 (see the project licence)
"""hastack_write_file on the controller: write (or remove) a small text file in the task's own
process, without a module run (~0.3 s each on a deploy and a destroy).

The files it handles (the stack outputs under the state directory) belong to the machine
running hastack, and every hastack play runs on the controller (inventories/*: localhost,
connection local). Documented in plugins/modules/hastack_write_file.py.
"""

from __future__ import annotations

import os
import stat
import tempfile

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("path", "content", "mode", "state"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        state = args.get("state", "present")
        path = os.path.expanduser(str(args.get("path") or ""))
        if not path or state not in ("present", "absent"):
            return self._fail(result, "path is required and state must be present or absent")
        before = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                before = handle.read()
        if state == "absent":
            changed = before is not None
            if changed and not self._task.check_mode:
                os.remove(path)
            diff = {"before": before or "", "after": "", "before_header": path}
            return {**result, "changed": changed, "path": path, "diff": diff}
        if "content" not in args:
            return self._fail(result, "content is required with state=present")
        content = str(args["content"])
        try:
            mode = int(str(args.get("mode", "0644")), 8)
        except ValueError:
            return self._fail(
                result, f"mode: {args.get('mode')!r} is not an octal mode such as 0644"
            )
        same_mode = before is not None and stat.S_IMODE(os.stat(path).st_mode) == mode
        changed = before != content or not same_mode
        if changed and not self._task.check_mode:
            folder = os.path.dirname(path) or "."
            os.makedirs(folder, mode=0o755, exist_ok=True)
            fd, tmp_path = tempfile.mkstemp(dir=folder, prefix=".hastack-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
            os.chmod(tmp_path, mode)
            os.replace(tmp_path, path)  # atomic on one file system
        diff = {
            "before": before or "",
            "after": content,
            "before_header": path,
            "after_header": path,
        }
        return {**result, "changed": changed, "path": path, "diff": diff}

    @staticmethod
    def _fail(result: dict, msg: str) -> dict:
        return {**result, "failed": True, "msg": f"hastack_write_file: {msg}"}
