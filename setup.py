"""The wheel carries the collection hastack.stack beside the ``hastack`` package.

pyproject.toml holds every piece of metadata; this file only adds a build step. It copies the
files ``ansible-galaxy collection build`` keeps (everything galaxy.yml's ``build_ignore`` does
not name: galaxy.yml, meta/, plugins/, roles/, playbooks/, docs/, README.md, CHANGELOG.md)
to ``ansible_collections/hastack/stack/`` in the wheel, so ``pip install hastack`` puts them in
site-packages beside the ``ansible`` package's collections, where ansible-core finds them with
no configuration. An editable install skips the copy: it runs the checkout, which is the
collection.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

import yaml
from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# What ansible-galaxy leaves out of every collection, whatever build_ignore says: paths
# (matched against the path from the root) and folder names (at any depth).
ALWAYS_IGNORED = ("*.pyc", "*.retry", "tests/output", ".git", "hastack-stack-*.tar.gz")
IGNORED_DIRS = frozenset({"CVS", ".bzr", ".hg", ".git", ".svn", "__pycache__", ".tox"})


def collection_files(root: Path = ROOT) -> list[str]:
    """The collection's files, relative to ``root``, as ``ansible-galaxy collection build``
    selects them (plus galaxy.yml, which the tarball turns into MANIFEST.json)."""
    galaxy = yaml.safe_load((root / "galaxy.yml").read_text())
    patterns = (*ALWAYS_IGNORED, *(galaxy.get("build_ignore") or ()))

    def ignored(rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, p) for p in patterns)

    found = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        prefix = "" if base == "." else f"{base}/"
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS and not ignored(prefix + d))
        found.extend(prefix + f for f in sorted(files) if not ignored(prefix + f))
    return found


class build_py_with_collection(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "ansible_collections" / "hastack" / "stack"
        shutil.rmtree(target, ignore_errors=True)
        for rel in collection_files():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target / rel)


setup(cmdclass={"build_py": build_py_with_collection})
