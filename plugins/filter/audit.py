"""Turn the audit's HTTP probe results (ansible.builtin.uri in a loop) into findings."""

from __future__ import annotations

from typing import Any


def hastack_probe_findings(results: list[dict[str, Any]], base_url: str) -> list[dict[str, Any]]:
    """One finding per probed path: passed on a 2xx/3xx answer, with the URL, status and attempts.

    The first path is the health check path (``probe.health``), the second ``/`` (``probe.root``).
    Skipped results (no probe on the emulator) give no finding.
    """
    findings = []
    probed = [r for r in results or [] if not r.get("skipped")]
    for index, result in enumerate(probed):
        path = str(result.get("item", ""))
        status = int(result.get("status") or -1)
        answer = str(status) if status > 0 else str(result.get("msg") or "no answer")
        findings.append(
            {
                "id": "probe.health" if index == 0 else "probe.root",
                "category": "probe",
                "title": f"GET {path} through the load balancer answers 2xx or 3xx",
                "passed": 200 <= status < 400,
                "evidence": f"{result.get('url') or base_url + path} -> {answer} "
                f"after {result.get('attempts', 1)} attempt(s)",
            }
        )
    return findings


class FilterModule:
    """hastack audit filters."""

    def filters(self) -> dict:
        return {"probe_findings": hastack_probe_findings}
