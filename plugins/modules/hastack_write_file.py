#!/usr/bin/python
"""Write a small text file (the stack outputs), creating its folder: one module call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hastack_write_file
short_description: Write a text file, creating missing parent folders
description:
  - What C(ansible.builtin.file) (the folder) and C(ansible.builtin.copy) (the content) do in two
    module runs, in one. Changed only when the content or mode differs. Supports check mode and
    diff.
options:
  path:
    description: The file to write.
    type: path
    required: true
  content:
    description: The whole text of the file.
    type: str
    required: true
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
"""

RETURN = r"""
path:
  description: The file written.
  returned: always
  type: str
"""

import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "content": {"type": "str", "required": True},
            "mode": {"type": "str", "default": "0644"},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    content = module.params["content"]
    try:
        mode = int(module.params["mode"], 8)
    except ValueError:
        module.fail_json(msg=f"mode: {module.params['mode']!r} is not an octal mode such as 0644")
    before = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            before = handle.read()
    same_mode = before is not None and stat.S_IMODE(os.stat(path).st_mode) == mode
    changed = before != content or not same_mode
    diff = {"before": before or "", "after": content, "before_header": path, "after_header": path}
    if changed and not module.check_mode:
        folder = os.path.dirname(path) or "."
        os.makedirs(folder, mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".hastack-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
    module.exit_json(changed=changed, path=path, diff=diff)


if __name__ == "__main__":
    main()
