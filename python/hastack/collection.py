"""Where the collection hastack.stack is, for a checkout and for an installed wheel.

The wrapper depends on the collection, never the other way round: it runs the collection's
playbooks and, for the checks it makes before a run, loads the collection's own module_utils
from their files (they need only the standard library and botocore).

- In a checkout, the repository root is the collection; ``make setup`` (or the first run)
  links it at ``.collections/ansible_collections/hastack/stack`` for ansible.cfg's
  ``collections_path``.
- From a wheel, the collection is installed as ``ansible_collections/hastack/stack`` in
  site-packages, beside the collections of the ``ansible`` package, where Ansible finds it
  with no configuration.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from hastack.errors import HastackError

NAMESPACE = "hastack"
NAME = "stack"
FQCN = f"{NAMESPACE}.{NAME}"
_CHECKOUT = Path(__file__).resolve().parents[2]
_INSTALLED = Path("ansible_collections") / NAMESPACE / NAME


def _is_collection(path: Path) -> bool:
    return (path / "meta" / "runtime.yml").is_file() and (path / "playbooks").is_dir()


def checkout() -> Path | None:
    """The repository this package runs from (an editable install), or None."""
    return _CHECKOUT if (_CHECKOUT / "galaxy.yml").is_file() and _is_collection(_CHECKOUT) else None


@cache
def root() -> Path:
    """The collection's folder: the checkout, else the installed copy on sys.path."""
    found = checkout()
    if found is not None:
        return found
    for entry in sys.path:
        candidate = Path(entry or ".") / _INSTALLED
        if _is_collection(candidate):
            return candidate.resolve()
    raise HastackError(
        f"the Ansible collection {FQCN} is not installed next to the hastack package; "
        "reinstall hastack (pip install --force-reinstall hastack)"
    )


def collections_path() -> Path:
    """A folder holding ``ansible_collections/hastack/stack`` (for ANSIBLE_COLLECTIONS_PATH)."""
    here = root()
    if here == checkout():
        link = here / ".collections" / _INSTALLED
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path("..", "..", ".."), target_is_directory=True)
        return here / ".collections"
    return here.parents[2]


def playbook(name: str) -> Path:
    """The path of one of the collection's playbooks (``site``, ``destroy``, ``check``)."""
    return root() / "playbooks" / f"{name}.yml"


@cache
def module_util(name: str) -> ModuleType:
    """One of the collection's ``plugins/module_utils`` files, loaded by path."""
    path = root() / "plugins" / "module_utils" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_hastack_collection_{name}", path)
    if spec is None or spec.loader is None:
        raise HastackError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
