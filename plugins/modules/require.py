#!/usr/bin/python
"""Documentation of the action plugin hastack.stack.require (plugins/action/require.py).

The action runs on the controller; there is no module code to send to a host.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: require
short_description: Assert conditions, and say what a failure means
description:
  - C(ansible.builtin.assert) with one more option, O(outcome), which a failed check adds to
    its result as a key set to V(true). Whatever drives the playbook (the hastack wrapper, an
    AWX job, a callback) then learns why the run stopped from the result, not from the task's
    name or file.
  - V(setting_error) - a setting is wrong and nothing was changed; the message names the
    setting and the fix.
  - V(refused) - the settings ask for something the play will not do without an explicit
    setting (for example deleting a protected load balancer).
  - V(invariants_failed) - an audit ran and found the stack out of line; the findings are the
    verdict, not an error of the run.
  - "Upstream: C(ansible.builtin.assert) sets no key a caller can tell these failures apart by."
options:
  that:
    description: Conditions (bare Jinja2 expressions, as in C(when)) that must all be true.
    type: list
    elements: str
    required: true
  outcome:
    description: The result key set to V(true) when a condition is false.
    type: str
    choices: [setting_error, refused, invariants_failed]
    required: true
  fail_msg:
    description: The message of a failure.
    type: str
    default: Assertion failed
    aliases: [msg]
  success_msg:
    description: The message when every condition holds.
    type: str
    default: All assertions passed
  quiet:
    description: Print only the message, not the whole result.
    type: bool
    default: false
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Check the NAT mode
  hastack.stack.require:
    that: nat_mode in ['per_az', 'single', 'none']
    fail_msg: "nat_mode: {{ nat_mode }} is not a NAT mode; use per_az, single or none."
    outcome: setting_error
    quiet: true
"""

RETURN = r"""
msg:
  description: O(fail_msg) or O(success_msg).
  returned: always
  type: str
assertion:
  description: The first condition that was false.
  returned: failed
  type: str
evaluated_to:
  description: What that condition evaluated to.
  returned: failed
  type: bool
setting_error:
  description: V(true) when a condition failed and O(outcome=setting_error).
  returned: failed, with that outcome
  type: bool
refused:
  description: V(true) when a condition failed and O(outcome=refused).
  returned: failed, with that outcome
  type: bool
invariants_failed:
  description: V(true) when a condition failed and O(outcome=invariants_failed).
  returned: failed, with that outcome
  type: bool
"""
