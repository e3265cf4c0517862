"""hastack.stack.require: ansible.builtin.assert whose failed result says what the failure means.

Run through ansible-playbook, as the roles run it; the results are read from Ansible's JSON
callback, the same result dicts ansible-runner hands the wrapper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hastack import events
from tests.support import load_source, run_playbook


def results(tmp_path: Path, tasks: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    book = tmp_path / "play.yml"
    play = {"hosts": "localhost", "gather_facts": False, "tasks": tasks}
    book.write_text(yaml.safe_dump([play]))
    run = run_playbook(str(book), inventory="local")
    found = [t["hosts"]["localhost"] for p in run.data["plays"] for t in p["tasks"]]
    return run.rc, found


@pytest.mark.parametrize("outcome", ["setting_error", "refused", "invariants_failed"])
def test_a_failed_check_carries_its_outcome(tmp_path: Path, outcome: str) -> None:
    task = {
        "name": "Check",
        "hastack.stack.require": {
            "that": ["1 == 1", "nat_mode_x | default('bogus') == 'per_az'"],
            "fail_msg": "nat_mode_x: bogus is not a NAT mode",
            "outcome": outcome,
        },
    }
    rc, (res,) = results(tmp_path, [task])
    assert rc == 2
    assert res["failed"] is True
    assert res["msg"] == "nat_mode_x: bogus is not a NAT mode"
    assert res["assertion"] == "nat_mode_x | default('bogus') == 'per_az'"
    assert res[outcome] is True
    others = {"setting_error", "refused", "invariants_failed"} - {outcome}
    assert not others & set(res)


def test_a_check_that_holds_sets_no_outcome(tmp_path: Path) -> None:
    task = {
        "name": "Check",
        "hastack.stack.require": {
            "that": "2 > 1",
            "success_msg": "fine",
            "outcome": "refused",
            "quiet": True,
        },
    }
    rc, (res,) = results(tmp_path, [task])
    assert rc == 0
    assert res["msg"] == "fine"
    assert not res.get("failed")
    assert "refused" not in res


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ({"that": "1 == 1"}, "missing required arguments: outcome"),
        ({"that": "1 == 1", "outcome": "oops"}, "value of outcome must be one of"),
    ],
)
def test_outcome_is_required_and_one_of_three(
    tmp_path: Path, args: dict[str, Any], why: str
) -> None:
    rc, (res,) = results(tmp_path, [{"name": "Check", "hastack.stack.require": args}])
    assert rc == 2
    assert why in res["msg"]
    assert not {"setting_error", "refused", "invariants_failed"} & set(res)


def test_the_documentation_is_the_action_s_arguments() -> None:
    docs = yaml.safe_load(load_source("plugins/modules/require.py").DOCUMENTATION)
    action = load_source("plugins/action/require.py")
    assert set(docs["options"]) == {"that", "outcome", "fail_msg", "success_msg", "quiet"}
    assert docs["options"]["outcome"]["choices"] == list(action.OUTCOMES)
    # The wrapper reads exactly these keys (and Ansible's argument_errors).
    assert set(action.OUTCOMES) <= set(events.OUTCOMES)
