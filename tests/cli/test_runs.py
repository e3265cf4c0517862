"""Real ansible-playbook runs through the CLI against a tiny stand-in project (seconds each):
check.yml's contract (set_stats findings, the failing gate, changes in check mode as drift),
plan (--check --diff), interruption by SIGINT/SIGTERM, refusal by deletion protection, and
credentials kept out of every file a run writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from hastack import cli
from hastack.locking import StackLock
from hastack.results import json_schema

INVENTORY = (
    "hastack:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
    "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
)

# check.yml as the contract has it: an audit publishing hastack_check and failing its last task
# when a finding failed, with invariants_failed in its result (what tells the wrapper the audit
# ran). Drift is site.yml in check mode, which `hastack check` runs after it.
CHECK = textwrap.dedent("""\
    - name: Audit the live stack
      hosts: hastack
      gather_facts: false
      tasks:
        - name: Publish the findings
          ansible.builtin.set_stats:
            data:
              hastack_check:
                stack: "{{ stack_name }}"
                findings: "{{ findings }}"
            per_host: false
        - name: Check every invariant holds
          hastack.stack.require:
            outcome: invariants_failed
            that: findings | rejectattr('passed') | list | length == 0
            fail_msg: "{{ findings | rejectattr('passed') | map(attribute='id') | join(', ') }}"
""")

SITE = textwrap.dedent("""\
    - name: Deploy
      hosts: hastack
      gather_facts: false
      roles: [app]
      tasks:
        - name: Sleep a while
          ansible.builtin.command: sleep {{ sleep_s | default(0) }}
          changed_when: false
          when: sleep_s is defined
        # What preflight does for an emulator endpoint: credentials from the environment
        # into a fact (an event), and one printed (the stdout artifact).
        - name: Record the credentials
          ansible.builtin.set_fact:
            aws_env:
              AWS_SECRET_ACCESS_KEY: "{{ lookup('ansible.builtin.env', 'AWS_SECRET_ACCESS_KEY') }}"
          when: echo_secrets is defined
        - name: Print a token
          ansible.builtin.debug:
            msg: "token {{ lookup('ansible.builtin.env', 'AWS_SESSION_TOKEN') }}"
          when: echo_secrets is defined
""")

APP_ROLE = textwrap.dedent("""\
    - name: Write the config
      ansible.builtin.copy:
        content: "max_size: {{ max_size | default(5) }}\\n"
        dest: "{{ target_dir }}/config"
        mode: "0600"
    - name: Write the rules
      ansible.builtin.copy:
        content: "{{ item }}\\n"
        dest: "{{ target_dir }}/rule-{{ item }}"
        mode: "0600"
      loop: [80, 443]
    - name: Store the secret
      ansible.builtin.copy:
        content: "{{ secret_value | default('s') }}"
        dest: "{{ target_dir }}/secret"
        mode: "0600"
      no_log: true
""")

DESTROY = textwrap.dedent("""\
    - name: Destroy
      hosts: hastack
      gather_facts: false
      tasks:
        - name: Refuse a protected load balancer before deleting anything
          ansible.builtin.import_role:
            name: alb
            tasks_from: protection
""")

PROTECTION = textwrap.dedent("""\
    - name: protection | Refuse to delete a load balancer with deletion protection
      hastack.stack.require:
        outcome: refused
        that: not (protected | default(false)) or alb_confirm_delete_protected | default(false)
        fail_msg: Load balancer x-alb has deletion protection on; nothing was deleted.
