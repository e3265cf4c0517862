# Apache-2.0 (see the project licence)
"""hastack.stack.require: ansible.builtin.assert whose failure carries what it means.

A failed check adds ``<outcome>: true`` to its result (setting_error, refused,
invariants_failed), so a caller reads the outcome from the result, never from task names.
"""

from __future__ import annotations

import importlib

# ``assert`` is a keyword: the module cannot be imported by name.
_Assert = importlib.import_module("ansible.plugins.action.assert").ActionModule

OUTCOMES = ("setting_error", "refused", "invariants_failed")


class ActionModule(_Assert):
    def validate_argument_spec(self, argument_spec=None, **kwargs):
        spec = dict(argument_spec or {})
        spec["outcome"] = {"type": "str", "required": True, "choices": list(OUTCOMES)}
        validation, args = super().validate_argument_spec(argument_spec=spec, **kwargs)
        self._outcome = args["outcome"]
        return validation, args

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if result.get("failed") and "assertion" in result:
            result[self._outcome] = True
        return result
