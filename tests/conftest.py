"""Shared fixtures: one embedded AWS emulator per test session, and an AWS environment for it."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hastack import emulator as hastack_emulator
from tests.reliability import records_dir

REGION = "us-east-1"
# Modules loaded by path import the collection's module_utils as Ansible does: from the
# checkout linked as hastack.stack (`make setup`).
sys.path.append(str(Path(__file__).resolve().parents[1] / ".collections"))


# The longest tests first, so the two xdist workers share them out and the run does not end with
# one worker alone on a whole-stack test (about 10 minutes of a clean-clone `make test` once).
# Each deploys one or more whole stacks; then the rest of stack/ and packaging/ (kills, faults,
# bad inputs), then modules/, cli/ and app/, and unit/ last. Collection order within a rank.
_FIRST = (
    "tests/stack/test_asg_converge.py",
    "tests/stack/test_stack.py",
    "tests/cli/test_stack_life.py",
    "tests/stack/test_network.py",
    "tests/stack/test_check.py",
    "tests/stack/test_destroy.py",
    "tests/packaging/test_wheel.py",
    "tests/stack/test_secrets.py",
    "tests/cli/test_api_deploy.py",
    "tests/stack/test_faults.py",
)
_THEN = ("tests/stack/", "tests/packaging/", "tests/modules/", "tests/cli/", "tests/app/")


def _rank(item: pytest.Item) -> int:
    path = Path(str(item.path)).resolve().relative_to(Path(__file__).resolve().parents[1])
    where = path.as_posix()
    if where in _FIRST:
        return _FIRST.index(where)
    for rank, prefix in enumerate(_THEN, start=len(_FIRST)):
        if where.startswith(prefix):
            return rank
    return len(_FIRST) + len(_THEN)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_rank)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Clear the reliability records once per run (on the controller, not on each xdist
    worker), so docs/RELIABILITY.md never mixes figures of an earlier run in."""
    if not hasattr(session.config, "workerinput"):
        shutil.rmtree(records_dir(), ignore_errors=True)


@pytest.fixture(scope="session")
def emulator_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HASTACK_STATE_DIR the session's emulator records itself in (never the repo's)."""
    return tmp_path_factory.mktemp("hastack-state")


@pytest.fixture(scope="session")
def emulator(emulator_state_dir: Path) -> Iterator[str]:
    """A moto server for the whole session; yields its endpoint URL and stops it at the end.

    Shared because starting moto costs seconds; tests keep apart by using their own stack name.
    """
    emu = hastack_emulator.ensure(emulator_state_dir)
    try:
        yield emu.endpoint
    finally:
        hastack_emulator.stop(emulator_state_dir)


@pytest.fixture
def aws_env(emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3, Ansible and hastack at the session emulator with dummy credentials.

    Real credentials and profiles are removed so a test can never reach a real account.
    """
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in hastack_emulator.DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("HASTACK_STATE_DIR", str(tmp_path / "state"))
    return emulator


# -- botocore Stubber tests (what only AWS does): an EC2 client that sends nothing, and sleeps
# recorded instead of slept.
@pytest.fixture
def ec2() -> Any:
    import boto3

    return boto3.client(
        "ec2",
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",  # noqa: S106 - a stub, nothing is sent
    )


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the pauses instead of sleeping them."""
    pauses: list[float] = []
    monkeypatch.setattr("time.sleep", pauses.append)
    return pauses
