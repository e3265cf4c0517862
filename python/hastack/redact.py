"""Keep credentials out of what a run leaves behind: events, artifacts and ``command``.

Values of credential-like environment variables are replaced wherever a playbook echoes
them; ansible-runner's ``command`` artifact keeps their names only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

# Environment variable names whose values never go into the run's `command` artifact.
_SECRET_ENV = re.compile(r"SECRET|TOKEN|PASSW|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|API_KEY", re.I)
# ... and whose values, wherever a playbook echoes them (a fact, a message), are replaced in
# events and artifacts. Shorter values are placeholders ("testing"), and replacing them would
# mangle unrelated text.
_SECRET_MIN_LEN = 8
REDACTED = "<redacted>"


def secret_values() -> tuple[str, ...]:
    """The values of this process's credential-like environment variables, longest first."""
    found = {v for k, v in os.environ.items() if _SECRET_ENV.search(k)}
    found = {v for v in found if len(v) >= _SECRET_MIN_LEN}
    return tuple(sorted(found, key=len, reverse=True))


def redact(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` with every secret replaced, recursing into dicts and lists."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value


def scrub_command_artifact(run_dir: Path) -> None:
    """ansible-runner saves the full environment in ``command``; keep credentials off disk."""
    path = run_dir / "command"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    env = data.get("env") or {}
    data["env"] = {k: (REDACTED if _SECRET_ENV.search(k) else v) for k, v in env.items()}
    path.write_text(json.dumps(data))


def scrub_run_dir(run_dir: Path, secrets: tuple[str, ...]) -> None:
    """Last line of defence: no file of the run keeps a credential's value (``stdout`` too)."""
    scrub_command_artifact(run_dir)
    if not secrets:
        return
    needles = [s.encode() for s in secrets]
    for path in run_dir.rglob("*"):
        with contextlib.suppress(OSError):
            if not path.is_file():
                continue
            data = path.read_bytes()
            if any(n in data for n in needles):
                for needle in needles:
                    data = data.replace(needle, REDACTED.encode())
                path.write_bytes(data)
