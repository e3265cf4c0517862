"""The CLI and API contract: exit codes, --var parsing, JSON shape, run files, the emulator.

Runs use a tiny stand-in project (HASTACK_PROJECT_DIR) so they exercise the real ansible-runner and
ansible-playbook in seconds, independent of the AWS roles.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hastack import api, cli
from hastack import runner as hastack_runner

RESULT_KEYS = {
    "command",
    "env",
    "stack",
    "status",
    "rc",
    "ok",
    "changed",
    "failed",
    "failed_tasks",
    "artifacts_dir",
    "elapsed_s",
    "outputs",
    "exit_code",
    "message",
    "last_task",
}

FAKE_FILES = {
    "ansible.cfg": "[defaults]\nroles_path = ./roles\ngathering = explicit\n",
    "inventories/local/hosts.yml": (
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
    ),
    "inventories/local/group_vars/all.yml": "stack_name: fake-local\nvpc_az_count: 2\n",
    "inventories/staging/hosts.yml": "all:\n  hosts:\n    localhost: {}\n",
    "roles/demo/tasks/main.yml": (
        "- name: Write the variables\n"
        "  ansible.builtin.copy:\n"
        "    content: \"{{ {'stack_name': stack_name, 'vpc_az_count': vpc_az_count,"
        " 'tags': tags | default(none)} | to_json }}\"\n"
        "    dest: '{{ out_file }}'\n"
        "    mode: '0600'\n"
    ),
    # A failure a rescue recovers and an ignored one: neither may count as a failed task.
    "site.yml": textwrap.dedent("""\
        - name: Fake deploy
          hosts: all
          roles: [demo]
          tasks:
            - name: Recovered block
              block:
                - name: Fail then recover
                  ansible.builtin.fail:
                    msg: rescued
              rescue:
                - name: Recover
                  ansible.builtin.debug:
                    msg: ok
            - name: Fail but ignore
              ansible.builtin.fail:
                msg: ignored
              ignore_errors: true
    """),
    "destroy.yml": (
        "- name: Fake destroy\n  hosts: all\n  tasks:\n"
        "    - name: Fail on purpose\n      ansible.builtin.fail:\n        msg: boom\n"
    ),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in checkout with envs local and staging; HASTACK_STATE_DIR is a temp dir too."""
    root = tmp_path / "project"
    for rel, text in FAKE_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    monkeypatch.setenv("HASTACK_PROJECT_DIR", str(root))
    monkeypatch.setenv("HASTACK_STATE_DIR", str(tmp_path / "state"))
    return root


