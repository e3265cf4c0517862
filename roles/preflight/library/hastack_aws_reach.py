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

import contextlib
import os

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

DOCUMENTATION = r"""
module: hastack_aws_reach
short_description: Check that AWS (or an emulator) answers, with botocore's retries only
description:
  - Calls STS GetCallerIdentity once. It needs no IAM permission, so it fails only when the
    endpoint, the network, the credentials or the API's capacity fail.
  - Retries are botocore's alone (C(AWS_RETRY_MODE), C(AWS_MAX_ATTEMPTS)), so a target that
    never answers costs a bounded time.
  - On failure the message names the endpoint, the AWS error, how many attempts were made
    and the retry setting.
options: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
"""

EXAMPLES = r"""
- name: Check that the target answers
  hastack_aws_reach:
"""

RETURN = r"""
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


def main() -> None:
    module = AnsibleAWSModule(argument_spec={}, supports_check_mode=True)
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
