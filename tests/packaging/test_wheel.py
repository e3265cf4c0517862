"""The wheel and the collection tarball work on their own, outside this checkout.

The wheel: built from a copy of the tree, installed into a fresh venv (its dependencies from
the pip cache / PyPI), then the README's pipeline job runs, command for command, in an empty
folder with no checkout on sys.path: ``hastack init``, deploy, check, destroy, against the
embedded emulator the wheel's own ``python -m hastack.emulator`` starts. The tarball:
``ansible-galaxy collection build`` + ``install``, then ``ansible-playbook hastack.stack.site``
from a folder outside the repository. Both assert on what the emulator holds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hastack import api
from hastack import emulator as hastack_emulator
from tests.stack_shape import assert_exact_stack
from tests.support import ROOT, stack_leftovers

BIN = Path(sys.executable).parent
COLLECTION = "ansible_collections/hastack/stack/"
# Never part of a build: local state, caches, other tools' output.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".hastack", ".collections", "build", "dist", "*.egg-info", "__pycache__",
    ".pytest_cache", ".ruff_cache", ".ansible", "staticfiles",
)  # fmt: skip
# Variables that would let the installed hastack find this checkout, an emulator or an account.
_LEAKY_ENV = re.compile(r"^(PYTHONPATH|HASTACK_.*|AWS_.*|ANSIBLE_.*|VIRTUAL_ENV)$")
_SUBSTITUTE = {"--env dev": "--env local", "${{ github.event.number }}": "1"}


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tree as committed plus local edits, without state or stale build output."""
    tree = tmp_path_factory.mktemp("source") / "hastack"
    shutil.copytree(ROOT, tree, ignore=_NOT_SOURCE, symlinks=True)
    return tree


@pytest.fixture(scope="session")
def wheel(source: Path) -> Path:
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(source / "dist"), str(source)])
    (found,) = (source / "dist").glob("hastack-*.whl")
    return found


@pytest.fixture(scope="session")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel (and its dependencies) installed; its bin folder."""
    venv = tmp_path_factory.mktemp("wheel-venv")
    _run([sys.executable, "-m", "venv", str(venv)])
    # No byte-compiling: the ansible package alone is thousands of files.
    _run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", str(wheel)])
    return venv / "bin"


def _readme_pipeline() -> list[str]:
    """The `run:` commands of the README's GitHub Actions job, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### In a pipeline", 1)[1]
    block = section.split("```yaml", 1)[1].split("```", 1)[0]
    steps = yaml.safe_load(block)["jobs"]["review-stack"]["steps"]
    return [step["run"] for step in steps if "run" in step]


def _as_test_runs(command: str, wheel: Path) -> str:
    """The README's command against the emulator: --env local, stack pr-1, this wheel."""
    for old, new in _SUBSTITUTE.items():
        command = command.replace(old, new)
    return re.sub(r"^pip install hastack\b", f"pip install --no-compile {wheel}", command)


@pytest.fixture
def project(wheel_venv: Path, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """An empty folder, and an environment that knows only the fresh venv: no checkout, no
    emulator, no account, no state dir (the project's own .hastack/ is the default)."""
    work = tmp_path / "project"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not _LEAKY_ENV.match(k)}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != BIN]
    env["PATH"] = os.pathsep.join([str(wheel_venv), *path])
    env.update(hastack_emulator.DUMMY_CREDENTIALS)
    yield work, env
    # The emulator the run started, by its recorded pid, whatever happened.
    hastack = str(wheel_venv / "hastack")
    subprocess.run([hastack, "emulator", "stop"], env=env, cwd=work, check=False)
    if emu := hastack_emulator.status(work / ".hastack"):  # pragma: no cover - stop failed
        os.kill(emu.pid, 9)


