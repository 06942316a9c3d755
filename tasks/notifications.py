"""Emails about review: approved, rejected (with the reason), bonus, batch complete.

Sent by ``tasks.jobs.notify_reviewed`` after the decision committed, one email per
worker per decision (a bulk approval of 500 of one worker's assignments is one email),
so a job retried after a crash may send one twice but never sends for a rolled-back
decision.
"""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.core.mail import send_mass_mail

from core.money import format_cents
from marketplace import counters
from marketplace.models import Batch
from tasks.models import Assignment, AssignmentStatus, Bonus, RejectReason

PREFIX = getattr(settings, "ACCOUNT_EMAIL_SUBJECT_PREFIX", "[Fairtask] ")


def _from() -> str:
    return str(getattr(settings, "DEFAULT_FROM_EMAIL", "noreply@fairtask.example"))


def reviewed_messages(kind: str, ids: list[int]) -> list[tuple[str, str, str, list[str]]]:
    """The emails for a decision: ``kind`` is approved, rejected or bonus; ``ids`` are
    assignment ids (bonus ids for a bonus)."""
    messages: list[tuple[str, str, str, list[str]]] = []
    if kind == "bonus":
        for bonus in Bonus.objects.filter(pk__in=ids).select_related(
            "worker", "assignment__batch__project"
        ):
            project = bonus.assignment.batch.project
            messages.append(
                (
                    f"{PREFIX}You received a bonus of {format_cents(bonus.amount_cents)}",
                    f"The requester of “{project.title}” gave you a bonus of "
                    f"{format_cents(bonus.amount_cents)} for assignment {bonus.assignment_id}.\n\n"
                    f"Their reason: {bonus.reason}\n\nIt is in your available balance now.",
                    _from(),
                    [bonus.worker.email],
                )
            )
        return messages
    by_worker: dict[tuple[str, str], list[Assignment]] = defaultdict(list)
    for a in (
        Assignment.objects.filter(pk__in=ids, status=kind)
        .select_related("worker", "batch__project")
        .order_by("pk")
    ):
        by_worker[(a.worker.email, a.batch.project.title)].append(a)
    for (email, title), items in by_worker.items():
        total = sum(a.reward_cents for a in items)
        if kind == AssignmentStatus.APPROVED:
            subject = f"{PREFIX}{len(items)} of your tasks approved ({format_cents(total)})"
            body = (
                f"The requester of “{title}” approved {len(items)} of your submissions, worth "
                f"{format_cents(total)}. The money is pending and becomes available once "
                "it is settled (usually within minutes)."
            )
        else:
            subject = f"{PREFIX}{len(items)} of your tasks rejected"
            lines = []
            for a in items[:50]:
                label = RejectReason(a.reject_reason).label if a.reject_reason else "Rejected"
                note = f" — {a.reject_note}" if a.reject_note else ""
                lines.append(f"- assignment {a.pk}: {label}{note}")
            more = f"\n…and {len(items) - 50} more." if len(items) > 50 else ""
            body = (
                f"The requester of “{title}” rejected {len(items)} of your submissions:\n"
                + "\n".join(lines)
                + more
                + "\n\nYou can dispute a rejection within the dispute window."
            )
        messages.append((subject, body, _from(), [email]))
    return messages


def batches_completed(ids: list[int]) -> list[int]:
    """Batches of these assignments whose every assignment slot has been reviewed."""
    batch_ids = set(Assignment.objects.filter(pk__in=ids).values_list("batch_id", flat=True))
    sums = counters.counter_sums(batch_ids)
    done = []
    for batch in Batch.objects.filter(pk__in=batch_ids):
        c = sums.get(batch.pk, {})
        if (
            batch.assignment_count
            and c.get("approved", 0) + c.get("rejected", 0) >= batch.assignment_count
        ):
            done.append(batch.pk)
    return done


def batch_complete_message(batch_id: int) -> tuple[str, str, str, list[str]]:
    batch = Batch.objects.select_related("owner", "project").get(pk=batch_id)
    return (
        f"{PREFIX}Batch “{batch}” is complete",
        f"Every assignment of batch “{batch}” of “{batch.project.title}” has been reviewed. "
        "Its results and labeling provenance card are ready to download.",
        _from(),
        [batch.owner.email],
    )


def send(messages: list[tuple[str, str, str, list[str]]]) -> int:
    return send_mass_mail(messages, fail_silently=False) if messages else 0
