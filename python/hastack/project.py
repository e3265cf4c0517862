"""The project a run works in: its inventories, its state dir, and the playbooks it runs.

A project is a folder with ``inventories/<env>/`` (``hastack init`` writes one; the checkout
is one too). Which project, first match wins:

1. ``--project DIR`` (the API's ``project=``);
2. ``HASTACK_PROJECT_DIR``;
3. the current directory, if it has ``inventories/``;
4. the checkout hastack runs from (an editable install).

The playbooks: a project's own root ``site.yml``/``destroy.yml``/``check.yml`` if it has them
(the checkout's one-liners, which keep its playbook-adjacent ``group_vars/``), else the
collection's (``hastack.stack.site`` ...), from the checkout or from the installed wheel.
"""

from __future__ import annotations

import os
from pathlib import Path

from hastack import collection
from hastack.errors import SettingError

# What the checkout's ansible.cfg sets, for projects without an ansible.cfg of their own, so
# a run behaves the same wherever it starts (timings per task, no fact gathering ...).
_DEFAULT_ANSIBLE_SETTINGS = {
    "ANSIBLE_INTERPRETER_PYTHON": "auto_silent",
    "ANSIBLE_HOST_KEY_CHECKING": "False",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
    "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
    "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
    "ANSIBLE_GATHERING": "explicit",
    "ANSIBLE_INVENTORY_ENABLED": "ansible.builtin.yaml,ansible.builtin.ini",
}
# ansible-core's own collections_path, after hastack's: users' collections still resolve.
_ANSIBLE_COLLECTIONS = ("~/.ansible/collections", "/usr/share/ansible/collections")


def resolve(project: Path | str | None = None) -> Path:
    """The project folder (see the module's docstring for the order)."""
    if project is not None:
        return _existing(Path(project), "project", "--project")
    if env := os.environ.get("HASTACK_PROJECT_DIR"):
        return _existing(Path(env), "project", "HASTACK_PROJECT_DIR")
    here = Path.cwd()
    if (here / "inventories").is_dir():
        return here.resolve()
    found = collection.checkout()
    if found is not None:
        return found
    raise SettingError(
        "project",
        f"no hastack project here ({here} has no inventories/): run `hastack init` to "
        "write one, cd into one, or pass --project DIR",
    )


def _existing(path: Path, setting: str, given_by: str) -> Path:
    if not path.is_dir():
        raise SettingError(setting, f"{given_by} {path} is not a folder")
    return path.resolve()


def state_dir(project: Path) -> Path:
    """Where runs keep their state: ``HASTACK_STATE_DIR``, else ``<project>/.hastack``."""
    env = os.environ.get("HASTACK_STATE_DIR")
    return Path(env).resolve() if env else project / ".hastack"


def playbook(project: Path, name: str) -> Path:
    """The playbook ``name`` (site, destroy, check) a run in ``project`` uses."""
    own = project / f"{name}.yml"
    return own if own.is_file() else collection.playbook(name)


def ansible_env(project: Path) -> dict[str, str]:
    """The Ansible settings of a run in ``project``: its ansible.cfg if it has one, else the
    checkout's defaults as environment variables; the wrapper's own collection first."""
    cfg = project / "ansible.cfg"
    env = {"ANSIBLE_CONFIG": str(cfg)} if cfg.is_file() else dict(_DEFAULT_ANSIBLE_SETTINGS)
    paths = (str(collection.collections_path()), *_ANSIBLE_COLLECTIONS)
    env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(paths)
    return env
