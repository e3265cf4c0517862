# Copyright: hastack maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Waits under one deadline, and the jittered backoff of retries that outlast AWSRetry.

AWSRetry retries throttling for a few seconds; what these serve takes minutes (a NAT gateway
reaching ``available``, a DependencyViolation until AWS releases a network interface), and
must stop at the deadline the user set, with an error that says what was still pending.
"""

from __future__ import annotations

import random
import time
from typing import Any


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for any other exception)."""
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


class Deadline:
    """A point ``seconds`` from now, which every wait and retry of one module run shares."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds until the deadline (negative once it has passed)."""
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return time.monotonic() >= self.end

    def sleep(self, seconds: float, left: float | None = None) -> None:
        """Sleep ``seconds``, never past the deadline (``left``: as just measured)."""
        left = self.left() if left is None else left
        time.sleep(max(0.0, min(seconds, left)))

    def backoff(self, delay: float, cap: float, left: float | None = None) -> float:
        """Sleep a jittered ``delay`` (half to all of it, never past the deadline), and return
        the next delay: doubled, at most ``cap``. Jitter keeps concurrent runs (two stacks'
        destroys) from retrying in step."""
        self.sleep(jittered(delay), left)
        return min(delay * 2, cap)


def jittered(delay: float) -> float:
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto


def poll(deadline: Deadline, look: Any, done: Any, interval: float, on_timeout: Any) -> Any:
    """Call ``look()`` every ``interval`` seconds until ``done(seen)``; returns ``seen``.

    ``on_timeout(seen)`` is called (and must not return: it fails the module) once the
    deadline has passed with ``done`` still false.
    """
    while True:
        seen = look()
        if done(seen):
            return seen
        left = deadline.left()
        if left <= 0:
            on_timeout(seen)
        deadline.sleep(interval, left)