def test_wheel_carries_what_the_tarball_does(wheel: Path, source: Path, tmp_path: Path) -> None:
    """The wheel's collection is exactly what ``ansible-galaxy collection build`` ships."""
    _run([str(BIN / "ansible-galaxy"), "collection", "build", str(source), "--output-path",
          str(tmp_path)])  # fmt: skip
    (tarball,) = tmp_path.glob("hastack-stack-*.tar.gz")
    with tarfile.open(tarball) as tar:
        in_tarball = {m.name for m in tar.getmembers() if m.isfile()}
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
    in_wheel = {n.removeprefix(COLLECTION) for n in names if n.startswith(COLLECTION)}
    assert in_wheel - {"galaxy.yml"} == in_tarball - {"MANIFEST.json", "FILES.json"}
    assert {"playbooks/site.yml", "meta/runtime.yml", "roles/vpc/tasks/main.yml"} <= in_wheel
    templates = {n for n in names if n.startswith("hastack/templates/project/")}
    assert "hastack/templates/project/inventories/local/hosts.yml" in templates
    assert "hastack/templates/project/.gitignore" in templates


def test_readme_pipeline_runs_from_the_wheel(
    wheel: Path, wheel_venv: Path, project: tuple[Path, dict[str, str]]
) -> None:
    work, env = project
    commands = [_as_test_runs(c, wheel) for c in _readme_pipeline()]
    verbs = [c.split()[1] for c in commands if c.startswith("hastack ")]
    assert verbs == ["deploy", "check", "destroy"], commands
    assert any("hastack init" in c for c in commands), commands
    endpoint = ""
    for command in commands:
        proc = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", command],
            cwd=work, env=env, capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, f"{command!r} exited {proc.returncode}:\n{proc.stderr}"
        if command.startswith("hastack deploy"):
            status = _run([str(wheel_venv / "hastack"), "emulator", "status", "--format",
                           "json"], cwd=work, env=env)  # fmt: skip
            endpoint = json.loads(status.stdout)["endpoint"]
            assert_exact_stack(endpoint, "pr-1")
            deployed = json.loads((work / "deploy.json").read_text())
            assert deployed["exit_code"] == 0
            # The wheel's collection ran, in the project's state dir, not this checkout's.
            assert str(ROOT) not in json.dumps(deployed)
            assert deployed["artifacts_dir"].startswith(str(work / ".hastack" / "runs"))
            assert (work / ".hastack" / "outputs" / "pr-1.json").is_file()
        if command.startswith("hastack check"):
            assert "<testsuite" in (work / "check.xml").read_text()
    assert endpoint, "the README's job never deployed"
    assert stack_leftovers(endpoint, "pr-1") == []
    assert sorted(p.name for p in (work / "inventories").iterdir()) == ["dev", "local", "prod"]


def test_collection_tarball_deploys_outside_the_repo(
    source: Path, aws_env: str, tmp_path: Path
) -> None:
    """Galaxy users: the tarball alone, run by FQCN from a folder that is not the checkout."""
    _run([str(BIN / "ansible-galaxy"), "collection", "build", str(source), "--output-path",
          str(tmp_path)])  # fmt: skip
    (tarball,) = tmp_path.glob("hastack-stack-*.tar.gz")
    collections = tmp_path / "collections"
    # amazon.aws and community.aws come from the pip `ansible` package: no Galaxy, offline.
    project = tmp_path / "project"
    api.init(project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "HASTACK_P"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), HASTACK_STATE_DIR=str(tmp_path / "s"))
    # From the project, not the checkout: its ansible.cfg would show the checkout's link.
    _run([str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p",
          str(collections), "--no-deps"], cwd=project, env=env)  # fmt: skip
    # The tarball's copy is the only hastack.stack Ansible can find: no checkout link, no wheel.
    assert (collections / COLLECTION / "MANIFEST.json").is_file()
    listing = [str(BIN / "ansible-galaxy"), "collection", "list", "hastack.stack"]
    listing += ["--format", "json"]
    found = json.loads(_run(listing, cwd=project, env=env).stdout)
    assert list(found) == [str(collections / "ansible_collections")], found
    stack = "pkg-galaxy"
    play = [str(BIN / "ansible-playbook"), "-i", "inventories/local", "-e", f"stack_name={stack}"]
    try:
        _run([*play, "hastack.stack.site"], cwd=project, env=env, timeout=600)
        assert_exact_stack(aws_env, stack)
    finally:
        _run([*play, "hastack.stack.destroy"], cwd=project, env=env, timeout=600)
    assert stack_leftovers(aws_env, stack) == []
