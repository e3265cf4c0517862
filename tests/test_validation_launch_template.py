"""Bad launch template settings fail before any AWS call; the boot script does what it says.

The validation cases run molecule/launch_template/converge.yml (preflight with preflight_roles
[vpc, nat, launch_template], then the roles), since site.yml does not include the role yet.
AWS_ENDPOINT_URL points at an endpoint that records every request: an empty record proves the
run never reached AWS. Each case also names the setting the message must mention.

The boot script (roles/launch_template/templates/user_data.sh.j2) is rendered by Ansible with
the shared settings, checked by shellcheck, and run by bash against stub commands (curl, aws,
dnf, systemctl, docker, logger): no instance is needed to see what it writes and runs.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import (
    BIN,
    ROOT,
    assert_rejected_before_aws,
    counting_endpoint,
    counting_env,
    run_playbook,
)

PLAYBOOK = "molecule/launch_template/converge.yml"
STACK = "validation-lt"
SECRET = f"/{STACK}/django/secret-key"
VARS = yaml.safe_load((ROOT / "roles/launch_template/vars/main.yml").read_text())

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("app-port-too-high", {"app_port": 70000}, "app_port"),
    ("app-port-zero", {"app_port": 0}, "app_port"),
    ("app-port-not-a-number", {"app_port": "http"}, "app_port"),
    (
        "type-unknown-size",
        {"launch_template_instance_type": "t3.tiny"},
        "launch_template_instance_type",
    ),
    (
        "type-uppercase",
        {"launch_template_instance_type": "T3.small"},
        "launch_template_instance_type",
    ),
    ("type-no-dot", {"launch_template_instance_type": "t3small"}, "launch_template_instance_type"),
    (
        "type-no-generation",
        {"launch_template_instance_type": "t.small"},
        "launch_template_instance_type",
    ),
    ("image-uppercase-repo", {"app_image": "ghcr.io/Acme/shop:1.0"}, "app_image"),
    ("image-space-in-tag", {"app_image": "shop:1 0"}, "app_image"),
    ("image-short-digest", {"app_image": "shop@sha256:abc123"}, "app_image"),
    ("image-empty", {"app_image": ""}, "app_image"),
    ("image-scheme", {"app_image": "https://ghcr.io/acme/shop"}, "app_image"),
    ("ami-uppercase", {"launch_template_ami_id": "ami-0ABCDEF12"}, "launch_template_ami_id"),
    ("ami-too-short", {"launch_template_ami_id": "ami-123"}, "launch_template_ami_id"),
    (
        "ami-wrong-prefix",
        {"launch_template_ami_id": "img-0123456789abcdef0"},
        "launch_template_ami_id",
    ),
    (
        "ami-parameter-not-a-path",
        {"launch_template_ami_ssm_parameter": "al2023-latest"},
        "launch_template_ami_ssm_parameter",
    ),
    (
        "root-volume-too-small",
        {"launch_template_root_volume_size": 4},
        "launch_template_root_volume_size",
    ),
    (
        "root-volume-too-large",
        {"launch_template_root_volume_size": 16385},
        "launch_template_root_volume_size",
    ),
    (
        "root-volume-not-a-number",
        {"launch_template_root_volume_size": "big"},
        "launch_template_root_volume_size",
    ),
    ("secret-name-hyphen", {"app_secrets": {"DJANGO-KEY": SECRET}}, "app_secrets: DJANGO-KEY"),
    ("secret-name-digit-first", {"app_secrets": {"1KEY": SECRET}}, "app_secrets: 1KEY"),
    ("secret-name-reserved", {"app_secrets": {"HASTACK_AZ": SECRET}}, "app_secrets: HASTACK_AZ"),
    ("secret-parameter-relative", {"app_secrets": {"KEY": f"{STACK}/key"}}, "app_secrets: KEY"),
    (
        "secret-parameter-other-stack",
        {"app_secrets": {"KEY": "/other-stack/key"}},
        "app_secrets: KEY",
    ),
    ("secret-parameter-bad-char", {"app_secrets": {"KEY": f"/{STACK}/my key"}}, "app_secrets: KEY"),
    ("secret-parameter-not-a-string", {"app_secrets": {"KEY": 42}}, "app_secrets: KEY"),
    ("secrets-not-a-mapping", {"app_secrets": ["DJANGO_SECRET_KEY"]}, "app_secrets"),
    (
        "env-name-hyphen",
        {"app_environment": {"DJANGO-DEBUG": "0"}},
        "app_environment: DJANGO-DEBUG",
    ),
    ("env-name-reserved", {"app_environment": {"HASTACK_INSTANCE_ID": "x"}}, "HASTACK_INSTANCE_ID"),
    ("env-value-list", {"app_environment": {"HOSTS": ["a", "b"]}}, "app_environment: HOSTS"),
    (
        "env-also-secret",
        {"app_environment": {"DJANGO_SECRET_KEY": "plain"}},
        "app_environment: DJANGO_SECRET_KEY also in app_secrets",
    ),
    ("env-not-a-mapping", {"app_environment": "DEBUG=1"}, "app_environment"),
    ("user-data-too-large", {"app_environment": {"BLOB": "x" * 17000}}, "app_environment"),
    ("vpc-id-malformed", {"launch_template_vpc_id": "vpc-XYZ"}, "launch_template_vpc_id"),
    (
        "alb-sg-id-malformed",
        {"launch_template_alb_security_group_id": "lb-0123456789abcdef0"},
        "launch_template_alb_security_group_id",
    ),
]


@pytest.mark.parametrize(
    ("extra_vars", "setting"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_fails_before_any_aws_call(extra_vars: dict[str, Any], setting: str) -> None:
    assert_rejected_before_aws(PLAYBOOK, extra_vars, setting, stack=STACK)


def test_valid_input_does_reach_aws() -> None:
    """The counting endpoint really sees calls once validation passes (the guard above can fail)."""
    with counting_endpoint() as (endpoint, calls):
        run = run_playbook(
            PLAYBOOK,
            extra_vars={
                "stack_name": STACK,
                "app_environment": {"DJANGO_ALLOWED_HOSTS": ".example.com"},
                "preflight_aws_max_attempts": 1,
            },
            env={**counting_env(endpoint), "AWS_MAX_ATTEMPTS": "1"},
        )
    assert run.rc != 0
    assert calls, "a valid configuration should have reached the (failing) endpoint"


# Python's re.match is what Ansible's `match` test uses.
@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("t3.small", True),
        ("t3.medium", True),
        ("m7g.2xlarge", True),
        ("c6in.metal", True),
        ("m7i.metal-48xl", True),
        ("u-6tb1.metal", True),
        ("t3.tiny", False),
        ("t3.2large", False),
        ("m7g", False),
    ],
)
def test_instance_type_pattern(value: str, ok: bool) -> None:
    assert bool(re.match(VARS["__launch_template_instance_type_pattern"], value)) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("nginx", True),
        ("library/nginx:1.27", True),
        ("ghcr.io/hastack/hastack-app:0.1.0", True),
        ("localhost:5000/shop", True),
        ("registry:5000/team/shop:v1", True),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:2024.06.01", True),
        ("My.Registry.io/shop/web_app__x:1", True),
        ("shop@sha256:" + "a" * 64, True),
        ("shop:1.0@sha256:" + "0" * 64, True),
        ("Shop", False),
        ("shop:", False),
        ("shop:.hidden", False),
        ("shop@sha256:" + "A" * 64, False),
        ("ghcr.io//shop", False),
        ("shop;rm -rf /", False),
        ("$(reboot)", False),
    ],
)
def test_image_pattern(value: str, ok: bool) -> None:
    assert bool(re.match(VARS["__launch_template_image_pattern"], value)) is ok


# --- The boot script ---------------------------------------------------------------------

TRICKY_ENV = {
    "DJANGO_ALLOWED_HOSTS": ".example.com,localhost",
    "GREETING": 'it\'s $HOME and "quoted" `date`',
}
SECRETS = {"DJANGO_SECRET_KEY": SECRET, "DATABASE_URL": f"/{STACK}/db/url"}

CURL = r"""#!/bin/bash
# IMDSv2: a token for PUT, metadata only with that token.
echo "curl $*" >>"$STUB_DIR/calls"
if [[ " $* " == *" -X PUT "* ]]; then echo TOKEN123; exit 0; fi
[[ " $* " == *"X-aws-ec2-metadata-token: TOKEN123"* ]] || exit 22
case "${!#}" in
  */placement/region) echo us-east-1 ;;
  */placement/availability-zone) echo us-east-1b ;;
  */instance-id) echo i-0123456789abcdef0 ;;
  *) exit 22 ;;
