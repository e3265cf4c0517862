"""The thorough search for secrets: no secret value reaches any file, output, log or AWS
resource that hastack or the emulator produces.

One stack, driven through the ``hastack`` command as a pipeline would, with three kinds of
secret: the Django key the local inventory generates in SSM, a password the team put in SSM
beforehand (SecureString, read at boot through ``app_secrets``), and the pipeline's AWS
credentials. The runs are the ones where secrets usually leak: a deploy at ``-vvv``
(``ANSIBLE_VERBOSITY=3``), a plan (``--check --diff``) that would resize the group, a
second deploy that makes a new template version, and the destroy. Then every value, raw and in
base64 (all three alignments), is searched for in every place below; each search is recorded
for docs/RELIABILITY.md (topic ``secrets``) before it is asserted.

test_cli_stack.py checks the same promise in passing; this is the exhaustive version.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets as random
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.reliability import record
from tests.support import BIN, ROOT, client, stack_leftovers, tag_filter

pytestmark = pytest.mark.emulator

STACK = "pytest-secrets"
DJANGO_PARAMETER = f"/{STACK}/django/secret-key"
TEAM_PARAMETER = f"/{STACK}/db/password"
APP_SECRETS = {"DJANGO_SECRET_KEY": DJANGO_PARAMETER, "DATABASE_PASSWORD": TEAM_PARAMETER}
# The pipeline's credentials: recognisable, random, long enough for hastack's redaction.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": f"AKIAE2E{random.token_hex(8).upper()}",
    "AWS_SECRET_ACCESS_KEY": f"e2e-secret-{random.token_hex(16)}",
    "AWS_SESSION_TOKEN": f"e2e-token-{random.token_hex(16)}",
}


def _base64_forms(value: bytes) -> set[bytes]:
    """The base64 text of ``value`` wherever it sits in a larger encoded blob: for each of the
    three byte alignments, the characters that depend on ``value``'s bytes alone."""
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value)
        first = -(-offset * 8 // 6)  # the first character made of value bits only
        last = (offset + len(value)) * 8 // 6  # past the last such character
        forms.add(encoded[first:last])
    return forms


def _needles(values: dict[str, str]) -> list[tuple[str, str, bytes]]:
    """``(secret name, form, bytes)`` for every value: raw, URL-quoted, base64."""
    out = []
    for name, value in values.items():
        raw = value.encode()
        out.append((name, "raw", raw))
        if quote(value, safe="") != value:
            out.append((name, "url", quote(value, safe="").encode()))
        out += [(name, "base64", form) for form in sorted(_base64_forms(raw))]
    return out


class Search:
    """Searches places for every needle and records each place for RELIABILITY.md."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.needles = _needles(values)
        self.hits: dict[str, list[str]] = {}

    def place(self, place: str, items: Iterable[tuple[str, bytes]], **facts: Any) -> None:
        """Search ``(label, content)`` items; a hit names the item and the secret, not its value."""
        hits, count, size = [], 0, 0
        for label, content in items:
            count += 1
            size += len(content)
            hits += [
                f"{name} ({form}) in {label}" for name, form, n in self.needles if n in content
            ]
        record(
            "secrets",
            place,
            {
                "place": place,
                "values_searched": len(self.values),
                "secrets": sorted(self.values),
                "forms_searched": len(self.needles),
                "items_searched": count,
                "bytes_searched": size,
                "hits": len(hits),
                "hit_details": hits,
                **facts,
            },
        )
        self.hits[place] = hits
        assert count > 0, f"{place}: nothing was searched"


class Cli:
    """Runs ``hastack`` with the pipeline's credentials and keeps everything it printed."""

    def __init__(self) -> None:
        self.env = {**os.environ, **CREDENTIALS}
        self.printed: list[tuple[str, bytes]] = []

    def run(self, *args: str, verbose: bool = False) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "ANSIBLE_VERBOSITY": "3"} if verbose else self.env
        proc = subprocess.run(
            [str(BIN / "hastack"), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        label = " ".join(args[:1]) + (" -vvv" if verbose else "")
        self.printed += [(f"{label} stdout", proc.stdout.encode())]
        self.printed += [(f"{label} stderr", proc.stderr.encode())]
        return proc


def _var(name: str, value: Any) -> list[str]:
    return ["--var", f"{name}={json.dumps(value)}"]


def _files(root: Path) -> list[tuple[str, bytes]]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return [(str(p.relative_to(root)), p.read_bytes()) for p in files]


def _doc(label: str, data: Any) -> tuple[str, bytes]:
    return label, json.dumps(data, default=str, sort_keys=True).encode()


def _aws_places(endpoint: str) -> dict[str, list[tuple[str, bytes]]]:
    """Everything AWS holds about the stack's compute, as searchable documents."""
    ec2 = client("ec2", endpoint)
    versions = ec2.describe_launch_template_versions(LaunchTemplateName=f"{STACK}-app")[
        "LaunchTemplateVersions"
    ]
    user_data = [
        (
            f"launch template version {v['VersionNumber']} user data",
            base64.b64decode(v["LaunchTemplateData"]["UserData"]),
        )
        for v in versions
    ]
    instances = [
        i
        for r in ec2.describe_instances(Filters=tag_filter(STACK))["Reservations"]
        for i in r["Instances"]
    ]
    instance_data = []
    for inst in instances:
        attr = ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")
        encoded = (attr.get("UserData") or {}).get("Value", "")
        instance_data.append(_doc(f"{inst['InstanceId']} DescribeInstanceAttribute", attr))
        instance_data.append((f"{inst['InstanceId']} user data", base64.b64decode(encoded)))
    groups = client("autoscaling", endpoint).describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"{STACK}-asg"]
    )["AutoScalingGroups"]
    ids = [i["InstanceId"] for i in instances]
    instance_tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": ids}])["Tags"]
    ssm = client("ssm", endpoint)
    parameters = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [f"/{STACK}/"]}]
    )["Parameters"]
    parameter_tags = [
        _doc(
            f"{p['Name']} tags",
            ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=p["Name"]),
        )
        for p in parameters
    ]
    return {
        "launch template user data, every version": user_data,
        "DescribeLaunchTemplateVersions answer": [_doc("DescribeLaunchTemplateVersions", versions)],
        "instance user data (DescribeInstanceAttribute)": instance_data,
        "ASG and instance tags": [
            _doc("DescribeAutoScalingGroups", groups),
            _doc("DescribeInstances", instances),
            _doc("DescribeTags (instances)", instance_tags),
        ],
        "SSM parameter metadata and tags": [
            _doc("DescribeParameters", parameters),
            *parameter_tags,
        ],
    }


