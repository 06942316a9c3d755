"""Records of the money checks' runs (read by /metrics and the operations runbook)."""

from __future__ import annotations

from payouts.models import CheckRun


def record_check_run(*, name: str, ok: bool, problems: int, summary: str) -> CheckRun:
    """Store one run's outcome. Its own statement, outside any check's read-only snapshot."""
    return CheckRun.objects.create(name=name, ok=ok, problems=problems, summary=summary[:10_000])
