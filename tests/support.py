"""Helpers for tests that run the real playbooks: a runner that returns structured results,
boto3 clients on the emulator, and an endpoint that counts every AWS call it receives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REGION = "us-east-1"


@dataclass(frozen=True)
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    data: dict[str, Any] = field(repr=False)

    @property
    def changed(self) -> int:
        return sum(h.get("changed", 0) for h in self.data.get("stats", {}).values())

    @property
    def failed(self) -> int:
        return sum(h.get("failures", 0) for h in self.data.get("stats", {}).values())

    def changed_tasks(self) -> list[str]:
        return [
            t["task"]["name"]
            for play in self.data.get("plays", [])
            for t in play["tasks"]
            if any(r.get("changed") for r in t["hosts"].values())
        ]

    def failures(self) -> list[tuple[str, str]]:
        """(task name, message) of every failed task."""
        out = []
        for play in self.data.get("plays", []):
            for t in play["tasks"]:
                for res in t["hosts"].values():
                    if res.get("failed") and not res.get("ignore_errors"):
                        out.append((t["task"]["name"], str(res.get("msg", res))))
        return out

    def ran_tasks(self) -> list[str]:
        return [t["task"]["name"] for play in self.data.get("plays", []) for t in play["tasks"]]


def run_playbook(
    playbook: str,
    *,
    inventory: str = "local",
    extra_vars: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    timeout: float = 600,
) -> PlaybookRun:
    """Run ``ansible-playbook <playbook> -i inventories/<inventory>`` from the repo root."""
    cmd = [str(BIN / "ansible-playbook"), playbook, "-i", f"inventories/{inventory}"]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += args or []
    full_env = {
        **os.environ,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
        **(env or {}),
    }
    proc = subprocess.run(
        cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    # Timing callbacks (ansible.cfg) print around the JSON document; it starts on a line "{".
    start = proc.stdout.find("\n{\n")
    try:
        data, _ = json.JSONDecoder().raw_decode(
            proc.stdout[start + 1 :] if start >= 0 else proc.stdout
        )
    except ValueError:
        data = {}
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, data)


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy key, not a secret
    )


def tag_filter(stack: str) -> list[dict[str, Any]]:
    return [{"Name": "tag:hastack:stack", "Values": [stack]}]


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


class _Counter(BaseHTTPRequestHandler):
    calls: list[str]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace") if length else ""
        self.server.calls.append(f"{self.command} {self.path} {body[:200]}")  # type: ignore[attr-defined]
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def counting_endpoint() -> Iterator[tuple[str, list[str]]]:
    """An HTTP endpoint on 127.0.0.1 that records every request and answers 500.

    Pointing AWS_ENDPOINT_URL at it proves a run made no AWS call at all: the list stays empty.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    server.calls = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.calls  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def counting_env(endpoint: str) -> dict[str, str]:
    """Environment that sends every AWS call to ``endpoint`` with dummy credentials."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}


def assert_rejected_before_aws(
    playbook: str, extra_vars: dict[str, Any], setting: str, *, stack: str = "validation"
) -> PlaybookRun:
    """Run ``playbook`` with bad ``extra_vars``: it must fail with a message naming ``setting``
    and without a single request reaching the (counting) AWS endpoint."""
    with counting_endpoint() as (endpoint, calls):
        run = run_playbook(
            playbook, extra_vars={"stack_name": stack, **extra_vars}, env=counting_env(endpoint)
        )
    assert run.rc != 0, run.stdout[-2000:]
    assert calls == [], f"AWS was called before validation failed: {calls}"
    messages = " ".join(msg for _, msg in run.failures())
    assert setting in messages, f"message does not name {setting!r}: {messages}"
    assert not any("present |" in t for t in run.ran_tasks())
    return run
