#!/usr/bin/python
"""Write or remove a small text file (the stack outputs), creating its folder.

The collection's action plugin of the same name (plugins/action/write_file.py) runs this file's
code on the controller without a module run when the connection is local; for any other
connection this runs as an ordinary module on the host.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: write_file
short_description: Write a text file, creating missing parent folders
description:
  - What C(ansible.builtin.file) (the folder) and C(ansible.builtin.copy) (the content) do in two
    module runs, in one (and, through its action plugin, in none). Changed only when the
    content or mode differs. Supports check mode and diff.
  - "Upstream: nothing is missing (ansible.builtin.file then ansible.builtin.copy do it); this
    module saves their two module start-ups, which keeps the no-op re-deploy within its goal
    (docs/DESIGN.md)."
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
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Write the outputs
  hastack.stack.write_file:
    path: "{{ hastack_state_dir }}/outputs/{{ stack_name }}.json"
    content: "{{ hastack_outputs | to_nice_json }}\n"

- name: Remove them
  hastack.stack.write_file:
    path: "{{ hastack_state_dir }}/outputs/{{ stack_name }}.json"
    state: absent
"""

RETURN = r"""
path:
  description: The file written or removed.
  returned: always
  type: str
"""

import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def write(path: str, content: str, mode: int, check_mode: bool) -> tuple[bool, dict]:
    """Write ``content`` to ``path`` (atomically, folders made) unless it is already so."""
    before = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            before = handle.read()
    same_mode = before is not None and stat.S_IMODE(os.stat(path).st_mode) == mode
    changed = before != content or not same_mode
    if changed and not check_mode:
        folder = os.path.dirname(path) or "."
        os.makedirs(folder, mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".hastack-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)  # atomic on one file system
    diff = {"before": before or "", "after": content, "before_header": path, "after_header": path}
    return changed, diff


def remove(path: str, check_mode: bool) -> tuple[bool, dict]:
    """Remove ``path`` if it exists."""
    if not os.path.exists(path):
        return False, {"before": "", "after": "", "before_header": path}
    with open(path, encoding="utf-8") as handle:
        before = handle.read()
    if not check_mode:
        os.remove(path)
    return True, {"before": before, "after": "", "before_header": path}


def run(params: dict, check_mode: bool) -> dict:
    """The module's result for ``params`` (path, content, mode, state), or failed with msg."""
    path = str(params.get("path") or "")
    state = params.get("state") or "present"
    if not path or state not in ("present", "absent"):
        return {"failed": True, "msg": "path is required and state must be present or absent"}
    if state == "absent":
        changed, diff = remove(path, check_mode)
        return {"changed": changed, "path": path, "diff": diff}
    if params.get("content") is None:
        return {"failed": True, "msg": "content is required with state=present"}
    try:
        mode = int(str(params.get("mode") or "0644"), 8)
    except ValueError:
        return {
            "failed": True,
            "msg": f"mode: {params.get('mode')!r} is not an octal mode such as 0644",
        }
    changed, diff = write(path, str(params["content"]), mode, check_mode)
    return {"changed": changed, "path": path, "diff": diff}


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
    result = run(module.params, module.check_mode)
    if result.get("failed"):
        module.fail_json(msg=result["msg"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
