"""``hastack init`` and the project a run works in (``hastack.project``).

In-process and offline: the starter project's files, its refusal to overwrite, and which
project, playbooks, state dir and Ansible settings a run would use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hastack import api, cli, collection, project
from tests.support import ROOT

ENVS = ("dev", "local", "prod")


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.cli, list(args), catch_exceptions=False)


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder as the cwd, no project or state dir in the environment."""
    for name in ("HASTACK_PROJECT_DIR", "HASTACK_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_writes_a_project_with_every_environment(elsewhere: Path) -> None:
    result = _invoke("init", "shop", "--format", "json")
    assert result.exit_code == 0, result.output
    root = elsewhere / "shop"
    assert json.loads(result.output)["project"] == str(root)
    assert sorted(p.name for p in (root / "inventories").iterdir()) == list(ENVS)
    for env in ENVS:
        host = _yaml(root / "inventories" / env / "hosts.yml")["hastack"]["hosts"]["localhost"]
        assert host == {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        }
        shared = root / "inventories" / env / "group_vars" / "all"
        assert shared.is_symlink()
        assert shared.resolve() == (root / "group_vars" / "all").resolve()
        assert _yaml(shared / "stack.yml")["stack_name"] == "hastack-{{ stack_environment }}"
    assert (root / "README.md").read_text().startswith("# A hastack project")
    assert (root / ".gitignore").read_text().splitlines()[-1] == ".hastack/"


def test_starter_settings_are_the_checkouts() -> None:
    """The templates are copies of the checkout's settings: a change there must reach them."""
    starter = Path(api.__file__).parent / "templates" / "project"
    pairs = [(f"group_vars/all/{p.name}", p) for p in (ROOT / "group_vars" / "all").glob("*.yml")]
    for env in ENVS:
        for rel in ("hosts.yml", "group_vars/hastack/main.yml"):
            pairs.append((f"inventories/{env}/{rel}", ROOT / "inventories" / env / rel))
    assert len(pairs) == len(list((ROOT / "group_vars" / "all").glob("*.yml"))) + 6
    for rel, checkout in pairs:
        assert _yaml(starter / rel) == _yaml(checkout), f"{rel} differs from {checkout}"
    settings = _yaml(starter / "group_vars/all/stack.yml")
    for name in ("stack_name", "stack_environment", "stack_extra_tags", "stack_tags",
                 "aws_region", "hastack_emulator", "hastack_state_dir"):  # fmt: skip
        assert name in settings, name
    local = _yaml(starter / "inventories/local/group_vars/hastack/main.yml")
    assert local["preflight_emulator_command"][1:3] == ["-m", "hastack.emulator"]


def test_starter_first_settings_show_the_role_defaults() -> None:
    """settings.yml shows, commented out, the settings users reach for first: each one with
    the value its role's defaults really hold, so uncommenting a line changes nothing."""
    text = (Path(api.__file__).parent / "templates/project/group_vars/all/settings.yml").read_text()
    body = [line.removeprefix("# ") for line in text.splitlines() if line.startswith("# ")]
    # A setting is "name: value" (and its indented lines); the rest is prose.
    shown = yaml.safe_load("\n".join(b for b in body if re.match(r"^([a-z_]+:( |$)|  )", b)))
    defaults: dict = {}
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")):
        defaults |= _yaml(path)
    assert len(shown) >= 12, shown
    for name, value in shown.items():
        assert name in defaults, f"{name} is no role's default"
        assert defaults[name] == value, f"{name}: shown {value!r}, default {defaults[name]!r}"


def test_init_refuses_to_overwrite_and_force_does(elsewhere: Path) -> None:
    assert _invoke("init").exit_code == 0
    edited = elsewhere / "inventories" / "dev" / "group_vars" / "hastack" / "main.yml"
    edited.write_text("stack_environment: mine\n")
    refused = _invoke("init")
    assert refused.exit_code == int(api.ExitCode.REFUSED)
    assert "README.md" in refused.output  # names a file it would overwrite
    assert "--force" in refused.output  # and the fix
    assert edited.read_text() == "stack_environment: mine\n"  # nothing written
    assert _invoke("init", "--force").exit_code == 0
    assert _yaml(edited)["stack_environment"] == "dev"


def test_project_order_flag_env_cwd_checkout(
    elsewhere: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, env_dir, flag = (tmp_path_factory.mktemp(n) for n in ("here", "env", "flag"))
    for folder in (here, env_dir, flag):
        (folder / "inventories" / "local").mkdir(parents=True)
    monkeypatch.chdir(here)
    assert project.resolve() == here.resolve()
    monkeypatch.setenv("HASTACK_PROJECT_DIR", str(env_dir))
    assert project.resolve() == env_dir.resolve()
    assert project.resolve(flag) == flag.resolve()
    monkeypatch.delenv("HASTACK_PROJECT_DIR")
    monkeypatch.chdir(elsewhere)  # no inventories/: the checkout hastack runs from
    assert project.resolve() == collection.checkout()


def test_no_project_is_a_usage_error_naming_the_fix(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collection, "checkout", lambda: None)  # as from a wheel
    result = _invoke("deploy", "--env", "local")
    assert result.exit_code == int(api.ExitCode.USAGE)
    assert "hastack init" in result.output
    assert "--project" in result.output


def test_a_project_runs_the_collections_playbooks_with_the_checkouts_settings(
    elsewhere: Path,
) -> None:
    api.init(elsewhere)
    root = project.resolve()
    assert root == elsewhere.resolve()
    assert project.playbook(root, "site") == collection.root() / "playbooks" / "site.yml"
    assert project.state_dir(root) == root / ".hastack"
    env = project.ansible_env(root)
    assert "ANSIBLE_CONFIG" not in env
    assert env["ANSIBLE_GATHERING"] == "explicit"
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "ansible.posix.profile_tasks"
    assert env["ANSIBLE_INTERPRETER_PYTHON"] == "auto_silent"
    assert env["ANSIBLE_COLLECTIONS_PATH"].split(":")[0] == str(collection.collections_path())
    (root / "ansible.cfg").write_text("[defaults]\n")
    assert project.ansible_env(root)["ANSIBLE_CONFIG"] == str(root / "ansible.cfg")
    assert "ANSIBLE_GATHERING" not in project.ansible_env(root)
    # The project's own settings, through the collection's playbook folder (Ansible itself).
    assert api.list_envs() == list(ENVS)
    assert api.resolve_stack("prod") == "hastack-prod"


def test_the_checkout_keeps_its_own_playbooks_and_config() -> None:
    root = collection.checkout()
    assert root is not None
    assert project.playbook(root, "site") == root / "site.yml"
    assert project.ansible_env(root)["ANSIBLE_CONFIG"] == str(root / "ansible.cfg")
