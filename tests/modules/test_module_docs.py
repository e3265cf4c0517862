"""Every module of the project documents itself the way ansible-doc reads it.

DOCUMENTATION, EXAMPLES and RETURN are YAML inside Python strings: a stray ": " breaks
``ansible-doc`` (and any docs site) without breaking the module, so nothing else notices. This
runs ansible-doc on all of them at once and checks each module's documented options against
the argument spec it really takes.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import BIN, ROOT

MODULES = sorted(ROOT.glob("plugins/modules/*.py"), key=lambda p: p.stem)
# Options every amazon.aws module takes through its documentation fragments.
AWS_COMMON = {
    "access_key", "secret_key", "session_token", "profile", "endpoint_url", "aws_ca_bundle",
    "validate_certs", "aws_config", "debug_botocore_endpoint_logs", "region",
}  # fmt: skip


def argument_spec(path: Path) -> set[str] | None:
    """The option names of the module's ``argument_spec={...}`` literal (None if not literal)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "argument_spec" and isinstance(kw.value, ast.Dict):
                    return {k.value for k in kw.value.keys if isinstance(k, ast.Constant)}
    return None


def doc_strings(path: Path) -> dict[str, str]:
    return {
        node.targets[0].id: node.value.value
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN")
        and isinstance(node.value, ast.Constant)
    }


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_documentation_is_yaml_and_matches_the_argument_spec(path: Path) -> None:
    docs = doc_strings(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, path
    parsed = {name: yaml.safe_load(text) for name, text in docs.items()}
    assert parsed["DOCUMENTATION"]["module"] == path.stem
    documented = set(parsed["DOCUMENTATION"].get("options") or {})
    spec = argument_spec(path)
    if spec is not None:
        assert documented == spec, f"{path.stem}: documented {documented} != spec {spec}"


def test_ansible_doc_reads_every_module() -> None:
    names = [f"hastack.stack.{p.stem}" for p in MODULES]
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "module", "--json", *names],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    docs = json.loads(proc.stdout)
    assert sorted(docs) == sorted(names), proc.stderr[-3000:]

    for name, doc in docs.items():
        options = set(doc["doc"].get("options") or {}) - AWS_COMMON
        assert options, f"{name}: no options documented"


def test_ansible_doc_lists_every_module_of_the_collection() -> None:
    """`ansible-doc -l hastack.stack` names exactly the files under plugins/modules."""
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "module", "-l", "--json", "hastack.stack"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(json.loads(proc.stdout)) == sorted(f"hastack.stack.{p.stem}" for p in MODULES)
