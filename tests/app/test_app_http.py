"""The app under gunicorn, probed over real HTTP on 127.0.0.1 the way the load balancer probes it.

gunicorn runs with the image's own config (app/gunicorn.conf.py), only bound to 127.0.0.1 on a
free port, with the settings of a production container (no DJANGO_DEBUG). The health check is
sent as the ALB sends it: the instance's private IP as Host, the stack's health check path, the
status judged by the stack's matcher. Every server is stopped, whatever happens, and every wait
is bounded. tests/app/test_user_data.py reuses ``serve_app`` to start the app with the environment
the boot script gives the container.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support import BIN, ROOT

APP = ROOT / "app"
ALB_DEFAULTS = yaml.safe_load((ROOT / "roles/alb/defaults/main.yml").read_text())
HEALTH_PATH = ALB_DEFAULTS["alb_health_check_path"]
MATCHER = str(ALB_DEFAULTS["alb_health_check_matcher"])

PRIVATE_IP = "10.0.11.57"  # what the ALB health checker puts in Host
ALB_DNS = "hastack-http-alb-1234567890.us-east-1.elb.amazonaws.com"
INSTANCE = "i-0fedcba9876543210"
ZONE = "us-east-1a"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def matcher_codes(matcher: str) -> set[int]:
    """The status codes an ALB matcher such as "200", "200,302" or "200-299" accepts."""
    codes: set[int] = set()
    for part in matcher.split(","):
        low, _, high = part.partition("-")
        codes.update(range(int(low), int(high or low) + 1))
    return codes


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class Server:
    port: int
    stdout: Path
    stderr: Path

    def get(self, path: str, host: str, headers: dict[str, str] | None = None) -> Answer:
        """One request with exactly this Host header (http.client sends no other one)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"Host": host, **(headers or {})})
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
        finally:
            conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(app_env: dict[str, str]) -> dict[str, str]:
    """This process's environment without any app setting it may carry, plus ``app_env``."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "HASTACK_")) and k != "WEB_CONCURRENCY"
    }
    return {**inherited, "WEB_CONCURRENCY": "1", **app_env}


def collect_static(static_root: Path) -> Path:
    """What the Dockerfile does at build time, into ``static_root``."""
    if not (static_root / "staticfiles.json").exists():
        proc = subprocess.run(
            [str(BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=APP,
            env=clean_env({"DJANGO_DEBUG": "1", "DJANGO_STATIC_ROOT": str(static_root)}),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    return static_root


@contextmanager
def serve_app(app_env: dict[str, str], logs: Path, port: int | None = None) -> Iterator[Server]:
    """gunicorn with the image's config and ``app_env``, on 127.0.0.1; stopped on the way out."""
    port = port or free_port()
    logs.mkdir(parents=True, exist_ok=True)
    server = Server(port, logs / "gunicorn.stdout", logs / "gunicorn.stderr")
    with server.stdout.open("w") as out, server.stderr.open("w") as err:
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
            cwd=APP,
            env=clean_env(app_env),
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group: the workers go with the master
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                output = server.stderr.read_text()[-3000:]
                pytest.fail(f"gunicorn exited ({proc.returncode}): {output}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not listen within {START_TIMEOUT}s")
                time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT)


def wait_for_log(path: Path, pattern: str, timeout: float = 5.0) -> str:
    """The log once ``pattern`` is in it (gunicorn writes the access line after the response)."""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, text := path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return text


PRODUCTION = {
    "DJANGO_SECRET_KEY": "http-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    "HASTACK_ALB_DNS_NAME": ALB_DNS,
    "HASTACK_INSTANCE_ID": INSTANCE,
    "HASTACK_AZ": ZONE,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("app-http")
    static = collect_static(tmp / "static")
    with serve_app({**PRODUCTION, "DJANGO_STATIC_ROOT": str(static)}, tmp / "logs") as srv:
        yield srv


def test_matcher_codes() -> None:
    assert matcher_codes("200") == {200}
    assert matcher_codes("200,302") == {200, 302}
    assert matcher_codes("200-202") == {200, 201, 202}


def test_health_check_as_the_load_balancer_sends_it(server: Server) -> None:
    answer = server.get(HEALTH_PATH, PRIVATE_IP, {"User-Agent": "ELB-HealthChecker/2.0"})
    assert answer.status in matcher_codes(MATCHER), answer
    body = json.loads(answer.body)
    assert body["status"] == "ok"
    assert body["instance_id"] == INSTANCE
    assert body["availability_zone"] == ZONE
    # The health path is the only one open to any Host.
    assert server.get("/", PRIVATE_IP).status == 400


def test_front_page_through_the_load_balancer(server: Server) -> None:
    page = server.get("/", ALB_DNS)
    assert page.status == 200, page.body[-1000:]
    assert INSTANCE in page.body
    assert ZONE in page.body
    assert page.headers["x-served-by"] == INSTANCE
    assert "no-store" in page.headers["cache-control"]
    # Its stylesheet is served by the app itself (WhiteNoise), DEBUG off.
    href = re.search(r'href="(/static/[^"]+\.css)"', page.body)
    assert href, page.body
    css = server.get(href.group(1), ALB_DNS)
    assert css.status == 200
    assert css.headers["content-type"].startswith("text/css")
    assert server.get(href.group(1), PRIVATE_IP).status == 400


def test_debug_is_off_by_default(server: Server) -> None:
    missing = server.get("/no-such-page", ALB_DNS)
    assert missing.status == 404
    assert "URLconf" not in missing.body  # Django's debug 404 page lists the URL patterns
    assert "Traceback" not in missing.body


def test_logs_go_to_stdout(server: Server) -> None:
    server.get(HEALTH_PATH, PRIVATE_IP)
    server.get("/", "attacker.example.net")
    stdout = wait_for_log(server.stdout, r"DisallowedHost.*attacker\.example\.net")
    assert re.search(rf'"GET {re.escape(HEALTH_PATH)} HTTP/1\.1" 200', stdout), stdout
    assert re.search(r"DisallowedHost.*attacker\.example\.net", stdout), stdout
    assert "Traceback" not in stdout  # a refused Host is one line, not a stack trace
    stderr = server.stderr.read_text()
    assert "GET " not in stderr
    assert "DisallowedHost" not in stderr


def test_missing_secret_key_stops_gunicorn_at_start() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_SECRET_KEY"}
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--config",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{free_port()}",
        ],
        cwd=APP,
        env=clean_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=START_TIMEOUT)
    finally:
        if proc.poll() is None:  # it started after all: stop it, then fail below
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=STOP_TIMEOUT)
    assert proc.returncode not in (0, None)
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in stderr, stderr[-2000:]
