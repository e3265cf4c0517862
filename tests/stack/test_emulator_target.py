"""Which target a run reaches: the embedded emulator the playbook starts itself, or the
endpoint the caller set in AWS_ENDPOINT_URL (then nothing is started)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hastack import emulator
from tests.support import counting_endpoint, run_playbook


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.mark.usefixtures("no_endpoint")
def test_local_inventory_starts_the_emulator_and_reuses_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"HASTACK_STATE_DIR": str(state)}
    try:
        first = run_playbook("destroy.yml", extra_vars={"stack_name": "emu-start"}, env=env)
        assert first.rc == 0, first.failures()
        recorded = json.loads((state / "emulator" / "state.json").read_text())
        assert recorded["endpoint"].startswith("http://127.0.0.1:")
        assert emulator.healthy(recorded["endpoint"])
        assert (
            "hastack.stack.preflight : Start or reuse the embedded AWS emulator"
            in first.changed_tasks()
        )

        second = run_playbook("destroy.yml", extra_vars={"stack_name": "emu-start"}, env=env)
        assert second.rc == 0, second.failures()
        assert json.loads((state / "emulator" / "state.json").read_text())["pid"] == recorded["pid"]
        assert second.changed == 0, second.changed_tasks()
    finally:
        stopped = emulator.stop(state)
    assert stopped
    assert not (state / "emulator" / "state.json").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(recorded["pid"], 0)


def test_endpoint_from_the_environment_wins_and_nothing_is_started(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with counting_endpoint() as (endpoint, calls):
        run = run_playbook(
            "destroy.yml",
            extra_vars={"stack_name": "emu-endpoint", "preflight_aws_max_attempts": 1},
            env={
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "x",
                "HASTACK_STATE_DIR": str(state),
            },
        )
    assert run.rc != 0  # the counting endpoint answers 500 to everything
    assert calls, "the run should have called the endpoint it was given"
    assert not (state / "emulator").exists()
