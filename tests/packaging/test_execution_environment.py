"""The execution environment (execution-environment.yml) builds what AWX needs.

``ansible-builder create`` writes the build context (a Containerfile and ``_build/``) with no
container engine and no network, so this checks the context it writes: the base image, the
Python and Ansible it installs, the collections and Python packages, and the settings the
checkout needs under AWX. Each expected value is read from the file that owns it
(pyproject.toml, galaxy.yml, meta/runtime.yml, ansible.cfg), so the EE cannot drift from them.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.support import BIN, ROOT

BASE_IMAGE = "registry.access.redhat.com/ubi9/ubi:latest"
PYTHON = "/usr/bin/python3.11"
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"


def isolated_env(home: Path) -> dict[str, str]:
    """Ansible's own state (galaxy cache, temp files) goes under the test's folder, and no
    collection installed elsewhere on the machine counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_HOME"] = str(home)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(home / "collections")
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build context of the repository's EE, next to a freshly built collection tarball.

    The EE file is copied out so that its relative paths (build/<tarball>) resolve in the
    test's folder, never in the work tree.
    """
    work = tmp_path_factory.mktemp("ee")
    env = isolated_env(work / "ansible-home")
    shutil.copy(ROOT / "execution-environment.yml", work)
    galaxy = str(BIN / "ansible-galaxy")
    run([galaxy, "collection", "build", str(ROOT), "--output-path", str(work / "build")], work, env)
    # podman's file name, whatever engine (if any) the machine happens to have.
    builder = [
        sys.executable,
        "-m",
        "ansible_builder",
        "create",
        "--output-filename",
        "Containerfile",
    ]
    run([*builder, "-f", "execution-environment.yml", "-c", str(work / "context")], work, env)
    return work / "context"


@pytest.fixture(scope="module")
def containerfile(context: Path) -> str:
    return (context / "Containerfile").read_text()


@pytest.fixture(scope="module")
def collections(context: Path) -> list[dict[str, Any]]:
    return yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"]


def final_stage(containerfile: str) -> str:
    _, marker, final = containerfile.partition("FROM base AS final")
    assert marker, containerfile
    return final


def build_arg(containerfile: str, name: str) -> str:
    """The default value of a top-level ``ARG name="value"``."""
    prefix = f'ARG {name}="'
    lines = [line for line in containerfile.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"{prefix} in {containerfile}"
    return lines[0].removeprefix(prefix).removesuffix('"')


def pyproject_requirement(name: str) -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == name]
    assert len(found) == 1, name
    return found[0]


def test_the_base_image_and_python_are_what_ansible_core_needs(containerfile: str) -> None:
    assert build_arg(containerfile, "EE_BASE_IMAGE") == BASE_IMAGE
    assert build_arg(containerfile, "PYPKG") == "python3.11"
    assert build_arg(containerfile, "PYCMD") == PYTHON
    base = containerfile.partition("# Galaxy build stage")[0]
    assert "FROM $EE_BASE_IMAGE AS base" in base
    assert "RUN $PKGMGR install $PYPKG -y" in base
    assert "RUN $PYCMD -m pip install --no-cache-dir $ANSIBLE_INSTALL_REFS" in base


def test_ansible_core_and_runner_are_the_tested_ranges(containerfile: str) -> None:
    installed = {
        r.name: r
        for r in map(Requirement, build_arg(containerfile, "ANSIBLE_INSTALL_REFS").split())
    }
    assert set(installed) == {"ansible-core", "ansible-runner"}
    for name in installed:
        assert installed[name].specifier == pyproject_requirement(name).specifier, name
    # meta/runtime.yml's requires_ansible admits exactly the same releases.
    requires = SpecifierSet(
        yaml.safe_load((ROOT / "meta/runtime.yml").read_text())["requires_ansible"]
    )
    for version in ("2.18.9", "2.19.0", "2.19.14", "2.20.0"):
        assert (version in installed["ansible-core"].specifier) == (version in requires), version


def test_the_build_runs_every_stage_in_order(containerfile: str) -> None:
    stages = [line for line in containerfile.splitlines() if line.startswith("FROM ")]
    assert stages == [
        "FROM $EE_BASE_IMAGE AS base",
        "FROM base AS galaxy",
        "FROM base AS builder",
        "FROM base AS final",
    ]
    galaxy = containerfile.partition("FROM base AS galaxy")[2].partition("FROM base AS builder")[0]
    # _build/ (requirements and the tarball) becomes /build, where the install runs.
    assert galaxy.index("COPY _build /build") < galaxy.index("WORKDIR /build")
    assert (
        "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml"
        ' --collections-path "/usr/share/ansible/collections"'
    ) in galaxy
    final = final_stage(containerfile)
    assert "COPY --from=galaxy /usr/share/ansible /usr/share/ansible" in final
    assert "RUN /output/scripts/check_ansible $PYCMD" in final
    assert "RUN /output/scripts/install-from-bindep" in final


def test_the_image_runs_the_way_awx_starts_it(containerfile: str) -> None:
    final = final_stage(containerfile)
    assert "LABEL ansible-execution-environment=true" in final
    assert "WORKDIR /runner" in final
    assert final.rstrip().splitlines()[-3:] == [
        "USER 1000",
        'ENTRYPOINT ["/opt/builder/bin/entrypoint", "dumb-init"]',
        'CMD ["bash"]',
    ]


def test_the_collection_goes_in_from_its_own_tarball(
    context: Path, collections: list[dict[str, Any]]
) -> None:
    local = [c for c in collections if c.get("type") == "file"]
    assert local == [{"name": f"collections/{TARBALL}", "type": "file"}]
    tarball = context / "_build" / local[0]["name"]
    assert tarball.is_file(), (
        f"{tarball}: the EE names a tarball galaxy.yml's version does not make"
    )
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("MANIFEST.json")
        assert member, tarball
        manifest = json.load(member)["collection_info"]
        names = set(tar.getnames())
    assert (manifest["namespace"], manifest["name"]) == ("hastack", "stack")
    assert manifest["version"] == GALAXY["version"]
    assert {
        "meta/runtime.yml",
        "playbooks/site.yml",
        "playbooks/check.yml",
        "playbooks/destroy.yml",
    } <= names


def test_the_tarball_installs_from_the_build_folder(
    context: Path, collections: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The galaxy stage runs ``ansible-galaxy collection install -r requirements.yml`` in
    /build; the same install of the file entry, here in _build, finds the tarball."""
    build = tmp_path / "build"
    shutil.copytree(context / "_build", build)
    only_local = {"collections": [c for c in collections if c.get("type") == "file"]}
    (build / "local.yml").write_text(yaml.safe_dump(only_local))
    env = isolated_env(tmp_path / "ansible-home")
    target = tmp_path / "ansible-home" / "collections"
    install = [str(BIN / "ansible-galaxy"), "collection", "install", "-r", "local.yml"]
    run([*install, "--no-deps", "--collections-path", str(target)], build, env)
    installed = target / "ansible_collections" / "hastack" / "stack"
    assert (
        json.loads((installed / "MANIFEST.json").read_text())["collection_info"]["version"]
        == GALAXY["version"]
    )
    assert (installed / "playbooks" / "site.yml").is_file()


