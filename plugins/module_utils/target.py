# Apache-2.0 (see the project licence)
"""Checks of how a run would reach AWS, made before anything is called.

The settings here live outside the inventory: the process environment (``AWS_ENDPOINT_URL``,
the credential chain) and the region. The preflight role runs them in its first module
(``hastack.stack.aws_reach``); the hastack wrapper loads this file from the collection and
runs the endpoint check before it starts a run. Standard library and botocore only, so both
can load it.

No check here makes an AWS call: credentials are looked up the way botocore does, minus the
EC2 instance metadata service (a network call, and seconds of timeouts off EC2), which is
used only when ``AWS_EC2_METADATA_DISABLED=false`` says the caller runs on an instance role.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

# A long-term (AKIA) or temporary (ASIA) access key id, as IAM issues them.
_ACCESS_KEY = re.compile(r"^(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}$")
# How long the endpoint gets to accept a TCP connection before the run is refused.
CONNECT_TIMEOUT_S = 3.0
_CREDENTIAL_HELP = (
    "set AWS_PROFILE to a profile of ~/.aws/config (aws configure / aws sso login), or "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys); "
    "on an EC2 instance or container role set AWS_EC2_METADATA_DISABLED=false; "
    "or use --env local (the embedded emulator)"
)


class TargetError(Exception):
    """A setting of the target a person must fix; ``setting`` names it."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


class TargetUnreachable(Exception):
    """AWS_ENDPOINT_URL names an endpoint nothing answers on: the run would only time out."""


def known_regions() -> list[str]:
    """Every region in botocore's bundled endpoint data (no network, no profile read)."""
    from botocore.loaders import create_loader

    endpoints = create_loader().load_data("endpoints")
    return sorted(r for p in endpoints["partitions"] for r in p.get("regions", {}))


def check_region(region: Any) -> None:
    """``region`` must be a region AWS has (aws_region)."""
    regions = known_regions()
    if not isinstance(region, str) or region not in regions:
        text = region if isinstance(region, str) else ""
        near = [r for r in regions if r.startswith(text.rsplit("-", 1)[0] + "-")] if text else []
        raise TargetError(
            "aws_region",
            f"aws_region: {json.dumps(region)} is not an AWS region; use one of "
            f"{', '.join(near or regions)} (set it with --var aws_region=... or in the "
            "inventory).",
        )


def check_endpoint(url: str, *, connect: bool = True) -> None:
    """``AWS_ENDPOINT_URL`` must be http(s)://host[:port] and, if ``connect``, accept TCP."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or (parts.path not in ("", "/"))
    ):
        raise TargetError(
            "AWS_ENDPOINT_URL",
            f"AWS_ENDPOINT_URL: {url!r} is not an endpoint URL; use http:// or https:// with a "
            "host and an optional port and no path (for example http://127.0.0.1:5000), or "
            "unset it to reach AWS (or, with --env local, the embedded emulator).",
        )
    if not connect:
        return
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise TargetUnreachable(
            f"AWS_ENDPOINT_URL: nothing answers at {url} ({why}, tried for up to "
            f"{CONNECT_TIMEOUT_S:.0f} s); start the emulator or service there, correct the URL, "
            "or unset AWS_ENDPOINT_URL to reach AWS (or, with --env local, the embedded emulator)."
        ) from None


def check_credentials(environ: Mapping[str, str]) -> None:
    """Real AWS: some source of the credential chain must be configured, without calling AWS.

    ``environ`` is the process environment: botocore reads the profile settings from it too."""
    key = environ.get("AWS_ACCESS_KEY_ID", "")
    secret = environ.get("AWS_SECRET_ACCESS_KEY", "")
    if key or secret:
        if not (key and secret):
            missing, given = (
                ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
                if key
                else ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            )
            raise TargetError(
                missing,
                f"{missing} is not set but {given} is: set both (IAM shows them together), "
                f"or neither and {_CREDENTIAL_HELP}.",
            )
        if not _ACCESS_KEY.match(key):
            raise TargetError(
                "AWS_ACCESS_KEY_ID",
                f"AWS_ACCESS_KEY_ID: {key[:4]!r}... is not an AWS access key id; IAM ids are 20 "
                "upper-case letters and digits starting with AKIA (long-term) or ASIA "
                "(temporary, with AWS_SESSION_TOKEN). Copy it again from IAM, or unset it and use "
                "AWS_PROFILE.",
            )
        return
    if str(environ.get("AWS_EC2_METADATA_DISABLED", "")).lower() == "false":
        return  # the caller vouches for an instance or container role
    import botocore.exceptions
    import botocore.session

    if environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or environ.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        return  # an ECS/EKS task role: botocore fetches it when the run starts
    session = botocore.session.Session()  # reads AWS_PROFILE, AWS_CONFIG_FILE, ... itself
    try:
        resolver = session.get_component("credential_provider")
        resolver.remove("iam-role")  # the metadata service: a network call
        resolver.remove("container-role")
        found = resolver.load_credentials()
    except botocore.exceptions.ProfileNotFound:
        profile = environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE")
        profiles = ", ".join(botocore.session.Session(profile=None).available_profiles) or "none"
        raise TargetError(
            "AWS_PROFILE",
            f"AWS_PROFILE: profile {profile!r} is not in ~/.aws/config or ~/.aws/credentials "
            f"(profiles there: {profiles}); name one of them, or create it with "
            f"`aws configure --profile {profile}`.",
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise TargetError(
            "AWS_PROFILE",
            f"the AWS credential settings cannot be read ({exc}); {_CREDENTIAL_HELP}.",
        ) from None
    if found is None:
        raise TargetError(
            "AWS_ACCESS_KEY_ID",
            "no AWS credentials: AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are "
            f"unset and ~/.aws holds no default profile; {_CREDENTIAL_HELP}.",
        )


def check_target(
    environ: Mapping[str, str], *, emulator: bool, region: Any = None, connect: bool = True
) -> None:
    """Everything about the target a run can get wrong outside the inventory, in the order a
    user would fix it. ``emulator``: the environment starts the embedded emulator when
    AWS_ENDPOINT_URL is unset. Raises TargetError (or TargetUnreachable)."""
    if region is not None:
        check_region(region)
    endpoint = environ.get("AWS_ENDPOINT_URL", "")
    if endpoint:
        check_endpoint(endpoint, connect=connect)
    elif not emulator:
        check_credentials(environ)
