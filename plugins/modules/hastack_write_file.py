#!/usr/bin/python
"""Write or remove a small text file (the stack outputs), creating its folder.

The work is done on the controller by the action plugin of the same name
(plugins/action/hastack_write_file.py), without a module run; this file documents it.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: hastack_write_file
short_description: Write a text file, creating missing parent folders
description:
  - What C(ansible.builtin.file) (the folder) and C(ansible.builtin.copy) (the content) do in two
    module runs, done on the controller without a module run (an action plugin). Changed only
    when the content or mode differs. Supports check mode and diff.
  - The file is always on the controller, where hastack runs (every hastack play does).
options:
  path:
    description: The file to write.
    type: path
    required: true
  content:
    description: The whole text of the file. Required with C(state=present).
    type: str
  state:
    description: C(present) writes the file, C(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description: Permissions of the file (the folders get 0755).
    type: str
    default: "0644"
author: hastack
"""

EXAMPLES = r"""
- name: Write the outputs
  hastack_write_file:
    path: "{{ hastack_state_dir }}/outputs/{{ stack_name }}.json"
    content: "{{ hastack_outputs | to_nice_json }}\n"

- name: Remove them
  hastack_write_file:
    path: "{{ hastack_state_dir }}/outputs/{{ stack_name }}.json"
    state: absent
"""

RETURN = r"""
path:
  description: The file written or removed.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "content": {"type": "str"},
            "mode": {"type": "str", "default": "0644"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        supports_check_mode=True,
    )
    module.fail_json(
        msg="hastack_write_file runs on the controller through its action plugin "
        "(plugins/action/hastack_write_file.py): add plugins/action to action_plugins, as "
        "the project's ansible.cfg does."
    )


if __name__ == "__main__":
    main()
