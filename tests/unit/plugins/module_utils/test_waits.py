"""Deadlines, jittered backoff and polling, on a fake clock."""

from __future__ import annotations

import pytest
from ansible_collections.hastack.stack.plugins.module_utils import waits


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """time.monotonic reads it, time.sleep advances it; the sleeps are recorded after it."""
    now = [100.0]

    def sleep(seconds: float) -> None:
        now.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(waits.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(waits.time, "sleep", sleep)
    return now


def test_error_code_of_a_client_error_and_of_anything_else() -> None:
    class ClientError(Exception):
        def __init__(self) -> None:
            super().__init__("refused")
            self.response = {"Error": {"Code": "DependencyViolation"}}

    assert waits.error_code(ClientError()) == "DependencyViolation"
    assert waits.error_code(ValueError()) == ""


def test_a_deadline_never_sleeps_past_itself(clock: list[float]) -> None:
    deadline = waits.Deadline(10)
    deadline.sleep(4)
    assert deadline.left() == 6
    deadline.sleep(60)
    assert clock[1:] == [4, 6]
    assert deadline.passed()
    deadline.sleep(5)  # past it: no pause at all
    assert clock[-1] == 0


def test_backoff_is_jittered_doubled_and_capped(
    clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waits.random, "uniform", lambda low, high: high)
    deadline = waits.Deadline(1000)
    delay = 1.0
    for _round in range(5):
        delay = deadline.backoff(delay, 8)
    assert clock[1:] == [1, 2, 4, 8, 8]
    monkeypatch.setattr(waits.random, "uniform", lambda low, high: low)
    assert deadline.backoff(4, 8) == 8
    assert clock[-1] == 2  # half of the delay at the least


def test_poll_looks_until_done_and_reports_a_timeout(clock: list[float]) -> None:
    looks = iter([1, 2, 3])
    assert waits.poll(waits.Deadline(60), lambda: next(looks), lambda n: n == 3, 10, None) == 3
    assert clock[1:] == [10, 10]

    class TimedOut(Exception):
        pass

    def fail(seen: int) -> None:
        raise TimedOut(seen)

    with pytest.raises(TimedOut):
        waits.poll(waits.Deadline(25), lambda: 0, lambda n: False, 10, fail)
    assert clock[-3:] == [10, 10, 5]