esac
"""
AWS = r"""#!/bin/bash
echo "aws $*" >>"$STUB_DIR/calls"
[[ " $* " == *" --with-decryption "* ]] || exit 3
name=""; prev=""
for a in "$@"; do [[ "$prev" == --name ]] && name="$a"; prev="$a"; done
if [[ -n "${FAIL_PARAMETER:-}" && "$name" == "$FAIL_PARAMETER" ]]; then
  echo "ParameterNotFound" >&2
  exit 254
fi
echo "s3cr3t-value-of-${name//\//_}"
"""
DOCKER = r"""#!/bin/bash
echo "docker $1" >>"$STUB_DIR/calls"
printf '%s\n' "${@:2}" >"$STUB_DIR/docker-$1.args"
"""
RECORD = '#!/bin/bash\necho "$(basename "$0") $*" >>"$STUB_DIR/calls"\n'
STUBS = {
    "curl": CURL,
    "aws": AWS,
    "docker": DOCKER,
    "dnf": RECORD,
    "systemctl": RECORD,
    "logger": "#!/bin/bash\ncat >&2\n",  # logger -s: the message to stderr (the console)
    "sleep": "#!/bin/bash\n",  # retries without waiting
}


def render(tmp_path: Path, **extra: Any) -> Path:
    """The boot script as the role renders it: the local inventory's settings plus ``extra``."""
    out = tmp_path / "user_data.sh"
    cmd = [
        str(BIN / "ansible"),
        "hastack",
        "-i",
        "inventories/local",
        "-m",
        "ansible.builtin.template",
        "-a",
        f"src=roles/launch_template/templates/user_data.sh.j2 dest={out}",
        "-e",
        json.dumps({"stack_name": STACK, **extra}),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


def run_boot_script(tmp_path: Path, script: Path, **env: str) -> tuple[int, Path]:
    """Run ``script`` with bash against stub commands, its root paths moved under ``tmp_path``."""
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
        if console.exists() and ("runs " in console.read_text() or "FAILED" in console.read_text()):
            break
        time.sleep(0.1)
    return proc.returncode, stubs


def test_boot_script_is_shellcheck_clean(tmp_path: Path) -> None:
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    script = render(tmp_path, app_environment=TRICKY_ENV, app_secrets=SECRETS)
    proc = subprocess.run(
        ["shellcheck", "--shell=bash", "--severity=style", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def test_boot_script_holds_names_only(tmp_path: Path) -> None:
    script = render(tmp_path, app_secrets=SECRETS).read_text()
    assert script.startswith("#!/bin/bash\n")
    for name, parameter in SECRETS.items():
        assert f"fetch_secret {name} {parameter}" in script
    assert "s3cr3t" not in script
    assert not re.search(r"(?m)^\s*set\s+-\w*x", script)
    assert len(script.encode()) <= 16384


def test_boot_script_runs_the_app_with_secrets_from_ssm(tmp_path: Path) -> None:
    script = render(tmp_path, app_environment=TRICKY_ENV, app_secrets=SECRETS, app_port=8080)
    rc, stubs = run_boot_script(tmp_path, script)
    console = (tmp_path / "console").read_text()
    assert rc == 0, console

    env_file = tmp_path / "etc/hastack/app.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(env_file.parent.stat().st_mode) == 0o700
    assert env_file.read_text().splitlines() == sorted(
        f"{k}=s3cr3t-value-of-{v.replace('/', '_')}" for k, v in SECRETS.items()
    )

    args = (stubs / "docker-run.args").read_text().splitlines()
    assert args[-1] == "ghcr.io/hastack/hastack-app:0.1.0"
    pairs = list(itertools.pairwise(args))
    assert ("--restart", "unless-stopped") in pairs
    assert ("--publish", "8080:8080") in pairs
    assert ("--env-file", str(env_file)) in pairs
    assert ("--env", "HASTACK_INSTANCE_ID=i-0123456789abcdef0") in pairs
    assert ("--env", "HASTACK_AZ=us-east-1b") in pairs
    for name, value in TRICKY_ENV.items():
        assert ("--env", f"{name}={value}") in pairs  # passed literally, nothing expanded
    assert (stubs / "docker-pull.args").read_text().strip() == "ghcr.io/hastack/hastack-app:0.1.0"

    calls = (stubs / "calls").read_text()
    assert "dnf install -y docker" in calls
    assert "systemctl enable --now docker" in calls
    assert calls.index("docker pull") < calls.index("docker run")
    # Secret values reach the env file only: never the log or the console.
    log = (tmp_path / "user-data.log").read_text()
    assert "i-0123456789abcdef0" in log
    assert "s3cr3t" not in log
    assert "s3cr3t" not in console


def test_boot_script_stops_at_the_first_failure(tmp_path: Path) -> None:
    script = render(tmp_path, app_secrets=SECRETS)
    rc, stubs = run_boot_script(tmp_path, script, FAIL_PARAMETER=SECRETS["DATABASE_URL"])
    console = (tmp_path / "console").read_text()
    assert rc != 0
    assert re.search(r"hastack user data FAILED \(exit \d+\) at line \d+", console), console
    calls = (stubs / "calls").read_text()
    assert "docker run" not in calls
    assert "docker pull" not in calls
    assert not (tmp_path / "etc/hastack/app.env").exists()
