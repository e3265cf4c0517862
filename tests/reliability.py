"""Figures for docs/RELIABILITY.md, written by the tests that prove them.

Every reliability test calls :func:`record` with what it tried and what it saw. Each call
writes its own JSON file (no shared file, so parallel pytest workers never race), under
``$HASTACK_RELIABILITY_DIR`` or ``.hastack/reliability``. ``scripts/reliability-report``
turns the folder into docs/RELIABILITY.md; ``make test`` runs it after pytest.

Topics: ``inputs`` (a bad input tried), ``faults`` (a run through the fault proxy),
``interruptions`` (a kill point tried), ``leaks`` (a sweep after a test), ``secrets`` (a
search for secret values).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ("inputs", "faults", "interruptions", "leaks", "secrets")


def records_dir() -> Path:
    return Path(os.environ.get("HASTACK_RELIABILITY_DIR", ROOT / ".hastack" / "reliability"))


def record(topic: str, name: str, data: dict[str, Any]) -> Path:
    """Write one figure: ``topic`` is one of TOPICS, ``name`` names the case uniquely within it."""
    if topic not in TOPICS:
        raise ValueError(f"topic {topic!r}: expected one of {', '.join(TOPICS)}")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120] or "case"
    path = records_dir() / topic / f"{safe}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"topic": topic, "name": name, **data}, indent=2, sort_keys=True))
    return path