@pytest.fixture
def no_runner(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records any ansible-runner call; refusals must leave it empty."""
    calls: list[dict[str, Any]] = []

    def fake_run(**kwargs: Any) -> None:
        calls.append(kwargs)
        raise AssertionError("ansible-runner must not be called")

    monkeypatch.setattr(hastack_runner.ansible_runner, "run", fake_run)
    return calls


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.cli, list(args), catch_exceptions=False)


# --- --var parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vpc_az_count=3", ("vpc_az_count", 3)),
        ("flag=true", ("flag", True)),
        ("ratio=0.5", ("ratio", 0.5)),
        ("subnets=[a, b]", ("subnets", ["a", "b"])),
        ('tags={"team": "web", "n": 1}', ("tags", {"team": "web", "n": 1})),
        ("name=hello world", ("name", "hello world")),
        ("url=a=b", ("url", "a=b")),
        ("quoted='3'", ("quoted", "3")),
        ("empty=", ("empty", "")),
    ],
)
def test_parse_var_reads_values_as_yaml(text: str, expected: tuple[str, Any]) -> None:
    key, value = api.parse_var(text)
    assert (key, value) == expected
    assert type(value) is type(expected[1])


@pytest.mark.parametrize("text", ["vpc_az_count", "=3", "bad-name=1", "a=[1"])
def test_parse_var_rejects_malformed(text: str) -> None:
    with pytest.raises(api.SettingError) as info:
        api.parse_var(text)
    assert info.value.setting == "extra_vars"


def test_var_without_equals_is_usage_error(project: Path, no_runner: list[Any]) -> None:
    result = _invoke("deploy", "--var", "vpc_az_count")
    assert result.exit_code == cli.EXIT_USAGE
    assert "--var" in result.stderr
    assert "KEY=VALUE" in result.stderr
    assert no_runner == []


# --- refusals before anything runs ---------------------------------------------------------


def test_unknown_env_exits_3_naming_env_and_listing_envs(
    project: Path, no_runner: list[Any], tmp_path: Path
) -> None:
    result = _invoke("deploy", "--env", "nope")
    assert result.exit_code == cli.EXIT_USAGE
    assert "--env" in result.stderr
    assert "'nope'" in result.stderr
    assert "local, staging" in result.stderr
    assert result.stdout == ""
    assert no_runner == []
    assert not (tmp_path / "state" / "runs").exists()


def test_api_unknown_env_raises_setting_error(project: Path, no_runner: list[Any]) -> None:
    with pytest.raises(api.SettingError, match=r"valid environments: local, staging") as info:
        api.destroy(env="../project")
    assert info.value.setting == "env"
    assert no_runner == []


def test_stack_conflicting_with_var_is_refused(project: Path, no_runner: list[Any]) -> None:
    result = _invoke("deploy", "--stack", "a", "--var", "stack_name=b")
    assert result.exit_code == cli.EXIT_USAGE
    assert "--stack" in result.stderr
    assert no_runner == []


def test_click_usage_errors_exit_3_not_2(project: Path, no_runner: list[Any]) -> None:
    assert _invoke("deploy", "--no-such-flag").exit_code == cli.EXIT_USAGE
    assert _invoke("deploy", "--format", "yaml").exit_code == cli.EXIT_USAGE
    assert _invoke("no-such-command").exit_code == cli.EXIT_USAGE
    assert no_runner == []


# --- real runs against the stand-in project ------------------------------------------------


def test_deploy_json_passes_typed_vars_and_writes_only_to_state_dir(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-store-me")
    # Without the venv on PATH, only the wrapper's own binary lookup can find ansible-playbook.
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    out_file = tmp_path / "vars.json"
    before = _files(project)

    result = _invoke(
        "deploy",
        "--stack",
        "pytest-cli",
        "--var",
        "vpc_az_count=3",
        "--var",
        "tags={team: web}",
        "--var",
        f"out_file={out_file}",
        "--format",
        "json",
    )

    assert result.exit_code == cli.EXIT_OK, result.output
    data = json.loads(result.stdout)
    assert set(data) == RESULT_KEYS
    assert data["ok"] is True
    assert data["status"] == "successful"
    assert (data["command"], data["env"], data["stack"], data["rc"]) == (
        "deploy",
        "local",
        "pytest-cli",
        0,
    )
    assert data["exit_code"] == cli.EXIT_OK
    assert data["last_task"] == "Fail but ignore"
    assert data["changed"] == 1
    assert data["failed"] == 0
    assert data["failed_tasks"] == []
    assert json.loads(out_file.read_text()) == {
        "stack_name": "pytest-cli",
        "vpc_az_count": 3,
        "tags": {"team": "web"},
    }
    assert "demo : Write the variables" in result.stderr
    assert "FAILED [localhost] Fail but ignore" not in result.stderr
    run_dir = Path(data["artifacts_dir"])
    assert run_dir.parent == tmp_path / "state" / "runs"
    assert run_dir.name.endswith("-deploy")
    assert (run_dir / "rc").read_text() == "0"
    assert _files(project) == before  # nothing copied into or written inside the checkout
    command = (run_dir / "command").read_text()
    assert "do-not-store-me" not in command
    assert json.loads(command)["env"]["ANSIBLE_CONFIG"] == str(project / "ansible.cfg")


def test_failed_destroy_reports_the_task_and_exits_1(project: Path) -> None:
    result = _invoke("destroy", "--format", "json")
    assert result.exit_code == cli.EXIT_FAILED
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["exit_code"] == cli.EXIT_FAILED
    assert data["status"] == "failed"
    assert data["message"] == "destroy of stack fake-local failed at `Fail on purpose`: boom"
    assert data["failed"] == 1
    assert data["failed_tasks"] == [
        {"task": "Fail on purpose", "host": "localhost", "message": "boom", "outcome": None}
    ]
    assert "FAILED [localhost] Fail on purpose: boom" in result.stderr


def test_ansible_error_before_any_task_is_surfaced(project: Path) -> None:
    (project / "destroy.yml").write_text("- name: Broken\n  hosts: all\n  roles: [missing_role]\n")
    result = api.destroy()
    assert not result.ok
    assert result.rc != 0
    assert len(result.failed_tasks) == 1
    assert result.failed_tasks[0].task == "(ansible-playbook)"
    assert "missing_role" in result.failed_tasks[0].message
    assert "\x1b[" not in result.failed_tasks[0].message


def test_text_format_summarises_on_stdout(project: Path, tmp_path: Path) -> None:
    result = _invoke("deploy", "--var", f"out_file={tmp_path / 'v.json'}")
    assert result.exit_code == cli.EXIT_OK, result.output
    # the stack name comes from the inventory when --stack is not given
    assert result.stdout.startswith("deploy local stack fake-local: successful in ")
    assert "artifacts: " in result.stdout
    assert "demo : Write the variables" not in result.stdout  # progress stays on stderr


def test_api_collects_events_and_runs_are_separate(project: Path, tmp_path: Path) -> None:
    seen: list[str] = []
    first = api.deploy(
        extra_vars={"out_file": str(tmp_path / "v.json")},
        on_event=lambda e: seen.append(e["event"]),
    )
    second = api.destroy(state_dir=tmp_path / "elsewhere")
    assert first.ok
    assert not second.ok
    assert "playbook_on_stats" in seen
    assert Path(second.artifacts_dir).parent == (tmp_path / "elsewhere" / "runs").resolve()
    assert first.artifacts_dir != second.artifacts_dir
    with pytest.raises(AttributeError):
        first.ok = False  # type: ignore[misc]


def test_python_m_hastack_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hastack", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "deploy" in proc.stdout
    assert "emulator" in proc.stdout


# --- the emulator, for real ----------------------------------------------------------------


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # reap it if it is our zombie
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2) as r:  # noqa: S310
            return r.status == 200
    except OSError:
        return False


def test_emulator_start_status_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("HASTACK_STATE_DIR", str(state))
    try:
        started = _invoke("emulator", "start", "--format", "json")
        assert started.exit_code == cli.EXIT_OK, started.output
        emu = json.loads(started.stdout)
        assert emu["running"] is True
        assert emu["started"] is True
        assert _alive(emu["pid"])
        assert _answers(emu["endpoint"])
        assert (state / "emulator" / "state.json").is_file()

        again = json.loads(_invoke("emulator", "start", "--format", "json").stdout)
        assert (again["pid"], again["started"]) == (emu["pid"], False)

        status = _invoke("emulator", "status")
        assert status.exit_code == cli.EXIT_OK
        assert emu["endpoint"] in status.stdout

        stopped = _invoke("emulator", "stop", "--format", "json")
        assert stopped.exit_code == cli.EXIT_OK
        assert json.loads(stopped.stdout) == {"stopped": True}
        deadline = time.monotonic() + 5
        while _alive(emu["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(emu["pid"])
        assert not _answers(emu["endpoint"])

        after = _invoke("emulator", "status", "--format", "json")
        assert after.exit_code == cli.EXIT_FAILED
        assert json.loads(after.stdout) == {"running": False}
        assert _invoke("emulator", "stop").stdout.strip() == "emulator: was not running"
    finally:
        api.emulator_stop(state)
