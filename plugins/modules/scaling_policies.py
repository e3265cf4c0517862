#!/usr/bin/python
# Apache-2.0 (see the project licence)

"""Set (or remove) an Auto Scaling group's scaling policies and CloudWatch alarms in one call.

Why: community.aws.autoscaling_policy and amazon.aws.cloudwatch_metric_alarm handle one
policy or alarm per module run, and each run costs about 0.65 s of start-up; the scaling
role needed six of them on every deploy and six on every destroy. This module reads every
policy with one DescribePolicies and every alarm with one DescribeAlarms, and writes only
what differs, so an unchanged stack costs two reads.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: scaling_policies
short_description: Scaling policies and their CloudWatch alarms, all in one call
description:
  - Each policy is given as the arguments of PutScalingPolicy (without PolicyName and
    AutoScalingGroupName); each alarm as the arguments of PutMetricAlarm (without AlarmName).
    An alarm's C(policy) names the policy whose ARN becomes its only alarm action.
  - A policy or alarm is written only when a given field differs from what AWS holds (fields
    AWS returns but that are not given are not compared); C(state=absent) items are deleted
    if they exist. Policies are set before alarms; deletions are alarms first.
  - Check mode reads only and reports what would change.
  - IAM actions autoscaling:DescribePolicies, autoscaling:PutScalingPolicy,
    autoscaling:DeletePolicy, cloudwatch:DescribeAlarms, cloudwatch:PutMetricAlarm,
    cloudwatch:DeleteAlarms.
  - "Upstream: community.aws.autoscaling_policy and amazon.aws.cloudwatch_metric_alarm compare and
    write correctly but one policy or alarm per module run, six runs (about 0.65 s of start-up
    each) on every deploy and destroy; this module reads all in two calls."
options:
  asg_name:
    description: Auto Scaling group the policies belong to.
    type: str
    required: true
  state:
    description: C(absent) deletes every policy and alarm named, whatever its own state.
    type: str
    choices: [present, absent]
    default: present
  policies:
    description: Scaling policies, each C(name), C(state) (present/absent) and C(spec).
    type: list
    elements: dict
    default: []
    suboptions: &item
      name:
        description: The policy's (or alarm's) name.
        type: str
        required: true
      state:
        description: C(absent) deletes it if it exists.
        type: str
        choices: [present, absent]
        default: present
      spec:
        description: The arguments of PutScalingPolicy (or PutMetricAlarm) but the names.
        type: dict
        default: {}
      policy:
        description: For an alarm, the policy whose ARN becomes its only alarm action.
        type: str
  alarms:
    description: Alarms, each C(name), C(state), C(spec) and optional C(policy).
    type: list
    elements: dict
    default: []
    suboptions: *item
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: hastack maintainers (@hastack)
"""

EXAMPLES = r"""
- name: Track average CPU
  hastack.stack.scaling_policies:
    asg_name: shop-prod-asg
    policies:
      - name: shop-prod-cpu-target
        state: present
        spec:
          PolicyType: TargetTrackingScaling
          EstimatedInstanceWarmup: 180
          TargetTrackingConfiguration:
            PredefinedMetricSpecification: {PredefinedMetricType: ASGAverageCPUUtilization}
            TargetValue: 70.0
            DisableScaleIn: false
"""

RETURN = r"""
policy_arns:
  description: ARN of every present policy by name ('' in check mode for one not created yet).
  returned: always
  type: dict
alarms:
  description: Names of the present alarms.
  returned: always
  type: list
  elements: str
actions:
  description: What was (or in check mode would be) done, e.g. C(put policy x).
  returned: always
  type: list
  elements: str
"""

import contextlib
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Fields Ansible may hand over as strings; AWS answers them as numbers.
_INTS = {
    "EstimatedInstanceWarmup",
    "Cooldown",
    "ScalingAdjustment",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "MinAdjustmentMagnitude",
}
_FLOATS = {"TargetValue", "Threshold", "MetricIntervalLowerBound", "MetricIntervalUpperBound"}


def normalise(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, key) for v in value]
    if key in _INTS and isinstance(value, (str, float)):
        return int(float(value))
    if key in _FLOATS and isinstance(value, (str, int)) and not isinstance(value, bool):
        return float(value)
    if (
        isinstance(value, str)
        and value.lower() in ("true", "false")
        and key in ("DisableScaleIn", "ActionsEnabled")
    ):
        return value.lower() == "true"
    return value


