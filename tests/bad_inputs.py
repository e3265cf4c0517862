"""The one table of bad inputs: every case is a value a user might set, and what the rejection
must say. ``tests/stack/test_bad_inputs.py`` runs each one (as the user would: a playbook with
``-e``, or the ``hastack`` CLI) and records it for docs/RELIABILITY.md ("Inputs tried").

A case passes when the run fails before any mutating AWS call, its message names ``setting``
(a setting's name, or the start of the sentence that names it) and contains every ``valid``
string (what would be valid), and, for a playbook, each failed result says it is a setting
error (``setting_error`` or Ansible's ``argument_errors``). Add a case here, not in a test file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    id: str  # "<area>-...": vpc, nat, alb, lt, app, asg, scaling, stack, region, check, cli
    setting: str  # the message names it
    valid: tuple[str, ...] = ()  # ... and says what would be valid (each must appear)
    entry: str = "site.yml"  # a playbook, or "cli"
    extra_vars: dict[str, Any] = field(default_factory=dict)
    args: tuple[str, ...] = ()  # cli: the hastack arguments
    env: dict[str, str] = field(default_factory=dict)  # cli: the environment's AWS settings
    exit_code: int = 3  # cli: the documented code
    reads: tuple[str, ...] = ()  # AWS operations validation may make (zones come from AWS)
    max_seconds: float | None = None  # a bound on the time to the rejection


# preflight proves the target answers (GetCallerIdentity); the vpc role's one network call
# reads the zones and the stack's VPC together, then refuses the zones before any change.
ZONES = ("GetCallerIdentity", "DescribeAvailabilityZones", "DescribeVpcs")
NO_CREDS: dict[str, str] = {}  # AWS_* all unset, HOME without ~/.aws
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"

CASES: list[Case] = [
    # -- vpc -----------------------------------------------------------------------------------
    Case(
        "vpc-cidr-malformed",
        "vpc_cidr_block",
        valid=("IPv4 CIDR",),
        extra_vars={"vpc_cidr_block": "10.0.0/16"},
    ),
    Case(
        "vpc-cidr-15",
        "vpc_cidr_block",
        valid=(
            "/16",
            "/28",
        ),
        extra_vars={"vpc_cidr_block": "10.0.0.0/15"},
    ),
    Case(
        "vpc-cidr-29",
        "vpc_cidr_block",
        valid=(
            "/16",
            "/28",
        ),
        extra_vars={"vpc_cidr_block": "10.0.0.0/29"},
    ),
    Case(
        "vpc-subnet-outside",
        "vpc_public_subnet_cidrs[0]",
        valid=("outside vpc_cidr_block 10.0.0.0/16",),
        extra_vars={"vpc_public_subnet_cidrs": ["192.168.1.0/24", "10.0.2.0/24"]},
    ),
    Case(
        "vpc-subnets-overlap",
        "vpc_private_subnet_cidrs[0]",
        valid=("overlaps vpc_public_subnet_cidrs[0]",),
        extra_vars={"vpc_private_subnet_cidrs": ["10.0.1.0/25", "10.0.12.0/24"]},
    ),
    Case(
        "vpc-subnets-dict-not-list",
        "vpc_public_subnet_cidrs",
        valid=("list",),
        extra_vars={"vpc_public_subnet_cidrs": {"a": "10.0.1.0/24"}},
    ),
    Case("vpc-az-count-string", "vpc_az_count", valid=("int",), extra_vars={"vpc_az_count": "two"}),
    Case(
        "vpc-az-count-one",
        "vpc_az_count",
        valid=(
            "at least 2",
            "vpc_az_count: 1 availability zone",
        ),
        extra_vars={"vpc_az_count": 1},
    ),
    Case(
        "vpc-zones-more-than-region",
        "vpc_az_count",
        valid=(
            "us-east-1a",
            "us-east-1f",
        ),
        extra_vars={"vpc_az_count": 7},
        reads=ZONES,
    ),
    Case(
        "vpc-zone-unknown",
        "vpc_azs",
        valid=("available zones: us-east-1a",),
        extra_vars={"vpc_azs": ["us-east-1a", "us-east-1z"]},
        reads=ZONES,
    ),
    Case(
        "vpc-zone-other-region",
        "vpc_azs",
        valid=("us-east-1a",),
        extra_vars={"vpc_azs": ["eu-west-1a", "eu-west-1b"]},
    ),
    Case(
        "vpc-delete-timeout-zero",
        "vpc_delete_timeout",
        valid=("1 or more",),
        entry="destroy.yml",
        extra_vars={"vpc_delete_timeout": 0},
    ),
    Case("vpc-cidr-not-a-cidr", "vpc_cidr_block", extra_vars={"vpc_cidr_block": "not-a-cidr"}),
    Case("vpc-cidr-prefix-33", "vpc_cidr_block", extra_vars={"vpc_cidr_block": "10.0.0.0/33"}),
    Case("vpc-cidr-host-bits", "vpc_cidr_block", extra_vars={"vpc_cidr_block": "10.0.0.1/16"}),
    Case("vpc-cidr-too-large", "vpc_cidr_block", extra_vars={"vpc_cidr_block": "10.0.0.0/8"}),
    Case(
        "vpc-cidr-too-small-to-derive",
        "vpc_public_subnet_cidrs",
        extra_vars={"vpc_cidr_block": "10.0.0.0/28"},
    ),
    Case(
        "vpc-subnet-outside-vpc",
        "vpc_public_subnet_cidrs[0]: 10.1.1.0/24 is outside vpc_cidr_block",
        extra_vars={"vpc_public_subnet_cidrs": ["10.1.1.0/24", "10.0.2.0/24"]},
    ),
    Case(
        "vpc-subnets-overlap-same-tier",
        "overlaps vpc_public_subnet_cidrs[0]",
        extra_vars={"vpc_public_subnet_cidrs": ["10.0.1.0/24", "10.0.1.128/25"]},
    ),
    Case(
        "vpc-subnets-overlap-across-tiers",
        "vpc_private_subnet_cidrs[0]: 10.0.2.0/24 overlaps vpc_public_subnet_cidrs[1]",
        extra_vars={"vpc_private_subnet_cidrs": ["10.0.2.0/24", "10.0.12.0/24"]},
    ),
    Case(
        "vpc-subnet-count-mismatch",
        "vpc_public_subnet_cidrs: 3 CIDRs given but vpc_az_count is 2",
        extra_vars={"vpc_public_subnet_cidrs": ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]},
    ),
    Case(
        "vpc-subnet-malformed",
        "vpc_private_subnet_cidrs[1]",
        extra_vars={"vpc_private_subnet_cidrs": ["10.0.11.0/24", "10.0.12/24"]},
    ),
    Case(
        "vpc-zones-beyond-derived-layout",
        "vpc_az_count: 12 zones is more than",
        extra_vars={"vpc_az_count": 12},
    ),
    Case("vpc-zero-zones", "vpc_az_count", extra_vars={"vpc_az_count": 0}),
    Case("vpc-delete-timeout-zero-2", "vpc_delete_timeout", extra_vars={"vpc_delete_timeout": 0}),
    Case(
        "vpc-one-zone-listed",
        "vpc_azs: 1 availability zone",
        extra_vars={"vpc_azs": ["us-east-1a"]},
    ),
    Case("vpc-zone-listed-twice", "vpc_azs", extra_vars={"vpc_azs": ["us-east-1a", "us-east-1a"]}),
    # -- nat -----------------------------------------------------------------------------------
    Case(
        "nat-mode-unknown",
        "nat_mode",
        valid=(
            "per_az",
            "single",
            "none",
        ),
        extra_vars={"nat_mode": "cheap"},
    ),
    Case(
        "nat-wait-timeout-negative",
        "nat_wait_timeout",
        valid=("positive",),
        extra_vars={"nat_wait_timeout": -5},
    ),
    Case(
        "nat-wait-timeout-zero-destroy",
        "nat_wait_timeout",
        valid=("1 or more",),
        entry="destroy.yml",
        extra_vars={"nat_wait_timeout": 0},
    ),
    Case("nat-timeout-zero", "nat_wait_timeout", extra_vars={"nat_wait_timeout": 0}),
    # -- alb -----------------------------------------------------------------------------------
    Case(
        "alb-name-33-chars",
        "alb_name",
        valid=("1 to 32",),
        extra_vars={"alb_name": "a" * 33},
    ),
    Case(
        "alb-tg-name-underscore",
        "alb_target_group_name",
        valid=("letters, digits and hyphens",),
        extra_vars={"alb_target_group_name": "shop_tg"},
    ),
    Case(
        "alb-health-path-relative",
        "alb_health_check_path",
        valid=("start with '/'",),
        extra_vars={"alb_health_check_path": "healthz"},
    ),
    Case(
        "alb-health-matcher-word",
        "alb_health_check_matcher",
        valid=("200-299",),
        extra_vars={"alb_health_check_matcher": "OK"},
    ),
    Case(
        "alb-health-port-70000", "app_port", valid=("1 to 65535",), extra_vars={"app_port": 70000}
    ),
    Case(
        "alb-health-interval-string",
        "alb_health_check_interval",
        valid=("int",),
        extra_vars={"alb_health_check_interval": "often"},
    ),
    Case(
        "alb-wait-delay-over-timeout",
        "alb_wait_delay",
        valid=("no longer than its timeout",),
        entry="destroy.yml",
        extra_vars={"alb_wait_delay": 900},
    ),
    Case("alb-name-underscore", "alb_name", extra_vars={"alb_name": "shop_alb"}),
    Case("alb-name-trailing-hyphen", "alb_name", extra_vars={"alb_name": "shop-alb-"}),
    Case("alb-name-leading-hyphen", "alb_name", extra_vars={"alb_name": "-shop-alb"}),
    Case("alb-name-internal", "alb_name", extra_vars={"alb_name": "internal-shop"}),
    Case(
        "alb-tg-name-too-long",
        "alb_target_group_name",
        extra_vars={"alb_target_group_name": "a" * 33},
    ),
    Case(
        "alb-tg-name-dot", "alb_target_group_name", extra_vars={"alb_target_group_name": "shop.tg"}
    ),
    Case(
        "alb-tg-name-internal",
        "alb_target_group_name",
        extra_vars={"alb_target_group_name": "internal-tg"},
    ),
    Case(
        "alb-timeout-equals-interval",
        "alb_health_check_timeout",
        extra_vars={"alb_health_check_interval": 10, "alb_health_check_timeout": 10},
    ),
    Case(
        "alb-timeout-above-interval",
        "alb_health_check_timeout",
        extra_vars={"alb_health_check_interval": 10, "alb_health_check_timeout": 30},
    ),
    Case(
        "alb-interval-too-short",
        "alb_health_check_interval",
        extra_vars={"alb_health_check_interval": 4},
    ),
    Case(
        "alb-interval-too-long",
        "alb_health_check_interval",
        extra_vars={"alb_health_check_interval": 301},
    ),
    Case(
        "alb-healthy-threshold-one",
        "alb_health_check_healthy_threshold",
        extra_vars={"alb_health_check_healthy_threshold": 1},
    ),
    Case(
        "alb-unhealthy-threshold-eleven",
        "alb_health_check_unhealthy_threshold",
        extra_vars={"alb_health_check_unhealthy_threshold": 11},
    ),
    Case(
        "alb-matcher-semicolon",
        "alb_health_check_matcher",
        extra_vars={"alb_health_check_matcher": "200;302"},
    ),
    Case(
        "alb-matcher-below-200",
        "alb_health_check_matcher",
        extra_vars={"alb_health_check_matcher": "100"},
    ),
    Case(
        "alb-matcher-open-range",
        "alb_health_check_matcher",
        extra_vars={"alb_health_check_matcher": "200-"},
    ),
    Case(
        "alb-path-with-space",
        "alb_health_check_path",
        extra_vars={"alb_health_check_path": "/health z"},
    ),
    Case(
        "alb-deregistration-negative",
        "alb_deregistration_delay",
        extra_vars={"alb_deregistration_delay": -1},
    ),
    Case(
        "alb-deregistration-too-long",
        "alb_deregistration_delay",
        extra_vars={"alb_deregistration_delay": 3601},
    ),
    Case("alb-idle-timeout-zero", "alb_idle_timeout", extra_vars={"alb_idle_timeout": 0}),
    Case("alb-idle-timeout-too-long", "alb_idle_timeout", extra_vars={"alb_idle_timeout": 4001}),
    Case(
        "alb-idle-timeout-wrong-type", "alb_idle_timeout", extra_vars={"alb_idle_timeout": "sixty"}
    ),
    Case(
        "alb-certificate-from-iam",
        "alb_certificate_arn",
        extra_vars={"alb_certificate_arn": "arn:aws:iam::123456789012:server-certificate/shop"},
    ),
    Case(
        "alb-certificate-short-account",
        "alb_certificate_arn",
        extra_vars={"alb_certificate_arn": CERT.replace("123456789012", "12345")},
    ),
    Case(
        "alb-certificate-not-an-arn",
        "alb_certificate_arn",
        extra_vars={"alb_certificate_arn": "shop.example.com"},
    ),
    Case("alb-ssl-policy-unknown", "alb_ssl_policy", extra_vars={"alb_ssl_policy": "TLS13"}),
    Case(
        "alb-ingress-no-prefix",
        "alb_ingress_cidrs",
        extra_vars={"alb_ingress_cidrs": ["203.0.113.0"]},
    ),
    Case(
        "alb-ingress-host-bits",
        "alb_ingress_cidrs",
        extra_vars={"alb_ingress_cidrs": ["10.0.0.1/16"]},
    ),
    Case(
        "alb-ingress-octet-300",
        "alb_ingress_cidrs",
        extra_vars={"alb_ingress_cidrs": ["300.0.0.0/8"]},
    ),
    Case(
        "alb-ingress-prefix-33",
        "alb_ingress_cidrs",
        extra_vars={"alb_ingress_cidrs": ["10.0.0.0/33"]},
    ),
    Case("alb-ingress-ipv6", "alb_ingress_cidrs", extra_vars={"alb_ingress_cidrs": ["::/0"]}),
    Case("alb-ingress-empty", "alb_ingress_cidrs", extra_vars={"alb_ingress_cidrs": []}),
    Case(
        "alb-ingress-a-string", "alb_ingress_cidrs", extra_vars={"alb_ingress_cidrs": "0.0.0.0/0"}
    ),
    Case("alb-state-unknown", "alb_state", extra_vars={"alb_state": "gone"}),
    # -- launch_template -----------------------------------------------------------------------
    Case(
        "lt-instance-type-bogus",
        "launch_template_instance_type",
        valid=("t3.small",),
        extra_vars={"launch_template_instance_type": "large"},
    ),
    Case(
        "lt-root-volume-zero",
        "launch_template_root_volume_size",
        valid=("8 to 16384",),
        extra_vars={"launch_template_root_volume_size": 0},
    ),
    Case(
        "lt-type-unknown-size",
        "launch_template_instance_type",
        extra_vars={"launch_template_instance_type": "t3.tiny"},
    ),
    Case(
        "lt-type-uppercase",
        "launch_template_instance_type",
        extra_vars={"launch_template_instance_type": "T3.small"},
    ),
    Case(
        "lt-type-no-dot",
        "launch_template_instance_type",
        extra_vars={"launch_template_instance_type": "t3small"},
    ),
    Case(
        "lt-type-no-generation",
        "launch_template_instance_type",
        extra_vars={"launch_template_instance_type": "t.small"},
    ),
    Case(
        "lt-ami-uppercase",
        "launch_template_ami_id",
        extra_vars={"launch_template_ami_id": "ami-0ABCDEF12"},
    ),
    Case(
        "lt-ami-too-short",
        "launch_template_ami_id",
        extra_vars={"launch_template_ami_id": "ami-123"},
    ),
    Case(
        "lt-ami-wrong-prefix",
        "launch_template_ami_id",
        extra_vars={"launch_template_ami_id": "img-0123456789abcdef0"},
    ),
    Case(
        "lt-ami-parameter-not-a-path",
        "launch_template_ami_ssm_parameter",
        extra_vars={"launch_template_ami_ssm_parameter": "al2023-latest"},
    ),
    Case(
        "lt-root-volume-too-small",
        "launch_template_root_volume_size",
        extra_vars={"launch_template_root_volume_size": 4},
    ),
    Case(
        "lt-root-volume-too-large",
        "launch_template_root_volume_size",
        extra_vars={"launch_template_root_volume_size": 16385},
    ),
    Case(
        "lt-root-volume-not-a-number",
        "launch_template_root_volume_size",
        extra_vars={"launch_template_root_volume_size": "big"},
    ),
    Case(
        "lt-vpc-id-malformed",
        "launch_template_vpc_id",
        extra_vars={"launch_template_vpc_id": "vpc-XYZ"},
    ),
    Case(
        "lt-alb-sg-id-malformed",
        "launch_template_alb_security_group_id",
        extra_vars={"launch_template_alb_security_group_id": "lb-0123456789abcdef0"},
    ),
    # -- app (launch_template) -----------------------------------------------------------------
    Case(
        "app-image-spaces",
        "app_image",
        valid=("ghcr.io/acme/shop:1.4.2",),
        extra_vars={"app_image": "my app:1"},
    ),
    Case(
        "app-image-uppercase",
        "app_image",
        valid=("lowercase repository",),
        extra_vars={"app_image": "ghcr.io/Acme/Shop:1"},
    ),
    Case(
        "app-image-empty",
        "app_image",
        valid=("[registry/]repository[:tag]",),
        extra_vars={"app_image": ""},
    ),
    Case(
        "app-image-url",
        "app_image",
        valid=("[registry/]repository[:tag]",),
        extra_vars={"app_image": "http://ghcr.io/acme/shop:1"},
    ),
    Case(
        "app-secrets-list",
        "app_secrets",
        valid=("dict",),
        extra_vars={"app_secrets": ["DJANGO_SECRET_KEY"]},
    ),
    Case("app-port-zero", "app_port", extra_vars={"app_port": 0}),
    Case("app-port-not-a-number", "app_port", extra_vars={"app_port": "http"}),
    Case(
        "app-image-uppercase-repo", "app_image", extra_vars={"app_image": "ghcr.io/Acme/shop:1.0"}
    ),
    Case("app-image-space-in-tag", "app_image", extra_vars={"app_image": "shop:1 0"}),
    Case("app-image-short-digest", "app_image", extra_vars={"app_image": "shop@sha256:abc123"}),
    Case("app-image-scheme", "app_image", extra_vars={"app_image": "https://ghcr.io/acme/shop"}),
    Case(
        "app-secret-name-hyphen",
        "app_secrets: DJANGO-KEY",
        extra_vars={"app_secrets": {"DJANGO-KEY": "/inputs/django/secret-key"}},
    ),
    Case(
        "app-secret-name-digit-first",
        "app_secrets: 1KEY",
        extra_vars={"app_secrets": {"1KEY": "/inputs/django/secret-key"}},
    ),
    Case(
        "app-secret-name-reserved",
        "app_secrets: HASTACK_AZ",
        extra_vars={"app_secrets": {"HASTACK_AZ": "/inputs/django/secret-key"}},
    ),
    Case(
        "app-secret-parameter-relative",
        "app_secrets: KEY",
        extra_vars={"app_secrets": {"KEY": "inputs/key"}},
    ),
    Case(
        "app-secret-parameter-other-stack",
        "app_secrets: KEY",
        extra_vars={"app_secrets": {"KEY": "/other-stack/key"}},
    ),
    Case(
        "app-secret-parameter-bad-char",
        "app_secrets: KEY",
        extra_vars={"app_secrets": {"KEY": "/inputs/my key"}},
    ),
    Case(
        "app-secret-parameter-not-a-string",
        "app_secrets: KEY",
        extra_vars={"app_secrets": {"KEY": 42}},
    ),
    Case(
        "app-env-name-hyphen",
        "app_environment: DJANGO-DEBUG",
        extra_vars={"app_environment": {"DJANGO-DEBUG": "0"}},
    ),
    Case(
        "app-env-name-reserved",
        "HASTACK_INSTANCE_ID",
        extra_vars={"app_environment": {"HASTACK_INSTANCE_ID": "x"}},
    ),
    Case(
        "app-env-value-list",
        "app_environment: HOSTS",
        extra_vars={"app_environment": {"HOSTS": ["a", "b"]}},
    ),
    Case(
        "app-env-also-secret",
        "app_environment: DJANGO_SECRET_KEY also in app_secrets",
        extra_vars={"app_environment": {"DJANGO_SECRET_KEY": "plain"}},
    ),
    Case("app-env-not-a-mapping", "app_environment", extra_vars={"app_environment": "DEBUG=1"}),
    Case(
        "app-user-data-too-large",
        "app_environment",
        extra_vars={"app_environment": {"BLOB": "x" * 17000}},
    ),
    # -- asg -----------------------------------------------------------------------------------
    Case(
        "asg-min-above-max",
        "asg_min_size",
        valid=(
            "raise asg_max_size",
            "asg_min_size (6) is larger than asg_max_size (5)",
        ),
        extra_vars={"asg_min_size": 6, "asg_max_size": 5},
    ),
    Case(
        "asg-desired-above-max",
        "asg_desired_capacity",
        valid=(
            "between asg_min_size",
            "asg_desired_capacity (9)",
        ),
        extra_vars={"asg_desired_capacity": 9},
    ),
    Case(
        "asg-max-zero",
        "asg_max_size",
        valid=("1 or more",),
        extra_vars={"asg_min_size": 0, "asg_desired_capacity": 0, "asg_max_size": 0},
    ),
    Case(
        "asg-min-negative",
        "asg_min_size",
        valid=(
            "0 or more",
            "asg_min_size must be 0 or more",
        ),
        extra_vars={"asg_min_size": -1, "asg_desired_capacity": 0},
    ),
    Case("asg-max-string", "asg_max_size", valid=("int",), extra_vars={"asg_max_size": "lots"}),
    Case(
        "asg-wait-timeout-zero-destroy",
        "asg_wait_timeout",
        valid=("1 or more",),
        entry="destroy.yml",
        extra_vars={"asg_wait_timeout": 0},
    ),
    Case(
        "asg-desired-below-min",
        "asg_desired_capacity (1)",
        extra_vars={"asg_min_size": 2, "asg_desired_capacity": 1},
    ),
    Case(
        "asg-health-check-type",
        "asg_health_check_type",
        extra_vars={"asg_health_check_type": "HTTP"},
    ),
    Case(
        "asg-grace-negative",
        "asg_health_check_grace_period",
        extra_vars={"asg_health_check_grace_period": -5},
    ),
    Case("asg-wait-timeout-zero", "asg_wait_timeout", extra_vars={"asg_wait_timeout": 0}),
    Case("asg-name-bad", "asg_name", extra_vars={"asg_name": "my group!"}),
    # -- scaling -------------------------------------------------------------------------------
    Case(
        "scaling-cpu-target-150",
        "scaling_cpu_target",
        valid=("at most 100",),
        extra_vars={"scaling_cpu_target": 150},
    ),
    Case(
        "scaling-cpu-target-zero",
        "scaling_cpu_target",
        valid=("above 0",),
        extra_vars={"scaling_cpu_target": 0},
    ),
    Case(
        "scaling-warmup-negative",
        "scaling_instance_warmup",
        valid=("0 or more",),
        extra_vars={"scaling_instance_warmup": -1},
    ),
    Case(
        "scaling-request-count-negative",
        "scaling_request_count_target",
        extra_vars={"scaling_request_count_target": -10},
    ),
    Case(
        "scaling-alarm-thresholds-crossed",
        "scaling_low_cpu_threshold",
        extra_vars={
            "scaling_step_alarms": True,
            "scaling_low_cpu_threshold": 90,
            "scaling_high_cpu_threshold": 80,
        },
    ),
    Case(
        "scaling-alarm-period",
        "scaling_alarm_period",
        extra_vars={"scaling_step_alarms": True, "scaling_alarm_period": 45},
    ),
    Case(
        "scaling-alarm-evaluation-periods",
        "scaling_alarm_evaluation_periods",
        extra_vars={"scaling_step_alarms": True, "scaling_alarm_evaluation_periods": 0},
    ),
    # -- preflight: the stack ------------------------------------------------------------------
    Case(
        "stack-name-over-alb-limit",
        "stack_name",
        valid=("2 to 28",),
        extra_vars={"stack_name": "shop-aaaaaaaaaaaaaaaaaaaaaaaa"},
    ),
    Case(
        "stack-name-invalid-chars",
        "stack_name",
        valid=("lowercase letters, digits",),
        extra_vars={"stack_name": "Shop_Prod!"},
    ),
    Case(
        "stack-environment-unknown",
        "stack_environment",
        valid=("lowercase letters",),
        extra_vars={"stack_environment": "Prod Env"},
    ),
    Case(
        "stack-tag-reserved-prefix",
        "stack_extra_tags",
        valid=("not starting with 'aws:'",),
        extra_vars={"stack_extra_tags": {"aws:owner": "me"}},
    ),
    Case(
        "stack-tag-key-too-long",
        "stack_extra_tags",
        valid=("up to 128",),
        extra_vars={"stack_extra_tags": {"k" * 129: "v"}},
    ),
    Case("stack-name-uppercase", "stack_name", extra_vars={"stack_name": "Shop_Prod"}),
    Case(
        "stack-name-too-long",
        "stack_name",
        extra_vars={"stack_name": "a" * 29},
    ),
    Case("stack-name-trailing-hyphen", "stack_name", extra_vars={"stack_name": "shop-"}),
    Case("stack-name-internal", "stack_name", extra_vars={"stack_name": "internal-shop"}),
    Case("stack-name-empty", "stack_name", extra_vars={"stack_name": ""}),
    # -- preflight: the region -----------------------------------------------------------------
    Case(
        "region-not-in-aws",
        "aws_region",
        valid=("us-east-1, us-east-2",),
        extra_vars={"aws_region": "us-east-9"},
    ),
    Case(
        "region-malformed-destroy",
        "aws_region",
        valid=("eu-west-1",),
        entry="destroy.yml",
        extra_vars={"aws_region": "mars-1"},
    ),
    Case("region-malformed", "aws_region", extra_vars={"aws_region": "mars-1"}),
    # -- check.yml settings --------------------------------------------------------------------
    Case(
        "check-probe-retries-zero",
        "check_probe_retries",
        valid=("positive",),
        entry="check.yml",
        extra_vars={"check_probe_retries": 0},
    ),
    Case(
        "check-probe-delay-negative",
        "check_probe_delay",
        valid=("positive",),
        entry="check.yml",
        extra_vars={"check_probe_delay": -10},
    ),
    Case(
        "check-probe-url-ftp",
        "check_probe_url",
        valid=("http://",),
        entry="check.yml",
        extra_vars={"check_probe_url": "ftp://shop.example.com"},
    ),
    Case(
        "check-az-spread-maybe",
        "check_require_az_spread",
        valid=("true or false",),
        entry="check.yml",
        extra_vars={"check_require_az_spread": "maybe"},
    ),
    # -- the wrapper / CLI ---------------------------------------------------------------------
    Case(
        "cli-env-unknown",
        "--env",
        valid=(
            "dev",
            "local",
            "prod",
        ),
        entry="cli",
        args=(
            "deploy",
            "--env",
            "nope",
        ),
    ),
    Case(
        "cli-var-malformed",
        "--var",
        valid=("KEY=VALUE",),
        entry="cli",
        args=(
            "deploy",
            "--var",
            "vpc_az_count",
        ),
    ),
    Case(
        "cli-stack-invalid",
        "stack_name",
        valid=("2 to 28",),
        entry="cli",
        args=(
            "deploy",
            "--stack",
            "Shop_Prod",
        ),
    ),
    Case(
        "cli-region-unknown",
        "aws_region",
        valid=("us-east-1",),
        entry="cli",
        args=(
            "deploy",
            "--var",
            "aws_region=us-east-9",
        ),
    ),
    Case(
        "cli-dev-no-credentials",
        "AWS_PROFILE",
        valid=(
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ),
        entry="cli",
        args=(
            "deploy",
            "--env",
            "dev",
        ),
        env=NO_CREDS,
    ),
    Case(
        "cli-dev-profile-unknown",
        "AWS_PROFILE",
        valid=("aws configure --profile",),
        entry="cli",
        args=(
            "destroy",
            "--env",
            "dev",
        ),
        env={"AWS_PROFILE": "nope"},
    ),
    Case(
        "cli-dev-access-key-malformed",
        "AWS_ACCESS_KEY_ID",
        valid=("AKIA",),
        entry="cli",
        args=(
            "deploy",
            "--env",
            "dev",
        ),
        env={
            "AWS_ACCESS_KEY_ID": "not-a-key",
            "AWS_SECRET_ACCESS_KEY": "x" * 40,
        },
    ),
    Case(
        "cli-dev-secret-missing",
        "AWS_SECRET_ACCESS_KEY",
        valid=("set both",),
        entry="cli",
        args=(
            "plan",
            "--env",
            "dev",
        ),
        env={"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"},
    ),
    Case(
        "cli-endpoint-not-a-url",
        "AWS_ENDPOINT_URL",
        valid=("http://127.0.0.1:5000",),
        entry="cli",
        args=("deploy",),
        env={"AWS_ENDPOINT_URL": "not-a-url"},
    ),
    Case(
        "cli-endpoint-ftp",
        "AWS_ENDPOINT_URL",
        valid=("http:// or https://",),
        entry="cli",
        args=("check",),
        env={"AWS_ENDPOINT_URL": "ftp://x"},
    ),
    Case(
        "cli-endpoint-unreachable",
        "AWS_ENDPOINT_URL",
        valid=(
            "nothing answers",
            "unset",
        ),
        entry="cli",
        args=("deploy",),
        env={"AWS_ENDPOINT_URL": "CLOSED"},
        exit_code=1,
        max_seconds=30,
    ),
]
