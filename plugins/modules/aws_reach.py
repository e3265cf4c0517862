#!/usr/bin/python
# Apache-2.0 (see the project licence)
"""Make one AWS call (STS GetCallerIdentity) and fail with a message a person can act on.

Why not amazon.aws.aws_caller_info or aws_az_info: both wrap the call in AWSRetry (10 more
tries with up to 60 s pauses) around botocore's own retries, so an endpoint that is down or
keeps throttling holds a run for many minutes, and the final message names neither the
endpoint nor the retry setting. Here botocore's retries (AWS_RETRY_MODE / AWS_MAX_ATTEMPTS)
are the only ones, so the time a dead target costs is bounded by them.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: aws_reach
short_description: Check that AWS (or an emulator) answers, with botocore's retries only
author: hastack maintainers (@hastack)
description:
  - Calls STS GetCallerIdentity once. It needs no IAM permission, so it fails only when the
    endpoint, the network, the credentials or the API's capacity fail.
  - Retries are botocore's alone (C(AWS_RETRY_MODE), C(AWS_MAX_ATTEMPTS)), so a target that
    never answers costs a bounded time.
  - On failure the message names the endpoint, the AWS error, how many attempts were made
    and the retry setting.
  - With I(target_check), first checks the region, C(AWS_ENDPOINT_URL) and the credential
    chain without any AWS call (the collection's C(target) module_utils, which the hastack
    wrapper also loads), so a setting a person can fix is refused with its own message
    before the first call.
  - "Upstream: amazon.aws.aws_caller_info wraps the call in AWSRetry.jittered_backoff (10 more
    tries, pauses up to 60 s) on top of botocore's retries, so a dead endpoint holds a run for
    minutes, and its error names neither the endpoint nor the retry setting."
options:
  target_check:
    description: Check the target before the call.
    type: dict
    suboptions:
      region:
        description: The run's aws_region.
        type: str
        required: true
      emulator:
        description: The inventory starts the embedded emulator (no credentials needed).
        type: bool
        default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
"""

EXAMPLES = r"""
- name: Check that the target answers
  hastack.stack.aws_reach:
"""

RETURN = r"""
setting_error:
  description: The target check failed on a setting (region, endpoint URL, credentials).
  returned: failure
  type: bool
setting:
  description: The setting to fix, when I(setting_error) is true.
  returned: failure
  type: str
account:
  description: Account the credentials belong to.
  returned: success
  type: str
arn:
  description: ARN of the caller.
  returned: success
  type: str
endpoint:
  description: Endpoint the call went to.
  returned: always
  type: str
attempts:
  description: Attempts botocore made, first try included.
  returned: always
  type: int
"""

import contextlib
import os

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.hastack.stack.plugins.module_utils.target import (
    TargetError,
    TargetUnreachable,
)
from ansible_collections.hastack.stack.plugins.module_utils.target import (
    check_target as check,
)


def check_target(module: AnsibleAWSModule) -> None:
    """Region, endpoint and credentials, without an AWS call (module_utils/target.py)."""
    spec = module.params["target_check"]
    if not spec:
        return
    try:
        check(os.environ, emulator=spec["emulator"], region=spec["region"])
    except TargetError as e:
        # setting_error: a value a person must fix (the wrapper exits 3), not an outage.
        module.fail_json(msg=str(e), setting_error=True, setting=e.setting)
    except TargetUnreachable as e:
        module.fail_json(msg=str(e), setting_error=False)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "target_check": {
                "type": "dict",
                "options": {
                    "region": {"type": "str", "required": True},
                    "emulator": {"type": "bool", "default": False},
                },
            }
        },
        supports_check_mode=True,
    )
    check_target(module)
    client = module.client("sts")
    endpoint = client.meta.endpoint_url
    setting = (
        f"AWS_RETRY_MODE={os.environ.get('AWS_RETRY_MODE', 'legacy')}, "
        f"AWS_MAX_ATTEMPTS={os.environ.get('AWS_MAX_ATTEMPTS', 'unset')}"
    )
    try:
        answer = client.get_caller_identity()
    except botocore.exceptions.ClientError as e:
        attempts = e.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        error = e.response.get("Error", {})
        module.fail_json(
            msg=(
                f"Cannot use AWS at {endpoint}: {error.get('Code', '?')} "
                f"({error.get('Message', '')}) on sts:GetCallerIdentity, "
                f"{attempts} attempt(s), retries exhausted or not retryable ({setting}). "
                "Check the endpoint and the credentials, or raise preflight_aws_max_attempts "
                "if the API is throttling."
            ),
            endpoint=endpoint,
            attempts=attempts,
            error=error,
        )
    except botocore.exceptions.BotoCoreError as e:
        module.fail_json(
            msg=(
                f"Cannot reach AWS at {endpoint}: {e} (sts:GetCallerIdentity, retries "
                f"exhausted; {setting}). Check the endpoint, the network and the proxy "
                "settings, or raise preflight_aws_max_attempts."
            ),
            endpoint=endpoint,
        )
    module.exit_json(
        changed=False,
        account=answer["Account"],
        arn=answer["Arn"],
        endpoint=endpoint,
        attempts=answer["ResponseMetadata"].get("RetryAttempts", 0) + 1,
    )


if __name__ == "__main__":
    main()
