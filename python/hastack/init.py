"""``hastack init``: write a starter project (inventories local, dev and prod, shared settings).

The templates ship in the package (``hastack/templates/project/``). Each inventory's
``group_vars/all`` is a link to the project's ``group_vars/all``, as in the checkout, so the
shared settings live once. Nothing is written when any file is already there, unless
``force``: a re-run never clobbers settings someone edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from hastack.errors import RefusedError, SettingError

ENVS = ("local", "dev", "prod")
_SHARED = Path("group_vars", "all")
_LINK = Path("..", "..", "..", "group_vars", "all")  # from inventories/<env>/group_vars/


@dataclass(frozen=True)
class InitResult:
    """What ``init`` wrote: the project folder and its files, relative to it."""

    project: str
    written: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "command": "init",
            "ok": True,
            "exit_code": 0,
            "project": self.project,
            "written": list(self.written),
        }


def _templates() -> dict[str, str]:
    """Every template file, by its path in the project."""
    found: dict[str, str] = {}

    def walk(node: Traversable, rel: str) -> None:
        for child in node.iterdir():
            path = f"{rel}{child.name}"
            if child.is_dir():
                walk(child, f"{path}/")
            elif child.name != "__init__.py" and not child.name.endswith(".pyc"):
                found[path] = child.read_text()

    walk(resources.files("hastack").joinpath("templates", "project"), "")
    return dict(sorted(found.items()))


def init(directory: Path | str = ".", *, force: bool = False) -> InitResult:
    """Write the starter project into ``directory`` (created if missing)."""
    root = Path(directory).resolve()
    if root.exists() and not root.is_dir():
        raise SettingError("directory", f"{root} is a file, not a folder; name another DIR")
    files = _templates()
    links = {Path("inventories", env, "group_vars", "all"): _LINK for env in ENVS}
    existing = [rel for rel in files if (root / rel).exists() or (root / rel).is_symlink()]
    existing += [str(rel) for rel in links if (root / rel).exists() or (root / rel).is_symlink()]
    if existing and not force:
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if existing[3:] else "")
        raise RefusedError(
            f"hastack init would overwrite {shown} in {root}; nothing was written. "
            "Pass --force to overwrite them, or init another DIR"
        )
    for rel in links:
        target = root / rel
        if target.is_dir() and not target.is_symlink():
            raise RefusedError(f"{target} is a folder; move it away (its settings go in {_SHARED})")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, link in links.items():
        path = root / rel
        path.unlink(missing_ok=True)
        path.symlink_to(link, target_is_directory=True)
    return InitResult(str(root), tuple([*files, *map(str, links)]))