def test_the_aws_collections_are_the_ranges_the_collection_depends_on(
    collections: list[dict[str, Any]],
) -> None:
    versions = {c["name"]: c.get("version") for c in collections if c.get("type") != "file"}
    for name, version in GALAXY["dependencies"].items():
        assert versions.get(name) == version, name
    assert {"amazon.aws", "community.aws"} <= set(versions)


def test_every_collection_ansible_cfg_names_is_in_the_image(
    collections: list[dict[str, Any]],
) -> None:
    """AWX runs the checkout with its ansible.cfg: a callback it enables must exist in the EE."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    callbacks = [
        c.strip() for c in cfg.get("defaults", "callbacks_enabled", fallback="").split(",")
    ]
    needed = {".".join(c.split(".")[:2]) for c in callbacks if c.count(".") == 2}
    needed.discard("ansible.builtin")
    assert needed, "ansible.cfg enables no collection callback: drop ansible.posix from the EE"
    assert needed <= {c["name"] for c in collections}


def test_boto3_and_botocore_are_installed(context: Path) -> None:
    lines = (context / "_build" / "requirements.txt").read_text().split()
    requirements = {r.name: r for r in map(Requirement, lines)}
    assert set(requirements) == {"boto3", "botocore"}
    assert requirements["boto3"].specifier == pyproject_requirement("boto3").specifier
    # Each boto3 release needs the botocore of its own minor version.
    assert requirements["botocore"].specifier == requirements["boto3"].specifier


def test_awx_jobs_read_their_inventory_and_write_their_outputs(containerfile: str) -> None:
    """AWX passes the inventory as a script; the checkout's ansible.cfg must not switch that
    plugin off. The outputs file goes where the EE's user can write."""
    env = {}
    for line in final_stage(containerfile).splitlines():
        if line.startswith("ENV ") and "=" in line:
            key, _, value = line.removeprefix("ENV ").partition("=")
            env[key] = value
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    checkout = {p.strip() for p in cfg.get("inventory", "enable_plugins").split(",")}
    enabled = set(env["ANSIBLE_INVENTORY_ENABLED"].split(","))
    assert enabled == checkout | {"ansible.builtin.script"}
    assert env["HASTACK_STATE_DIR"] == "/tmp/hastack"  # noqa: S108 - inside the container
