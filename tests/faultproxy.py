"""A fault-injecting HTTP reverse proxy for AWS API calls, on 127.0.0.1.

It stands between the project and the emulator and, per request, with a seeded RNG, answers
as a busy or broken AWS would: throttling in the protocol's own error shape, 500 and 503
answers, slow answers, connections dropped before forwarding, and (``drop_after``) requests
forwarded whose answer is then lost. ``/moto-api/`` is never faulted. Standard library only.

In tests::

    with FaultProxy(emulator, rates=mixed(0.1), seed=1) as proxy:
        env["AWS_ENDPOINT_URL"] = proxy.endpoint
        ...
    proxy.summary()   # requests, faults per kind, per operation, retries, recovered

Standalone: ``python -m tests.faultproxy --target http://127.0.0.1:PORT --rate 0.1 --seed 1``
prints the proxy's endpoint, serves until Ctrl-C, then prints the summary as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

# Kinds a mixed rate spreads over. drop_after (a lost answer to a request AWS carried out) is
# left out: against a create call it tests idempotence, not retries, so tests ask for it alone.
MIXED_KINDS = ("throttle", "error500", "error503", "slow", "drop")
KINDS = (*MIXED_KINDS, "drop_after")
SLOW_SECONDS = (0.2, 1.5)
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "proxy-connection",
}


def mixed(rate: float, kinds: tuple[str, ...] = MIXED_KINDS) -> dict[str, float]:
    """A total fault ``rate`` shared equally by ``kinds``."""
    return {kind: rate / len(kinds) for kind in kinds}


@dataclass(frozen=True)
class Event:
    """One request the proxy saw. ``invocation`` and ``attempt`` come from botocore's
    ``amz-sdk-invocation-id`` / ``amz-sdk-request`` headers: retries of one call share the id."""

    seq: int
    service: str
    operation: str
    fault: str | None
    status: int | None  # what the client got; None when the connection was dropped
    invocation: str
    attempt: int


# -- what a request is -------------------------------------------------------------------------


def _protocol(headers: Any, path: str) -> str:
    if headers.get("X-Amz-Target"):
        return "json"
    if "/operation/" in path or headers.get("smithy-protocol") == "rpc-v2-cbor":
        return "cbor"
    return "query"


def classify(headers: Any, path: str, body: bytes) -> tuple[str, str, str]:
    """(protocol, service, operation) of one botocore request.

    The service is the SigV4 credential scope's (``ec2``, ``elasticloadbalancing``,
    ``monitoring``, ...); with an endpoint override the Host says nothing, so the Host's
    first label is only the fallback for unsigned requests.
    """
    protocol = _protocol(headers, path)
    auth = headers.get("Authorization", "")
    if "Credential=" in auth:
        service = auth.split("Credential=", 1)[1].split("/")[3]
    else:
        service = (headers.get("Host") or "?").split(".")[0]
    if protocol == "json":
        operation = headers["X-Amz-Target"].rsplit(".", 1)[-1]
    elif protocol == "cbor":
        operation = path.rstrip("/").rsplit("/", 1)[-1]
    else:
        params = parse_qs(body.decode(errors="replace")) if body else {}
        params = params or parse_qs(urlsplit(path).query)
        operation = (params.get("Action") or [f"{headers.get('X-HTTP-Method', '')}{path}"])[0]
    return protocol, service, operation


# -- AWS error answers, in each protocol's shape ----------------------------------------------

# kind -> (status, EC2 code, query code, JSON/CBOR type, message)
_ERRORS = {
    "throttle": (400, "RequestLimitExceeded", "Throttling", "ThrottlingException", "Rate exceeded"),
    "error500": (500, "InternalError", "InternalError", "InternalError", "Internal error"),
    "error503": (
        503,
        "ServiceUnavailable",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "Service unavailable",
    ),
}


def _cbor_text(value: str) -> bytes:
    data = value.encode()
    n = len(data)
    head = (
        bytes([0x60 | n])
        if n < 24
        else bytes([0x78, n])
        if n < 256
        else bytes([0x79]) + n.to_bytes(2, "big")
    )
    return head + data


def _cbor_map(items: dict[str, str]) -> bytes:
    """A CBOR map of short text strings: all an RPC v2 error body needs (no cbor dependency)."""
    out = bytes([0xA0 | len(items)])
    for key, value in items.items():
        out += _cbor_text(key) + _cbor_text(value)
    return out


def error_answer(kind: str, protocol: str, service: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) AWS sends for ``kind`` in ``protocol`` for ``service``."""
    status, ec2_code, query_code, json_type, message = _ERRORS[kind]
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if protocol == "json":
        headers["Content-Type"] = "application/x-amz-json-1.1"
        body = json.dumps({"__type": json_type, "message": message}).encode()
    elif protocol == "cbor":
        headers |= {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
        headers["x-amzn-query-error"] = f"{query_code};{'Sender' if status < 500 else 'Receiver'}"
        body = _cbor_map({"__type": json_type, "message": message})
    elif service == "ec2":
        headers["Content-Type"] = "text/xml;charset=UTF-8"
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{ec2_code}"
            f"</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}"
            "</RequestID></Response>"
        ).encode()
    else:
        headers["Content-Type"] = "text/xml"
        side = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{side}</Type><Code>{query_code}</Code><Message>"
            f"{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
    return status, headers, body


