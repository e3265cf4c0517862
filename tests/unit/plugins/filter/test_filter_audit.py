"""The HTTP probe results become findings."""

from __future__ import annotations

from ansible_collections.hastack.stack.plugins.filter.audit import hastack_probe_findings


def test_a_2xx_passes_and_a_5xx_fails_with_the_answer_as_evidence() -> None:
    findings = hastack_probe_findings(
        [
            {"item": "/healthz", "status": 200, "url": "http://lb/healthz", "attempts": 2},
            {"item": "/", "status": 503},
        ],
        "http://lb",
    )
    assert [(f["id"], f["passed"]) for f in findings] == [
        ("probe.health", True),
        ("probe.root", False),
    ]
    assert findings[0]["evidence"] == "http://lb/healthz -> 200 after 2 attempt(s)"
    assert findings[1]["evidence"] == "http://lb/ -> 503 after 1 attempt(s)"


def test_no_answer_names_the_error_and_skipped_probes_give_nothing() -> None:
    findings = hastack_probe_findings(
        [{"skipped": True}, {"item": "/healthz", "status": -1, "msg": "Connection refused"}],
        "http://lb",
    )
    assert len(findings) == 1
    assert findings[0]["passed"] is False
    assert "Connection refused" in findings[0]["evidence"]