def test_no_secret_value_reaches_any_artifact_log_output_or_resource(
    aws_env: str, emulator_state_dir: Path
) -> None:
    state = Path(os.environ["HASTACK_STATE_DIR"])
    ssm = client("ssm", aws_env)
    cli = Cli()
    assert stack_leftovers(aws_env, STACK) == [], "a previous test left the stack behind"
    # The team's secret, created before the first deploy, as the README asks for real stacks.
    team_password = random.token_urlsafe(24)
    ssm.put_parameter(Name=TEAM_PARAMETER, Value=team_password, Type="SecureString")
    secret_vars = _var("app_secrets", APP_SECRETS)
    try:
        # -- a deploy at -vvv: module arguments, results and connection details in the log ---
        deployed = cli.run("deploy", "--stack", STACK, *secret_vars, verbose=True)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr[-3000:]
        verbose_runs = [p for p in (state / "runs").glob("*-deploy") if p.is_dir()]
        assert "ESTABLISH LOCAL CONNECTION" in (verbose_runs[0] / "stdout").read_text()  # -vvv

        django = ssm.get_parameter(Name=DJANGO_PARAMETER, WithDecryption=True)["Parameter"]
        assert django["Type"] == "SecureString"
        assert len(django["Value"]) >= 32
        tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=DJANGO_PARAMETER)
        assert {"Key": "hastack:generated", "Value": "true"} in tags["TagList"]
        team = ssm.get_parameter(Name=TEAM_PARAMETER, WithDecryption=True)["Parameter"]
        assert team["Value"] == team_password  # the team's value is never overwritten

        # -- a plan (--check --diff) over every task, with a change so a diff is shown -------
        # (Not a launch template change: in check mode "Tag the launch template" fails on the
        # missing `template` of the result, so such a plan exits 1; reported, roles/.)
        plan = cli.run("plan", "--stack", STACK, *secret_vars, *_var("asg_max_size", 6))
        assert plan.returncode == 2, plan.stdout + plan.stderr[-3000:]
        assert "max_size 5 -> 6" in plan.stdout

        # -- a new container environment deployed: a second launch template version ----------
        changed_env = _var("app_environment", {"DJANGO_DEBUG": "0"})
        again = cli.run("deploy", "--stack", STACK, *secret_vars, *changed_env)
        assert again.returncode == 0, again.stdout + again.stderr[-3000:]

        aws = _aws_places(aws_env)
        assert (
            len(aws["launch template user data, every version"]) >= 2
        )  # every version, not just the latest
        for _, user_data in aws["launch template user data, every version"]:
            assert DJANGO_PARAMETER.encode() in user_data  # names each parameter ...
            assert TEAM_PARAMETER.encode() in user_data
        outputs_file = state / "outputs" / f"{STACK}.json"
        outputs = [(str(outputs_file), outputs_file.read_bytes())]
    finally:
        destroyed = cli.run("destroy", "--stack", STACK, *secret_vars)
        team_left = ssm.get_parameters(Names=[TEAM_PARAMETER])["Parameters"]
        ssm.delete_parameters(Names=[TEAM_PARAMETER])
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr[-3000:]
    assert [p["Name"] for p in team_left] == [TEAM_PARAMETER]  # destroy never touches it
    assert stack_leftovers(aws_env, STACK) == []

    # -- the search: every value, every form, every place -----------------------------------
    values = {
        "django secret key (generated)": django["Value"],
        "DATABASE_PASSWORD (team's SecureString)": team_password,
        **CREDENTIALS,
    }
    search = Search(values)
    runs = _files(state / "runs")
    kinds = sorted({Path(label).parts[1] for label, _ in runs if len(Path(label).parts) > 1})
    assert {"job_events", "stdout", "command", "rc", "status"} <= set(kinds)
    # Where hastack's own redaction (hastack.redact: redact, scrub_run_dir) replaced a credential: a
    # value that would have been there without it. By field: "access_key" is the
    # AWS_ACCESS_KEY_ID amazon.aws modules echo in invocation.module_args (not no_log).
    redacted = sum(content.count(b"<redacted>") for _, content in runs)
    fields: dict[str, int] = {}
    for _, content in runs:
        for field in re.findall(rb'"([A-Za-z_]+)": "<redacted>"', content):
            fields[field.decode()] = fields.get(field.decode(), 0) + 1
    search.place(
        "ansible-runner artifacts",
        runs,
        runs=len(list((state / "runs").iterdir())),
        artifact_kinds=kinds,
        redacted_markers=redacted,
        redacted_fields=fields,
        note="every file of every run (deploy -vvv, plan --check --diff, deploy, destroy)",
    )
    others = [(label, content) for label, content in _files(state) if not label.startswith("runs/")]
    search.place("other state files", others, note="outputs, locks: the state dir minus runs/")
    search.place("outputs file", outputs)
    search.place("CLI stdout and stderr", cli.printed, commands=len(cli.printed) // 2)
    moto_log = (emulator_state_dir / "emulator" / "moto.log").read_bytes()
    # moto logs one access line per request; were bodies there, the PutParameter of the team's
    # secret (made above, through the same server) would put its name in the log.
    search.place(
        "emulator log (moto.log)",
        [("moto.log", moto_log)],
        logs_request_bodies=TEAM_PARAMETER.encode() in moto_log,
        requests_logged=moto_log.count(b" HTTP/1.1"),
    )
    for place, items in aws.items():
        search.place(place, items)

    leaks = {place: hits for place, hits in search.hits.items() if hits}
    assert leaks == {}, f"secret values found: {leaks}"