""")

ALL = {"stack_name": "fake-stack"}
SCHEMA = json_schema()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    files = {
        "ansible.cfg": "[defaults]\nroles_path = ./roles\ngathering = explicit\n",
        "inventories/local/hosts.yml": INVENTORY,
        "inventories/local/group_vars/hastack.yml": json.dumps(
            {**ALL, "target_dir": str(tmp_path / "target")}
        ),
        "check.yml": CHECK,
        "site.yml": SITE,
        "destroy.yml": DESTROY,
        "roles/app/tasks/main.yml": APP_ROLE,
        "roles/alb/tasks/protection.yml": PROTECTION,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (tmp_path / "target").mkdir()
    monkeypatch.setenv("HASTACK_PROJECT_DIR", str(root))
    monkeypatch.setenv("HASTACK_STATE_DIR", str(tmp_path / "state"))
    return root


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(cli.cli, list(args), catch_exceptions=False)
    if "--format" in args and result.stdout.strip():
        jsonschema.validate(json.loads(result.stdout), SCHEMA)
    return result


def _findings(*failed: str) -> str:
    ids = ["network.vpc-dns", "security.no-ssh", *failed]
    return json.dumps(
        [
            {"id": i, "category": i.split(".")[0], "title": i, "passed": i not in failed,
             "evidence": f"evidence for {i}"}
            for i in ids
        ]
    )  # fmt: skip


def test_check_contract_clean_then_drift_then_failed_invariant(project: Path) -> None:
    assert _cli("deploy", "--format", "json").exit_code == 0  # converge first

    clean = _cli("check", "--var", f"findings={_findings()}", "--format", "json")
    assert clean.exit_code == cli.EXIT_OK, clean.stdout
    data = json.loads(clean.stdout)
    assert data["stack"] == "fake-stack"  # from the inventory
    assert [f["passed"] for f in data["findings"]] == [True, True]
    assert data["drift"] == []

    # drift: a value changed by hand and one loop item gone; the secret task changes too
    target = project.parent / "target"
    (target / "config").write_text("max_size: 9\n")
    (target / "rule-443").unlink()
    (target / "secret").write_text("tampered")
    drifted = _cli("check", "--var", f"findings={_findings()}", "--format", "json")
    assert drifted.exit_code == cli.EXIT_DRIFT, drifted.stdout
    drift = json.loads(drifted.stdout)["drift"]
    assert [(d["task"], d["item"]) for d in drift] == [
        ("app : Write the config", None),
        ("app : Write the rules", "443"),
        ("app : Store the secret", None),
    ]
    assert drift[0]["diff"][0]["before"] == "max_size: 9\n"
    assert drift[0]["diff"][0]["after"] == "max_size: 5\n"
    assert drift[2]["diff"] is None
    assert (target / "config").read_text() == "max_size: 9\n"  # check changed nothing

    text = _cli("check", "--var", f"findings={_findings()}")
    assert text.exit_code == cli.EXIT_DRIFT
    assert "drift:" in text.stdout
    assert "  app : Write the rules [443]" in text.stdout
    assert "+max_size: 5" in text.stdout

    failing = _cli("check", "--var", f"findings={_findings('edge.alb-https')}", "--format", "json")
    assert failing.exit_code == cli.EXIT_DRIFT
    data = json.loads(failing.stdout)
    assert data["status"] == "failed"
    assert [f["id"] for f in data["findings"] if not f["passed"]] == ["edge.alb-https"]
    assert data["failed_tasks"][0]["task"] == "Check every invariant holds"


def test_plan_shows_what_a_deploy_would_change(project: Path) -> None:
    assert _cli("deploy").exit_code == 0
    same = _cli("plan", "--format", "json")
    assert same.exit_code == cli.EXIT_OK, same.stdout
    assert json.loads(same.stdout)["drift"] == []

    pending = _cli("plan", "--var", "max_size=7", "--format", "json")
    assert pending.exit_code == cli.EXIT_DRIFT
    [item] = json.loads(pending.stdout)["drift"]
    assert item["task"] == "app : Write the config"
    assert "max_size: 7" in item["diff"][0]["after"]
    assert (project.parent / "target" / "config").read_text() == "max_size: 5\n"


def test_destroy_refused_by_deletion_protection_exits_4(project: Path) -> None:
    refused = _cli("destroy", "--var", "protected=true", "--format", "json")
    assert refused.exit_code == cli.EXIT_REFUSED
    data = json.loads(refused.stdout)
    assert data["status"] == "failed"
    assert "deletion protection" in data["message"]
    confirmed = _cli(
        "destroy", "--var", "protected=true", "--var", "alb_confirm_delete_protected=true"
    )
    assert confirmed.exit_code == cli.EXIT_OK


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_cancels_the_run_and_says_where(
    project: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    sleep_s = f"{60 + os.getpid() % 1000 / 1000:.3f}"  # a process of this test's own to find
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hastack",
            "deploy",
            "--var",
            f"sleep_s={sleep_s}",
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "Sleep a while" in line:
            break
    else:
        proc.kill()
        pytest.fail("never reached the task:\n" + "".join(seen))
    sent = time.monotonic()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10, "a cancel must not wait for the task to end"
    assert proc.returncode == cli.EXIT_INTERRUPTED
    data = json.loads(stdout)
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == "canceled"
    assert data["last_task"] == "Sleep a while"
    assert "interrupted during `Sleep a while`" in stderr
    assert "run `hastack deploy` again to converge it, or `hastack destroy`" in stderr
    assert "INTERRUPTED during Sleep a while: stopping ansible-playbook" in stderr
    # ansible-playbook and its sleep are gone, and so is the lock
    leftover = subprocess.run(
        ["pgrep", "-f", f"sleep {sleep_s}"], capture_output=True, text=True, check=False
    )
    assert leftover.stdout.strip() == ""
    with StackLock(tmp_path / "state", "local", "fake-stack", "deploy"):
        pass
    assert _cli("deploy").exit_code == 0  # and a re-run works


def test_credentials_in_the_environment_never_reach_a_file(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-unit-secret-key",
        "AWS_SESSION_TOKEN": "FwoGZXIvYXdzE-unit-session-token",
        "HASTACK_API_TOKEN": "tok-unit-123456",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    echo = ("--var", "echo_secrets=1")
    outputs = [_cli(cmd, *echo, "--var", f"findings={_findings()}") for cmd in ("deploy", "check")]
    outputs.append(_cli("plan", *echo, "--format", "json"))
    state = tmp_path / "state"
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "command" for p in files)  # the artifact that would carry them
    for value in secrets.values():
        hits = [str(p) for p in files if value in p.read_text(errors="replace")]
        assert hits == [], f"{value} written to {hits}"
        assert all(value not in r.output for r in outputs)
    env = json.loads(next(p for p in files if p.name == "command").read_text())["env"]
    assert {env[name] for name in secrets} == {"<redacted>"}
    # the playbook did echo them: where it did, the artifacts say so, without the values
    stdout = "".join(p.read_text() for p in files if p.name == "stdout")
    assert "token <redacted>" in stdout
    facts = [p.read_text() for p in files if p.parent.name == "job_events"]
    assert any('"AWS_SECRET_ACCESS_KEY": "<redacted>"' in text for text in facts)


def test_outputs_reads_the_file_of_the_inventorys_stack(project: Path, tmp_path: Path) -> None:
    missing = _cli("outputs", "--format", "json")
    assert missing.exit_code == cli.EXIT_FAILED
    error = json.loads(missing.stdout)["error"]
    assert "stack fake-stack has no outputs" in error["message"]
    assert "hastack deploy --env local" in error["message"]

    path = tmp_path / "state" / "outputs" / "fake-stack.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"stack_name": "fake-stack", "vpc_id": "vpc-1", "ips": ["a", "b"]}))
    shown = _cli("outputs", "--format", "json")
    assert shown.exit_code == cli.EXIT_OK
    data = json.loads(shown.stdout)
    assert (data["stack"], data["path"]) == ("fake-stack", str(path))
    assert data["outputs"]["vpc_id"] == "vpc-1"
    text = _cli("outputs")
    assert "  vpc_id: vpc-1" in text.stdout
    assert "  ips: a, b" in text.stdout
    # a stack_name templated over other settings is resolved the way Ansible would
    other = _cli("outputs", "--var", "stack_name=fake-{{ 'other' }}", "--format", "json")
    assert "stack fake-other has no outputs" in json.loads(other.stdout)["error"]["message"]
