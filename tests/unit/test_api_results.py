"""How a run's events become a result: findings, drift, exit codes, messages and the JSON shape.

ansible-runner is replaced by a stub that feeds synthetic events shaped like the real ones
(see ``_ok``/``_failed``/``_stats``), so every outcome of check.yml's contract is covered in
milliseconds; tests/cli/test_runs.py feeds the same paths from real ansible-playbook runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

from hastack import api, events
from hastack import runner as hastack_runner
from hastack.errors import ExitCode
from hastack.results import (
    INVARIANTS_FAILED,
    REFUSED,
    SETTING_ERROR,
    DriftItem,
    FailedTask,
    Finding,
    decide_exit_code,
    json_schema,
)

STACK = "unit-stack"
VALIDATOR = jsonschema.Draft202012Validator(
    json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
# Task names as the roles print them; the wrapper reads outcomes from result keys, not these.
REFUSAL = "protection | Refuse to delete a load balancer with deletion protection"
CHECK_GATE_TASK = "Check every invariant holds"


def assert_valid(data: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(data), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


# -- synthetic ansible-runner events (the shapes ansible-runner 2.4 emits) -------------------


def _start(task: str, role: str | None = None) -> dict[str, Any]:
    data = {"task": task, "name": task, **({"role": role} if role else {})}
    return {"event": "playbook_on_task_start", "pid": 4242, "event_data": data}


def _ok(
    task: str,
    *,
    changed: bool = False,
    role: str | None = None,
    diff: Any = None,
    item: Any = None,
    censored: bool = False,
) -> dict[str, Any]:
    res: dict[str, Any] = {"changed": changed}
    if diff is not None:
        res["diff"] = diff
    kind = "runner_on_ok"
    if item is not None:
        kind = "runner_item_on_ok"
        res.update(item=item, _ansible_item_label=item)
    stdout = ("changed" if changed else "ok") + ": [localhost]"
    if censored:
        res = {"censored": "the output has been hidden due to the fact that 'no_log: true'"}
    data = {"task": task, "host": "localhost", "res": res, **({"role": role} if role else {})}
    return {"event": kind, "stdout": f"\x1b[0;33m{stdout}\x1b[0m", "event_data": data}


def _loop_summary(task: str, items: list[str]) -> dict[str, Any]:
    results = [{"changed": True, "item": i, "_ansible_item_label": i} for i in items]
    res = {"changed": True, "results": results}
    return {"event": "runner_on_ok", "event_data": {"task": task, "host": "localhost", "res": res}}


def _failed(task: str, msg: str, role: str | None = None, **keys: Any) -> dict[str, Any]:
    """``keys``: what the result says the failure means (refused=True, setting_error=True ...)."""
    data = {"task": task, "host": "localhost", "res": {"msg": msg, "failed": True, **keys}}
    if role:
        data["role"] = role
    return {"event": "runner_on_failed", "event_data": data}


def _stats(*, failed: bool = False, changed: int = 0, **artifact_data: Any) -> dict[str, Any]:
    data = {
        "changed": {"localhost": changed} if changed else {},
        "failures": {"localhost": 1} if failed else {},
        "dark": {},
        "ok": {"localhost": 5},
        "artifact_data": artifact_data,
    }
    return {"event": "playbook_on_stats", "event_data": data}


def _finding(fid: str, passed: bool, category: str = "network") -> dict[str, Any]:
    return {
        "id": fid,
        "category": category,
        "title": f"title of {fid}",
        "passed": passed,
        "evidence": f"evidence of {fid}",
    }


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with the playbooks the commands name; their content never runs here."""
    root = tmp_path / "project"
    (root / "inventories" / "local").mkdir(parents=True)
    (root / "inventories" / "local" / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n")
    for playbook in ("site.yml", "destroy.yml", "check.yml"):
        (root / playbook).write_text("[]\n")
    monkeypatch.setenv("HASTACK_PROJECT_DIR", str(root))
    monkeypatch.setenv("HASTACK_STATE_DIR", str(tmp_path / "state"))
    return root


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``runner(events, status, rc, then=...)``: the next run replays ``events``; a second run
    (check's drift run) replays ``then`` (events, status, rc), by default a clean one.
    Records each run's kwargs in ``runner.calls``."""
    calls: list[dict[str, Any]] = []

    def arm(
        stream: list[dict[str, Any]],
        status: str = "successful",
        rc: int = 0,
        then: tuple[list[dict[str, Any]], str, int] | None = None,
    ) -> None:
        queue = [(stream, status, rc), then or ([_stats()], "successful", 0)]

        def run(**kwargs: Any) -> SimpleNamespace:
            calls.append(kwargs)
            events_, status_, rc_ = queue[min(len(calls), 2) - 1]
            for event in events_:
                kwargs["event_handler"](event)
            return SimpleNamespace(status=status_, rc=rc_)

        monkeypatch.setattr(hastack_runner.ansible_runner, "run", run)

    arm.calls = calls  # type: ignore[attr-defined]
    return arm


# -- check ----------------------------------------------------------------------------------


def test_check_all_pass_no_drift_is_0(project: Path, runner: Any) -> None:
    findings = [_finding("network.vpc-dns", True), _finding("edge.alb-https", True, "edge")]
    runner(
        [
            _start("Publish the findings"),
            _ok("Publish the findings"),
            _start(CHECK_GATE_TASK),
            _ok(CHECK_GATE_TASK),
            _stats(hastack_check={"stack": STACK, "url": "http://x", "findings": findings}),
        ],
        then=(
            [
                _start("present | Create the VPC", "vpc"),
                _ok("present | Create the VPC", role="vpc"),
                _stats(),
            ],
            "successful",
            0,
        ),
    )
    result = api.check(stack=STACK)
    assert isinstance(result, api.CheckResult)
    assert (result.exit_code, result.ok, result.status) == (0, True, "successful")
    assert [f.id for f in result.findings] == ["network.vpc-dns", "edge.alb-https"]
    assert result.findings[1] == Finding(
        "edge.alb-https", "edge", "title of edge.alb-https", True, "evidence of edge.alb-https"
    )
    assert result.drift == ()
    assert result.message == f"stack {STACK}: 2 of 2 invariants hold, 0 failed; 0 drift item(s)."
    # two runs under one lock: the audit, then site.yml in check mode for drift
    assert [(Path(c["playbook"]).name, c["cmdline"]) for c in runner.calls] == [
        ("check.yml", None),
        ("site.yml", "--check --diff"),
    ]
    assert result.artifacts_dir.endswith("-check")
    assert result.drift_artifacts_dir is not None
    assert result.drift_artifacts_dir.endswith("-check-drift")
    assert result.last_task == "vpc : present | Create the VPC"
    data = result.to_dict()
    assert_valid(data)
    assert data["findings"][0]["passed"] is True


def test_check_failed_invariant_is_2_not_1(project: Path, runner: Any) -> None:
    findings = [_finding("network.vpc-dns", True), _finding("security.no-ssh", False, "security")]
    runner(
        [
            _start(CHECK_GATE_TASK),
            _failed(CHECK_GATE_TASK, "1 invariant failed: security.no-ssh", invariants_failed=True),
            _stats(failed=True, hastack_check={"stack": STACK, "findings": findings}),
        ],
        status="failed",
        rc=2,
    )
    result = api.check(stack=STACK)
    assert result.exit_code == ExitCode.DRIFT
    assert not result.ok
    assert [f.id for f in result.failed_findings] == ["security.no-ssh"]
    assert "1 of 2 invariants hold, 1 failed" in result.message
    assert_valid(result.to_dict())


def test_check_drift_items_from_changed_events(project: Path, runner: Any) -> None:
    findings = [_finding("network.vpc-dns", True)]
    sg_diff = {"before": {"ip_permissions": []}, "after": {"ip_permissions": [{"port": 22}]}}
    drift_run = [
        _start("present | Create the app security group", "launch_template"),
        _ok(
            "present | Create the app security group",
            changed=True,
            role="launch_template",
            diff=sg_diff,
        ),
        _start("present | Create the Auto Scaling group", "asg"),
        _ok("present | Create the Auto Scaling group", role="asg", changed=False),
        _start("present | Compare the group with the settings", "asg"),
        _ok("present | Compare the group with the settings", role="asg", changed=True),
        _start("present | Tag the subnets", "vpc"),
        _ok("present | Tag the subnets", role="vpc", changed=True, item="10.0.1.0/24"),
        _ok("present | Tag the subnets", role="vpc", changed=False, item="10.0.2.0/24"),
        _loop_summary("present | Tag the subnets", ["10.0.1.0/24"]),  # not counted twice
        _start("present | Store a secret", "launch_template"),
        _ok("present | Store a secret", role="launch_template", changed=True, censored=True),
        _stats(changed=4),
    ]
    drift_run[5]["event_data"]["res"]["msg"] = "max_size 7 -> 5"
    runner(
        [_stats(hastack_check={"stack": STACK, "findings": findings})],
        then=(drift_run, "successful", 0),
    )
    result = api.check(stack=STACK)
    assert result.exit_code == ExitCode.DRIFT
    assert [d.label() for d in result.drift] == [
        "launch_template : present | Create the app security group",
        "asg : present | Compare the group with the settings",
        "vpc : present | Tag the subnets [10.0.1.0/24]",
        "launch_template : present | Store a secret",
    ]
    assert result.drift[0].diff == sg_diff
    assert result.drift[1].message == "max_size 7 -> 5"
    assert result.drift[3].diff is None  # no_log: the change is known, its content is not
    assert result.changed == 4
    data = result.to_dict()
    assert_valid(data)
    assert data["drift"][2] == {
        "task": "vpc : present | Tag the subnets",
        "host": "localhost",
        "item": "10.0.1.0/24",
        "diff": None,
        "message": None,
    }


def test_check_interrupted_in_the_audit_skips_the_drift_run(project: Path, runner: Any) -> None:
    runner([_start("Read the stack")], status="canceled", rc=254)
    result = api.check(stack=STACK)
    assert len(runner.calls) == 1
    assert result.exit_code == ExitCode.INTERRUPTED
    assert result.drift_artifacts_dir is None
    assert_valid(result.to_dict())


def test_check_whose_drift_run_breaks_is_1(project: Path, runner: Any) -> None:
    findings = [_finding("network.vpc-dns", True)]
    runner(
        [_stats(hastack_check={"stack": STACK, "findings": findings})],
        then=(
            [_failed("present | Create the VPC", "Throttling"), _stats(failed=True)],
            "failed",
            2,
        ),
    )
    result = api.check(stack=STACK)
    assert result.exit_code == ExitCode.FAILED
    assert result.status == "failed"
    assert "Throttling" in result.message
    assert_valid(result.to_dict())


def test_check_broken_run_is_1_even_with_failed_findings(project: Path, runner: Any) -> None:
    findings = [_finding("network.vpc-dns", False)]
    runner(
        [
            _start("Read the load balancers"),
            _failed("Read the load balancers", "AccessDenied"),
            _failed(CHECK_GATE_TASK, "1 invariant failed", invariants_failed=True),
            _stats(failed=True, hastack_check={"stack": STACK, "findings": findings}),
        ],
        status="failed",
        rc=2,
    )
    result = api.check(stack=STACK)
    assert result.exit_code == ExitCode.FAILED
    assert "failed at `Read the load balancers`: AccessDenied" in result.message
    assert_valid(result.to_dict())


def test_check_that_published_no_findings_is_1(project: Path, runner: Any) -> None:
    runner([_start("Audit"), _ok("Audit"), _stats()])
    result = api.check(stack=STACK)
    assert result.exit_code == ExitCode.FAILED
    assert "published no findings" in result.message
    assert_valid(result.to_dict())


# -- plan, deploy, destroy ------------------------------------------------------------------


def test_plan_runs_site_in_check_diff_mode_and_lists_changes(project: Path, runner: Any) -> None:
    diff = [{"before": "max_size: 5\n", "after": "max_size: 7\n"}]
    runner(
        [
            _start("present | Create the Auto Scaling group", "asg"),
            _ok("present | Create the Auto Scaling group", role="asg", changed=True, diff=diff),
            _stats(changed=1, hastack_outputs={"stack_name": STACK}),
        ]
    )
    result = api.plan(stack=STACK)
    assert isinstance(result, api.PlanResult)
    assert [(Path(c["playbook"]).name, c["cmdline"]) for c in runner.calls] == [
        ("site.yml", "--check --diff")
    ]
    assert result.exit_code == ExitCode.DRIFT
    assert result.ok is False
    assert result.outputs == {}  # check-mode outputs are not the stack's
    assert result.message == f"a deploy of stack {STACK} would change 1 thing(s)."
    assert "-max_size: 5" in events.diff_text(result.drift[0].diff)
    assert_valid(result.to_dict())


def test_plan_without_changes_is_0(project: Path, runner: Any) -> None:
    runner([_start("present | Create the VPC", "vpc"), _ok("present | Create the VPC"), _stats()])
    result = api.plan(stack=STACK)
    assert (result.exit_code, result.drift) == (0, ())
    assert_valid(result.to_dict())


def test_deploy_reports_no_drift_and_keeps_outputs(project: Path, runner: Any) -> None:
    runner(
        [
            _start("present | Create the VPC", "vpc"),
            _ok("present | Create the VPC", changed=True),
            _stats(changed=1, hastack_outputs={"stack_name": STACK, "vpc_id": "vpc-1"}),
        ]
    )
    result = api.deploy(stack=STACK)
    assert type(result) is api.RunResult
    assert result.exit_code == 0
    assert result.outputs == {"stack_name": STACK, "vpc_id": "vpc-1"}
    data = result.to_dict()
    assert "drift" not in data
    assert "findings" not in data
    assert_valid(data)


def test_destroy_refused_by_deletion_protection_is_4(project: Path, runner: Any) -> None:
    msg = "Load balancer unit-stack-alb has deletion protection on (alb_deletion_protection)"
    runner(
        [
            _start(REFUSAL, "alb"),
            _failed(REFUSAL, msg, role="alb", refused=True),
            _stats(failed=True),
        ],
        status="failed",
        rc=2,
    )
    result = api.destroy(stack=STACK)
    assert result.exit_code == ExitCode.REFUSED
    assert result.failed_tasks == (FailedTask(f"alb : {REFUSAL}", "localhost", msg, REFUSED),)
    assert result.message == f"destroy of stack {STACK} refused: {msg}"
    assert_valid(result.to_dict())


@pytest.mark.parametrize(
    ("command", "advice"),
    [
        ("deploy", "run `hastack deploy` again to converge it, or `hastack destroy`"),
        ("destroy", "run `hastack destroy` again to finish"),
        ("check", "nothing was changed"),
    ],
)
def test_cancelled_run_is_130_and_says_where(
    project: Path, runner: Any, command: str, advice: str
) -> None:
    runner(
        [_start("present | Create the NAT gateways", "nat")],
        status="canceled",
        rc=254,
    )
    result = getattr(api, command)(stack=STACK)
    assert result.exit_code == ExitCode.INTERRUPTED
    assert result.last_task == "nat : present | Create the NAT gateways"
    assert "interrupted during `nat : present | Create the NAT gateways`" in result.message
    assert advice in result.message
    assert_valid(result.to_dict())


# -- the exit-code table and event readers --------------------------------------------------

_PASS = Finding("a.b", "network", "t", True, "e")
_FAIL = Finding("a.c", "network", "t", False, "e")
_GATE = FailedTask(CHECK_GATE_TASK, "localhost", "failed", INVARIANTS_FAILED)
_BOOM = FailedTask("vpc : present | Create the VPC", "localhost", "boom")
_DRIFT = DriftItem("asg : present | Create the Auto Scaling group", "localhost")
_REFUSE = FailedTask(f"alb : {REFUSAL}", "localhost", "protected", REFUSED)
_SETTING = FailedTask("nat : Check the NAT mode and waits", "localhost", "nat_mode", SETTING_ERROR)
# Named like the gate and the refusal, but their results carry no outcome: plain errors.
_GATE_NAMED = FailedTask(CHECK_GATE_TASK, "localhost", "failed")
_REFUSE_NAMED = FailedTask(f"alb : {REFUSAL}", "localhost", "protected")


@pytest.mark.parametrize(
    ("command", "status", "rc", "failed", "findings", "drift", "expected"),
    [
        ("deploy", "successful", 0, (), (), (), 0),
        ("deploy", "failed", 2, (_BOOM,), (), (), 1),
        ("deploy", "timeout", 254, (), (), (), 1),
        ("deploy", "canceled", 254, (), (), (), 130),
        ("destroy", "failed", 2, (_REFUSE,), (), (), 4),
        ("destroy", "canceled", 254, (_REFUSE,), (), (), 130),
        ("destroy", "failed", 2, (_REFUSE_NAMED,), (), (), 1),  # the name alone means nothing
        ("deploy", "failed", 2, (_SETTING,), (), (), 3),
        ("deploy", "failed", 2, (_SETTING, _BOOM), (), (), 1),  # something else broke too
        ("check", "failed", 2, (_SETTING,), (), (), 3),  # no findings: the audit never ran
        ("deploy", "canceled", 254, (_SETTING,), (), (), 130),
        ("check", "successful", 0, (), (_PASS,), (), 0),
        ("check", "successful", 0, (), (_PASS,), (_DRIFT,), 2),
        ("check", "failed", 2, (_GATE,), (_PASS, _FAIL), (), 2),
        ("check", "failed", 2, (_GATE,), (_PASS,), (), 1),  # gate failed on passing findings
        ("check", "failed", 2, (_GATE, _BOOM), (_FAIL,), (), 1),
        ("check", "failed", 2, (_GATE_NAMED,), (_PASS, _FAIL), (), 1),  # the name is not the key
        ("check", "failed", 2, (), (_FAIL,), (), 1),  # failed, but not at the gate
        ("check", "successful", 0, (), (), (), 1),  # no findings published
        ("check", "canceled", 254, (), (_FAIL,), (), 130),
        ("plan", "successful", 0, (), (), (), 0),
        ("plan", "successful", 0, (), (), (_DRIFT,), 2),
        ("plan", "failed", 2, (_BOOM,), (), (_DRIFT,), 1),
        ("plan", "failed", 2, (_GATE,), (), (), 1),  # the gate means nothing to plan
    ],
)
def test_exit_code_table(
    command: str,
    status: str,
    rc: int,
    failed: tuple[FailedTask, ...],
    findings: tuple[Finding, ...],
    drift: tuple[DriftItem, ...],
    expected: int,
) -> None:
    assert decide_exit_code(command, status, rc, failed, findings, drift) == expected


def test_exit_codes_are_the_documented_ones() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "DRIFT": 2,
        "USAGE": 3,
        "REFUSED": 4,
        "INTERRUPTED": 130,
    }
    doc = (Path(__file__).resolve().parents[2] / "docs" / "CLI.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} |" in doc, f"docs/CLI.md lacks exit code {int(code)}"


def test_changed_item_reads_items_diffs_and_censored_results() -> None:
    assert events.changed_item(_ok("t", changed=False)) is None
    assert events.changed_item(_ok("t", changed=True, diff={"a": 1})) == (None, {"a": 1}, None)
    assert events.changed_item(_ok("t", changed=True, item="x")) == ("x", None, None)
    assert events.changed_item(_ok("t", changed=True, censored=True)) == (None, None, None)
    with_msg = _ok("t", changed=True)
    with_msg["event_data"]["res"]["msg"] = "max_size 7 -> 5"
    assert events.changed_item(with_msg) == (None, None, "max_size 7 -> 5")
    assert events.changed_item(_ok("t", changed=False, censored=True)) is None
    assert events.changed_item(_loop_summary("t", ["x"])) is None
    assert events.changed_item(_failed("t", "boom")) is None
    dict_item = _ok("t", changed=True, item="x")
    dict_item["event_data"]["res"].pop("_ansible_item_label")
    dict_item["event_data"]["res"]["item"] = {"b": 2, "a": 1}
    assert events.changed_item(dict_item) == ('{"a": 1, "b": 2}', None, None)


def test_diff_text_renders_strings_structures_and_prepared() -> None:
    text = events.diff_text(
        [
            {"before": "a\nb\n", "after": "a\nc\n", "before_header": "f", "after_header": "f"},
            {"before": {"max": 5}, "after": {"max": 7}},
            {"prepared": "+ one rule"},
        ]
    )
    lines = text.splitlines()
    assert "-b" in lines
    assert "+c" in lines
    assert '-  "max": 5' in lines
    assert '+  "max": 7' in lines
    assert "+ one rule" in lines
    assert events.diff_text(None) == ""


def test_schema_rejects_inconsistent_documents(project: Path, runner: Any) -> None:
    runner([_stats()])
    good = api.deploy(stack=STACK).to_dict()
    assert_valid(good)
    for bad in (
        {**good, "exit_code": 1},  # ok true with a non-zero exit code
        {**good, "exit_code": 2, "ok": False},  # drift is for check and plan only
        {**good, "drift": []},  # deploy has no drift
        {**good, "command": "check"},  # check without findings
        {**good, "status": "canceled"},  # cancelled but not 130
        {k: v for k, v in good.items() if k != "message"},
    ):
        assert not VALIDATOR.is_valid(bad), json.dumps(bad)[:200]


def test_signal_between_check_runs_cancels_the_drift_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    calls: list[str] = []
    findings = [_finding("network.vpc-dns", True)]

    def run(**kwargs: Any) -> SimpleNamespace:
        calls.append(Path(kwargs["playbook"]).name)
        kwargs["event_handler"](_stats(hastack_check={"stack": STACK, "findings": findings}))
        os.kill(os.getpid(), signal.SIGTERM)  # lands as the audit ends
        return SimpleNamespace(status="successful", rc=0)

    monkeypatch.setattr(hastack_runner.ansible_runner, "run", run)
    before = signal.getsignal(signal.SIGTERM)
    result = api.check(stack=STACK)
    assert calls == ["check.yml"]  # the drift run never started
    assert (result.status, result.exit_code) == ("canceled", ExitCode.INTERRUPTED)
    assert signal.getsignal(signal.SIGTERM) is before  # the caller's handler is back
    assert_valid(result.to_dict())
