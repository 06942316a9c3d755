"""Reads of the requester's review: the review table (answers, time taken, gold
accuracy, agreement with the other answers on the task; filters on each) and the
pseudonymous worker id.

Gold accuracy and agreement are computed by the database per row (correlated
subqueries over the task's gold answers and its other handed-in assignments), so
filtering on them and paginating stay one count and one page query whatever the batch
size. Answers are compared trimmed and case-insensitively, field by field; a value that
is a list compares as its JSON text.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import DurationField, ExpressionWrapper, F, FloatField, QuerySet
from django.db.models.expressions import RawSQL

from marketplace.models import Batch
from tasks.models import Assignment, AssignmentStatus, WorkerBlock

HANDED_IN = ("submitted", "approved", "rejected")

_AGREEMENT_SQL = """(
SELECT avg(CASE WHEN lower(btrim(o.answers ->> k.key)) = lower(btrim(k.value #>> '{}'))
                THEN 1.0 ELSE 0.0 END)
  FROM tasks_assignment o
 CROSS JOIN jsonb_each(CASE WHEN jsonb_typeof(tasks_assignment.answers) = 'object'
                            THEN tasks_assignment.answers ELSE '{}'::jsonb END) k
 WHERE o.task_id = tasks_assignment.task_id AND o.id <> tasks_assignment.id
   AND o.status IN ('submitted', 'approved', 'rejected'))"""

_GOLD_SQL = """(
SELECT avg(CASE WHEN lower(btrim(tasks_assignment.answers ->> g.key)) = lower(btrim(g.value #>> '{}'))
                THEN 1.0 ELSE 0.0 END)
  FROM marketplace_task gt
 CROSS JOIN jsonb_each(CASE WHEN jsonb_typeof(gt.gold_answers) = 'object'
                            THEN gt.gold_answers ELSE '{}'::jsonb END) g
 WHERE gt.id = tasks_assignment.task_id)"""

STATUS_FILTERS = ("submitted", "approved", "rejected", "all")
GOLD_FILTERS = ("", "correct", "incorrect", "gold", "not_gold")
AGREEMENT_FILTERS = ("", "below_50", "below_100", "full", "alone")


def pseudonym(*, requester_id: int, worker_id: int) -> str:
    """The worker as one requester sees them in exports and review: stable for that
    requester, different for every other requester, never derived from the email; an
    HMAC of (requester id, worker id) under a key derived from ``SECRET_KEY``."""
    key = hashlib.sha256(b"fairtask-worker-pseudonym:" + settings.SECRET_KEY.encode()).digest()
    mac = hmac.new(key, f"{requester_id}:{worker_id}".encode(), hashlib.sha256).hexdigest()
    return f"w_{mac[:16]}"


@dataclass(frozen=True)
class ReviewFilters:
    status: str = "submitted"
    gold: str = ""
    agreement: str = ""
    min_seconds: int | None = None
    max_seconds: int | None = None
    answer: str = ""

    @classmethod
    def parse(cls, data: Any) -> ReviewFilters:
        def choice(name: str, allowed: tuple[str, ...], default: str) -> str:
            value = (data.get(name) or default).strip()
            return value if value in allowed else default

        def seconds(name: str) -> int | None:
            raw = (data.get(name) or "").strip()
            return int(raw) if raw.isdigit() and len(raw) < 9 else None

        return cls(
            status=choice("status", STATUS_FILTERS, "submitted"),
            gold=choice("gold", GOLD_FILTERS, ""),
            agreement=choice("agreement", AGREEMENT_FILTERS, ""),
            min_seconds=seconds("min_seconds"),
            max_seconds=seconds("max_seconds"),
            answer=(data.get("answer") or "").strip()[:200],
        )

    def query(self) -> dict[str, str]:
        out = {
            "status": self.status,
            "gold": self.gold,
            "agreement": self.agreement,
            "answer": self.answer,
        }
        if self.min_seconds is not None:
            out["min_seconds"] = str(self.min_seconds)
        if self.max_seconds is not None:
            out["max_seconds"] = str(self.max_seconds)
        return {k: v for k, v in out.items() if v}


def review_rows(batch: Batch, filters: ReviewFilters) -> QuerySet[Assignment]:
    """The batch's handed-in assignments with ``agreement`` and ``gold_accuracy`` (0..1
    or None) and ``time_taken`` annotated, filtered, in id order. The caller has
    checked the batch is the requester's (``marketplace.selectors.batch_for``)."""
    qs = (
        Assignment.objects.filter(batch_id=batch.pk)
        .annotate(
            agreement=RawSQL(_AGREEMENT_SQL, [], output_field=FloatField()),  # noqa: S611 - constant SQL
            gold_accuracy=RawSQL(_GOLD_SQL, [], output_field=FloatField()),  # noqa: S611 - constant SQL
            time_taken=ExpressionWrapper(
                F("submitted_at") - F("accepted_at"), output_field=DurationField()
            ),
        )
        .select_related("task")
        .defer("task__data", "submit_nonce")
        .order_by("pk")
    )
    if filters.status == "all":
        qs = qs.filter(status__in=HANDED_IN)
    else:
        qs = qs.filter(status=filters.status)
    if filters.gold == "correct":
        qs = qs.filter(gold_accuracy=1.0)
    elif filters.gold == "incorrect":
        qs = qs.filter(gold_accuracy__lt=1.0)
    elif filters.gold == "gold":
        qs = qs.filter(task__gold_answers__isnull=False)
    elif filters.gold == "not_gold":
        qs = qs.filter(task__gold_answers__isnull=True)
    if filters.agreement == "below_50":
        qs = qs.filter(agreement__lt=0.5)
    elif filters.agreement == "below_100":
        qs = qs.filter(agreement__lt=1.0)
    elif filters.agreement == "full":
        qs = qs.filter(agreement=1.0)
    elif filters.agreement == "alone":
        qs = qs.filter(agreement__isnull=True)
    if filters.answer:
        qs = qs.filter(answers__icontains=filters.answer)
    from datetime import timedelta

    if filters.min_seconds is not None:
        qs = qs.filter(time_taken__gte=timedelta(seconds=filters.min_seconds))
    if filters.max_seconds is not None:
        qs = qs.filter(time_taken__lte=timedelta(seconds=filters.max_seconds))
    return qs


def review_ids(batch: Batch, filters: ReviewFilters, *, limit: int) -> list[int]:
    """Ids of every row matching the filters (for "decide all matching")."""
    return list(review_rows(batch, filters).values_list("pk", flat=True)[:limit])


def submitted_count(batch: Batch) -> int:
    return Assignment.objects.filter(batch_id=batch.pk, status=AssignmentStatus.SUBMITTED).count()


def blocks_of(requester_id: int) -> QuerySet[WorkerBlock]:
    """The workers a requester has blocked, newest first (only theirs: the object-level
    permission is this filter)."""
    return WorkerBlock.objects.filter(requester_id=requester_id).order_by("-created_at", "-pk")


def block_of(requester_id: int, block_id: int) -> WorkerBlock | None:
    """One of the requester's blocks, or None (another requester's, or lifted)."""
    return blocks_of(requester_id).filter(pk=block_id).first()
