"""The fault proxy itself: each fault has AWS's shape, botocore retries it, rates hold.

Error shapes and retries go through the session emulator with real botocore clients; rate
counting uses a stub upstream (1000 requests, no moto cost).
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tests.faultproxy import MIXED_KINDS, FaultProxy, mixed
from tests.support import REGION, serving, tag_filter

pytestmark = pytest.mark.emulator

# service -> (a read that works on an empty emulator, kwargs, throttling code AWS uses there)
READS = {
    "ec2": ("describe_vpcs", {}, "RequestLimitExceeded"),
    "elbv2": ("describe_load_balancers", {}, "Throttling"),
    "autoscaling": ("describe_auto_scaling_groups", {}, "Throttling"),
    "iam": ("list_roles", {}, "Throttling"),
    "sts": ("get_caller_identity", {}, "Throttling"),
    "cloudwatch": ("describe_alarms", {}, "ThrottlingException"),  # RPC v2 CBOR
    "ssm": ("get_parameters_by_path", {"Path": "/faultproxy/"}, "ThrottlingException"),  # JSON
}


def aws(service: str, endpoint: str, attempts: int) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy key
        config=botocore.config.Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


@pytest.mark.parametrize("service", sorted(READS))
def test_each_fault_has_the_protocols_error_shape(aws_env: str, service: str) -> None:
    operation, kwargs, throttle_code = READS[service]
    expected = {
        "throttle": (400, throttle_code),
        "error500": (500, "InternalError"),
        "error503": (
            503,
            "ServiceUnavailable"
            if service not in ("cloudwatch", "ssm")
            else "ServiceUnavailableException",
        ),
    }
    for kind, (status, code) in expected.items():
        with (
            FaultProxy(aws_env, {kind: 1.0}) as proxy,
            pytest.raises(botocore.exceptions.ClientError) as caught,
        ):
            getattr(aws(service, proxy.endpoint, 1), operation)(**kwargs)
        error = caught.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == status, (kind, error)
        assert error["Error"]["Code"] == code, (kind, error)
        assert [e.fault for e in proxy.events] == [kind]


@pytest.mark.parametrize("kind", ["throttle", "error500", "error503", "drop"])
def test_botocore_retries_each_fault_and_the_proxy_sees_the_retries(
    aws_env: str, kind: str
) -> None:
    """Two faulted attempts of one call, then success: botocore's standard mode retries them
    all (the throttling answer is classified as retryable), and the events show one
    invocation with attempts 1, 2, 3 and the summary counts 2 recovered faults."""
    with FaultProxy(aws_env, {}, targeted={"DescribeAlarms": (kind, 2)}) as proxy:
        answer = aws("cloudwatch", proxy.endpoint, 3).describe_alarms()
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert [(e.attempt, e.fault) for e in proxy.events] == [(1, kind), (2, kind), (3, None)]
    assert len({e.invocation for e in proxy.events}) == 1
    assert proxy.retries() | {"calls": 1} == {
        "retried": 2,
        "recovered": 2,
        "exhausted": 0,
        "calls": 1,
        "max_attempt": 3,
    }


def test_exhausted_retries_are_counted(aws_env: str) -> None:
    with (
        FaultProxy(aws_env, {"throttle": 1.0}) as proxy,
        pytest.raises(botocore.exceptions.ClientError, match="reached max retries: 1"),
    ):
        aws("ec2", proxy.endpoint, 2).describe_vpcs()
    assert proxy.retries()["exhausted"] == 1
    assert proxy.retries()["recovered"] == 0
    assert proxy.retries()["retried"] == 1


def test_drop_closes_without_an_answer(aws_env: str) -> None:
    with FaultProxy(aws_env, {"drop": 1.0}) as proxy:
        port = int(proxy.endpoint.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            body = b"Action=DescribeVpcs&Version=2016-11-15"
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + b"Content-Type: application/x-www-form-urlencoded\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            assert sock.recv(1024) == b""  # closed, not a single byte answered
    assert [(e.operation, e.fault, e.status) for e in proxy.events] == [
        ("DescribeVpcs", "drop", None)
    ]


def test_drop_after_carries_out_the_request_and_loses_the_answer(aws_env: str) -> None:
    """The client sees a closed connection; the emulator has done the work all the same."""
    ec2 = aws("ec2", aws_env, 1)
    with (
        FaultProxy(aws_env, {}, targeted={"CreateVpc": ("drop_after", 1)}) as proxy,
        pytest.raises(botocore.exceptions.ConnectionClosedError),
    ):
        aws("ec2", proxy.endpoint, 1).create_vpc(
            CidrBlock="10.99.0.0/16",
            TagSpecifications=[
                {
                    "ResourceType": "vpc",
                    "Tags": [{"Key": "hastack:stack", "Value": "faultproxy-lost"}],
                }
            ],
        )
    made = ec2.describe_vpcs(Filters=tag_filter("faultproxy-lost"))["Vpcs"]
    try:
        assert len(made) == 1
        assert [e.fault for e in proxy.events] == ["drop_after"]
    finally:
        for vpc in made:
            ec2.delete_vpc(VpcId=vpc["VpcId"])


def test_slow_answers_are_delayed_and_then_answered(aws_env: str) -> None:
    with FaultProxy(aws_env, {"slow": 1.0}, slow_seconds=(0.3, 0.3)) as proxy:
        answer = aws("ec2", proxy.endpoint, 1).describe_vpcs()
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [e.fault for e in proxy.events] == ["slow"]


# -- rates and the moto API, against a stub upstream --------------------------------------------


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def stub_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    with serving(server) as url:
        yield url


def _send(port: int, path: str, action: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=f"Action={action}")
        return conn.getresponse().status
    except (http.client.RemoteDisconnected, ConnectionError):
        return None
    finally:
        conn.close()


def test_rates_are_honoured_and_reproducible() -> None:
    rates = mixed(0.5)  # 10 % of each of the five kinds
    runs = []
    with stub_upstream() as upstream:
        for _ in range(2):
            with FaultProxy(upstream, rates, seed=7, slow_seconds=(0, 0)) as proxy:
                port = int(proxy.endpoint.rsplit(":", 1)[1])
                statuses = [_send(port, "/", f"Op{i % 3}") for i in range(1000)]
            runs.append([e.fault for e in proxy.events])
    faults = proxy.faults()
    for kind in MIXED_KINDS:  # 100 expected each; 4 standard deviations is +-38
        assert 62 <= faults[kind] <= 138, faults
    assert faults["drop_after"] == 0
    assert statuses.count(None) == faults["drop"]
    assert statuses.count(400) == faults["throttle"]
    assert statuses.count(503) == faults["error503"]
    assert statuses.count(200) == 1000 - sum(
        faults[k] for k in ("throttle", "error500", "error503", "drop")
    )
    assert runs[0] == runs[1], "the same seed must give the same faults"
    assert proxy.summary()["requests"] == 1000
    assert sum(row["requests"] for row in proxy.by_operation().values()) == 1000


def test_moto_api_is_never_faulted() -> None:
    with stub_upstream() as upstream, FaultProxy(upstream, {"drop": 0.5, "error503": 0.5}) as proxy:
        port = int(proxy.endpoint.rsplit(":", 1)[1])
        statuses = [_send(port, "/moto-api/reset", "") for _ in range(50)]
    assert statuses == [200] * 50
    assert proxy.events == []
    assert proxy.moto_api_requests == 50


def test_unknown_kinds_and_impossible_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultProxy("http://127.0.0.1:1", {"explode": 0.1})
    with pytest.raises(ValueError, match="at most 1"):
        FaultProxy("http://127.0.0.1:1", {"drop": 0.7, "slow": 0.7})
