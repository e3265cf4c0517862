"""The Django app (app/) with pytest-django's client and settings fixtures.

pytest-django is installed for the whole suite but configured for this module only: no
DJANGO_SETTINGS_MODULE in pyproject.toml, so the plugin stays idle for every other test (and
sets nothing in their environment). The ``django_app`` fixture below puts app/ on sys.path,
gives the settings the environment of a production container (the boot script's variables,
DEBUG unset), sets Django up and undoes the environment afterwards. Settings are read once per
process, so that environment is the same every time the fixture runs.

What a process start does with a bad environment (no DJANGO_SECRET_KEY ...) is checked in a
fresh interpreter each time.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import BIN, ROOT

APP = ROOT / "app"
SECRET_KEY = "unit-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105
ALB_DNS = "Hastack-Unit-Alb-1234567890.us-east-1.elb.amazonaws.com"  # DNS names are case-blind
INSTANCE = "i-0123456789abcdef0"
ZONE = "us-east-1b"
PRIVATE_IPS = ["10.0.11.23", "10.0.12.7:8000", "172.31.5.9"]
ENV = {
    "DJANGO_SETTINGS_MODULE": "hastack_app.settings",
    "DJANGO_SECRET_KEY": SECRET_KEY,
    "DJANGO_ALLOWED_HOSTS": "www.example.com, shop.example.com",
    "HASTACK_ALB_DNS_NAME": ALB_DNS,
    "HASTACK_INSTANCE_ID": INSTANCE,
    "HASTACK_AZ": ZONE,
}


@pytest.fixture(scope="session")
def django_static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One STATIC_ROOT per process: the settings keep the first one they read."""
    return tmp_path_factory.mktemp("django-static")


@pytest.fixture(scope="module", autouse=True)
def django_app(django_static_root: Path) -> Iterator[None]:
    import django
    from django.core.management import call_command
    from django.test.utils import setup_test_environment, teardown_test_environment

    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(APP))
        for name in ("DJANGO_DEBUG", "HASTACK_HEALTH_CHECK_PATH", "HASTACK_APP_PORT"):
            mp.delenv(name, raising=False)
        for name, value in {**ENV, "DJANGO_STATIC_ROOT": str(django_static_root)}.items():
            mp.setenv(name, value)
        django.setup()
        setup_test_environment(debug=False)
        try:
            if not (django_static_root / "staticfiles.json").exists():
                call_command("collectstatic", interactive=False, verbosity=0)
            yield
        finally:
            teardown_test_environment()


def health(client: Any, host: str, path: str = "/healthz") -> Any:
    return client.get(path, headers={"host": host})


def test_settings_come_from_the_environment(settings: Any) -> None:
    assert settings.SECRET_KEY == SECRET_KEY
    assert {"www.example.com", "shop.example.com", ALB_DNS.lower()} <= set(settings.ALLOWED_HOSTS)
    assert settings.HASTACK_HEALTH_CHECK_PATH == "/healthz"
    assert settings.MIDDLEWARE[0] == "hastack_app.middleware.HealthCheckMiddleware"


@pytest.mark.parametrize("host", PRIVATE_IPS)
def test_health_answers_200_for_a_private_ip_host(client: Any, host: str) -> None:
    response = health(client, host)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]


def test_health_reports_the_instance(client: Any) -> None:
    body = json.loads(health(client, PRIVATE_IPS[0]).content)
    assert body["status"] == "ok"
    assert body["instance_id"] == INSTANCE
    assert body["availability_zone"] == ZONE
    assert body["hostname"]


def test_health_answers_head_and_refuses_writes(client: Any) -> None:
    assert client.head("/healthz", headers={"host": PRIVATE_IPS[0]}).status_code == 200
    assert client.post("/healthz", headers={"host": PRIVATE_IPS[0]}).status_code == 405


@pytest.mark.parametrize(
    "path", ["/", "/static/hastack_app/site.css", "/no-such-page", "/healthz/", "/healthzz"]
)
@pytest.mark.parametrize("host", [*PRIVATE_IPS[:2], "attacker.example.net"])
def test_other_paths_refuse_a_host_not_allowed(client: Any, path: str, host: str) -> None:
    assert client.get(path, headers={"host": host}).status_code == 400


@pytest.mark.parametrize("host", [ALB_DNS, ALB_DNS.lower(), "www.example.com"])
def test_front_page_says_which_instance_served_it(client: Any, host: str) -> None:
    response = client.get("/", headers={"host": host})
    assert response.status_code == 200
    page = response.content.decode()
    assert INSTANCE in page
    assert ZONE in page
    assert response["X-Served-By"] == INSTANCE
    assert "no-store" in response["Cache-Control"]


def test_front_page_refuses_writes(client: Any) -> None:
    assert client.post("/", headers={"host": ALB_DNS}).status_code == 405


def test_health_path_follows_the_setting(client: Any, settings: Any) -> None:
    """alb_health_check_path reaches the app as HASTACK_HEALTH_CHECK_PATH; only it is open."""
    settings.HASTACK_HEALTH_CHECK_PATH = "/ping"
    assert health(client, PRIVATE_IPS[0], "/ping").status_code == 200
    assert health(client, PRIVATE_IPS[0], "/healthz").status_code == 400
    assert health(client, ALB_DNS, "/healthz").status_code == 404


def test_front_page_off_aws_names_the_container(client: Any, settings: Any) -> None:
    settings.HASTACK_INSTANCE_ID = ""
    settings.HASTACK_AZ = ""
    response = client.get("/", headers={"host": "www.example.com"})
    assert response.status_code == 200
    assert "outside AWS" in response.content.decode()
    assert response["X-Served-By"] == json.loads(health(client, "10.0.0.1").content)["hostname"]


# --- Starting a process: the settings read the environment once, at start -----------------


def start_django(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``django.setup()`` in a fresh interpreter with exactly ``env`` (plus PATH)."""
    code = "import django; from django.conf import settings; django.setup(); print(settings.DEBUG)"
    return subprocess.run(
        [str(BIN / "python"), "-c", code],
        cwd=APP,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "hastack_app.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_secret_key_fails_at_start_with_a_clear_message() -> None:
    proc = start_django({"DJANGO_ALLOWED_HOSTS": "www.example.com"})
    assert proc.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in proc.stderr, proc.stderr
    assert "/django/secret-key" in proc.stderr  # says where a stack takes it from


def test_empty_secret_key_fails_at_start() -> None:
    proc = start_django({"DJANGO_SECRET_KEY": ""})
    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("env", "debug"),
    [
        ({"DJANGO_SECRET_KEY": SECRET_KEY}, "False"),  # off by default
        ({"DJANGO_SECRET_KEY": SECRET_KEY, "DJANGO_DEBUG": "0"}, "False"),
        ({"DJANGO_DEBUG": "1"}, "True"),  # development: no key needed
    ],
    ids=["unset", "zero", "one-without-key"],
)
def test_debug_is_off_unless_asked_for(env: dict[str, str], debug: str) -> None:
    proc = start_django(env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == debug


def test_a_mistyped_debug_value_fails_at_start() -> None:
    proc = start_django({"DJANGO_SECRET_KEY": SECRET_KEY, "DJANGO_DEBUG": "ture"})
    assert proc.returncode != 0
    assert "DJANGO_DEBUG='ture' is not a boolean" in proc.stderr, proc.stderr
