# Apache-2.0 (see the project licence)
"""Run, on the controller, the command that starts (or finds) a local AWS endpoint.

Why an action plugin: the endpoint is a process on the controller (the hastack wrapper's
embedded emulator listens on 127.0.0.1), so there is nothing to send to a host, and a module
run would cost a second Python start-up on top of the command's own.

The collection knows nothing of what the command is: the inventory names it
(``preflight_emulator_command``). It must print one JSON object on its last line of standard
output with at least ``endpoint``; ``started`` (bool) makes the task changed. Other keys
(``pid``, ``port``, ``log`` ...) are returned as they are.
"""

from __future__ import annotations

import json
import subprocess

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
module: endpoint_command
short_description: Start or find a local AWS endpoint by running a command on the controller
description:
  - Runs I(argv) on the controller (no module run) and returns the JSON object it prints.
  - Upstream has no equivalent; C(ansible.builtin.command) would be a module run on a host.
options:
  argv:
    description: The command and its arguments; it prints a JSON object with C(endpoint).
    type: list
    elements: str
    required: true
  timeout:
    description: Seconds the command may take.
    type: int
    default: 120
"""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("argv", "timeout"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(
            argument_spec={
                "argv": {"type": "list", "elements": "str", "required": True},
                "timeout": {"type": "int", "default": 120},
            }
        )
        argv = [to_text(a) for a in args["argv"]]
        if not argv:
            raise AnsibleActionFail("endpoint_command: argv is empty")
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=args["timeout"], check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {**result, "failed": True, "msg": f"cannot run {argv[0]}: {exc}"}
        lines = proc.stdout.strip().splitlines()
        try:
            answer = json.loads(lines[-1]) if lines else None
        except ValueError:
            answer = None
        if proc.returncode != 0 or not isinstance(answer, dict) or not answer.get("endpoint"):
            detail = (proc.stderr.strip() or proc.stdout.strip() or "no output")[-2000:]
            return {
                **result,
                "failed": True,
                "rc": proc.returncode,
                "msg": f"{' '.join(argv)} exited {proc.returncode}: {detail}",
            }
        return {**result, **answer, "changed": bool(answer.get("started"))}