def differs(want: Any, have: Any) -> bool:
    """True when a given field differs; keys AWS adds to a nested mapping are not compared."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return True
        return any(differs(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return True
        return any(differs(w, h) for w, h in zip(want, have, strict=True))
    return want != have


def changed_fields(spec: dict, have: dict) -> dict:
    return {
        k: {"before": have.get(k), "after": v} for k, v in spec.items() if differs(v, have.get(k))
    }


def main() -> None:
    item = {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "spec": {"type": "dict", "default": {}},
        "policy": {"type": "str"},
    }
    module = AnsibleAWSModule(
        argument_spec={
            "asg_name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "policies": {"type": "list", "elements": "dict", "default": [], "options": item},
            "alarms": {"type": "list", "elements": "dict", "default": [], "options": item},
        },
        supports_check_mode=True,
    )
    p = module.params
    asg = p["asg_name"]
    removing = p["state"] == "absent"
    asc = module.client("autoscaling", retry_decorator=AWSRetry.jittered_backoff())
    cw = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    policy_names = [x["name"] for x in p["policies"]]
    alarm_names = [x["name"] for x in p["alarms"]]

    try:
        have_policies = {}
        if policy_names:
            # Without the group's name when removing: the group may be gone or renamed already.
            kwargs = (
                {"PolicyNames": policy_names}
                if removing
                else {"AutoScalingGroupName": asg, "PolicyNames": policy_names}
            )
            pages = asc.get_paginator("describe_policies").paginate(**kwargs).build_full_result()
            have_policies = {x["PolicyName"]: x for x in pages.get("ScalingPolicies", [])}
        have_alarms = {}
        if alarm_names:
            pages = (
                cw.get_paginator("describe_alarms")
                .paginate(AlarmNames=alarm_names)
                .build_full_result()
            )
            have_alarms = {x["AlarmName"]: x for x in pages.get("MetricAlarms", [])}
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to read the scaling policies and alarms")

    actions: list[str] = []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    arns = {n: x["PolicyARN"] for n, x in have_policies.items()}
    check = module.check_mode

    def call(what: str, fn, **kwargs):
        actions.append(what)
        if check:
            return None
        try:
            return fn(aws_retry=True, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to {what}", actions=actions)

    # Policies first: the alarms point at their ARNs.
    for pol in p["policies"]:
        name = pol["name"]
        if removing or pol["state"] == "absent":
            continue
        spec = normalise(pol["spec"])
        have = have_policies.get(name)
        diff = changed_fields(spec, have) if have else {"policy": {"before": None, "after": spec}}
        if diff:
            before[f"policy {name}"] = {k: v["before"] for k, v in diff.items()}
            after[f"policy {name}"] = {k: v["after"] for k, v in diff.items()}
            answer = call(
                f"put policy {name}",
                asc.put_scaling_policy,
                PolicyName=name,
                AutoScalingGroupName=asg,
                **spec,
            )
            if answer and answer.get("PolicyARN"):
                arns[name] = answer["PolicyARN"]
    missing_arns = [
        x["name"] for x in p["policies"] if x["state"] == "present" and x["name"] not in arns
    ]
    if missing_arns and not check and not removing:
        # moto answers PutScalingPolicy without the ARN: read it back.
        try:
            pages = (
                asc.get_paginator("describe_policies")
                .paginate(AutoScalingGroupName=asg, PolicyNames=missing_arns)
                .build_full_result()
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Failed to read the new scaling policies")
        arns.update({x["PolicyName"]: x["PolicyARN"] for x in pages.get("ScalingPolicies", [])})
    # AWS answers PutScalingPolicy with the ARN; a new policy in check mode has none yet.
    present_alarms = []
    for alarm in p["alarms"]:
        name = alarm["name"]
        if removing or alarm["state"] == "absent":
            if name in have_alarms:
                before[f"alarm {name}"] = "present"
                after[f"alarm {name}"] = "absent"
                call(f"delete alarm {name}", cw.delete_alarms, AlarmNames=[name])
            continue
        present_alarms.append(name)
        spec = normalise(alarm["spec"])
        if alarm.get("policy"):
            spec["AlarmActions"] = [arns.get(alarm["policy"], "")]
        have = have_alarms.get(name)
        diff = changed_fields(spec, have) if have else {"alarm": {"before": None, "after": spec}}
        if diff:
            before[f"alarm {name}"] = {k: v["before"] for k, v in diff.items()}
            after[f"alarm {name}"] = {k: v["after"] for k, v in diff.items()}
            call(f"put alarm {name}", cw.put_metric_alarm, AlarmName=name, **spec)
    for pol in p["policies"]:
        name = pol["name"]
        if (removing or pol["state"] == "absent") and name in have_policies:
            before[f"policy {name}"] = "present"
            after[f"policy {name}"] = "absent"
            arns.pop(name, None)
            call(
                f"delete policy {name}",
                asc.delete_policy,
                PolicyName=name,
                AutoScalingGroupName=have_policies[name]["AutoScalingGroupName"],
            )

    wanted = [] if removing else [x["name"] for x in p["policies"] if x["state"] == "present"]
    module.exit_json(
        changed=bool(actions),
        actions=actions,
        policy_arns={n: arns.get(n, "") for n in wanted},
        alarms=present_alarms,
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