# -- the proxy -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects from AWS
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        proxy = self.server.proxy
        if self.path.startswith("/moto-api/"):
            proxy._count_moto_api()
            self._answer(*self._forward(body))
            return
        protocol, service, operation = classify(self.headers, self.path, body)
        invocation = self.headers.get("amz-sdk-invocation-id", "")
        attempt_header = self.headers.get("amz-sdk-request", "")
        attempt = (
            int(attempt_header.split("attempt=")[1].split(";")[0])
            if "attempt=" in attempt_header
            else 1
        )
        seq, fault, delay = proxy._decide(operation)
        status: int | None = None
        try:
            if fault in _ERRORS:
                status, headers, data = error_answer(fault, protocol, service)
                self._answer(status, headers, data)
            elif fault == "drop":
                self._drop()
            elif fault == "drop_after":
                self._forward(body)
                self._drop()
            else:
                status, headers, data = self._forward(body)
                if fault == "slow":
                    time.sleep(delay)
                self._answer(status, headers, data)
        finally:
            proxy._record(Event(seq, service, operation, fault, status, invocation, attempt))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        host, port = self.server.proxy.target
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            kept = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP}
            return answer.status, kept, data
        finally:
            conn.close()

    def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _drop(self) -> None:
        """Close the connection without a byte of answer (the client sees it closed)."""
        self.close_connection = True

    def log_message(self, *_: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (botocore after a timeout, a test) is no proxy error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FaultProxy:
    """A reverse proxy to ``target`` injecting faults at ``rates`` (kind -> probability).

    ``targeted`` faults the first ``n`` calls of an operation with one kind, whatever the
    rates: ``{"CreateNatGateway": ("drop_after", 1)}``. Rates and targets can be changed
    while it runs (:meth:`set_rates`).
    """

    def __init__(
        self,
        target: str,
        rates: dict[str, float] | None = None,
        *,
        seed: int = 0,
        targeted: dict[str, tuple[str, int]] | None = None,
        slow_seconds: tuple[float, float] = SLOW_SECONDS,
        port: int = 0,
    ) -> None:
        parts = urlsplit(target)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"target {target!r}: expected http://HOST:PORT")
        self.target = (parts.hostname, parts.port)
        self.seed = seed
        self.slow_seconds = slow_seconds
        self._rng = random.Random(seed)  # noqa: S311 - a reproducible fault pattern, not a secret
        self._lock = threading.RLock()
        self.set_rates(rates or {}, targeted)
        self._events: list[Event] = []
        self._decided = 0
        self.moto_api_requests = 0
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.proxy = self
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def set_rates(
        self, rates: dict[str, float], targeted: dict[str, tuple[str, int]] | None = None
    ) -> None:
        unknown = set(rates) | {kind for kind, _ in (targeted or {}).values()}
        unknown -= set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        if any(r < 0 for r in rates.values()) or sum(rates.values()) > 1 + 1e-9:
            raise ValueError(f"rates must be >= 0 and add up to at most 1: {rates}")
        with self._lock:
            self.rates = dict(rates)
            self.targeted = {op: [kind, n] for op, (kind, n) in (targeted or {}).items()}

    # -- lifecycle
    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- per request (called from handler threads)
    def _decide(self, operation: str) -> tuple[int, str | None, float]:
        """(sequence number, fault or None, delay for a slow answer), in arrival order."""
        with self._lock:
            seq = self._decided
            self._decided += 1
            draw = self._rng.random()
            delay = self._rng.uniform(*self.slow_seconds)
            target = self.targeted.get(operation)
            if target and target[1] > 0:
                target[1] -= 1
                return seq, target[0], delay
            edge = 0.0
            for kind in KINDS:
                edge += self.rates.get(kind, 0.0)
                if draw < edge:
                    return seq, kind, delay
            return seq, None, delay

    def _record(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[Event]:
        """Every request but ``/moto-api/``, in the order they arrived."""
        with self._lock:
            return sorted(self._events, key=lambda e: e.seq)

    def _count_moto_api(self) -> None:
        with self._lock:
            self.moto_api_requests += 1

    # -- what happened
    def faults(self) -> dict[str, int]:
        """Faults injected, per kind (every kind listed, zeros included)."""
        counted = Counter(e.fault for e in self.events if e.fault)
        return {kind: counted.get(kind, 0) for kind in KINDS}

    def by_operation(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for e in self.events:
            row = out.setdefault(f"{e.service}:{e.operation}", Counter())
            row["requests"] += 1
            if e.fault:
                row[e.fault] += 1
        return {op: dict(row) for op, row in sorted(out.items())}

    def retries(self) -> dict[str, int]:
        """How the client dealt with the faults, from botocore's invocation ids.

        ``retried``: requests that were a retry (attempt > 1). ``recovered``: faulted requests
        of calls that then succeeded (the retries that paid off). ``exhausted``: calls whose
        last attempt was faulted (the client gave up, or a lost answer left it there).
        """
        events = self.events
        calls: dict[str, list[Event]] = {}
        for e in events:
            calls.setdefault(e.invocation or f"#{e.seq}", []).append(e)
        recovered = exhausted = 0
        for attempts in calls.values():
            hard = [e for e in attempts if e.fault and e.fault != "slow"]
            if attempts[-1] in hard:
                exhausted += 1
            else:
                recovered += len(hard)
        return {
            "retried": sum(1 for e in events if e.attempt > 1),
            "recovered": recovered,
            "exhausted": exhausted,
            "calls": len(calls),
            "max_attempt": max((e.attempt for e in events), default=0),
        }

    def summary(self) -> dict[str, Any]:
        with self._lock:
            faults = self.faults()
            return {
                "seed": self.seed,
                "rates": self.rates,
                "requests": len(self.events),
                "moto_api_requests": self.moto_api_requests,
                "faults": faults,
                "faults_total": sum(faults.values()),
                **self.retries(),
                "by_operation": self.by_operation(),
            }

    def event_dicts(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.events]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faultproxy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--target", required=True, help="emulator endpoint, http://127.0.0.1:PORT")
    parser.add_argument("--rate", type=float, default=0.0, help="total fault rate over --kinds")
    parser.add_argument(
        "--kinds", default=",".join(MIXED_KINDS), help=f"kinds for --rate ({', '.join(KINDS)})"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--port", type=int, default=0, help="listen port on 127.0.0.1 (0: any free)"
    )
    for kind in KINDS:
        parser.add_argument(
            f"--rate-{kind.replace('_', '-')}", type=float, help=f"rate of {kind} alone"
        )
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    rates = mixed(args.rate, kinds) if args.rate else {}
    for kind in KINDS:
        value = getattr(args, f"rate_{kind}")
        if value is not None:
            rates[kind] = value
    proxy = FaultProxy(args.target, rates, seed=args.seed, port=args.port).start()
    print(proxy.endpoint, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    proxy.stop()
    print(json.dumps(proxy.summary(), indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
