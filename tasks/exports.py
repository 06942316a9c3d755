"""Results of a batch for the requester's pipeline: every assignment (CSV, JSONL), one
row per task with aggregated answers (CSV, JSONL), and the labeling provenance card
(Markdown, JSON).

- Workers appear only as ``tasks.review_selectors.pseudonym`` (stable per requester,
  never an email).
- Assignment exports stream: rows are read with a server-side cursor in chunks and
  written as they come, so memory does not grow with the batch.
- Task rows aggregate the categorical fields (every answer a single text, at most
  ``CATEGORICAL_MAX_VALUES`` distinct values in the batch) by majority vote and by
  Dawid–Skene (``marketplace.aggregation``) over submitted and approved answers
  (rejected work is left out). Aggregation needs every label of a field at once, so
  the labels (three small values per answer) are held in memory; the output streams.
- CSV cells that a spreadsheet would read as a formula (starting with ``=``, ``+``,
  ``-``, ``@``, tab or carriage return) are prefixed with ``'`` (OWASP's advice).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Sum

from marketplace import aggregation, templating
from marketplace.models import Batch
from tasks.models import Assignment, AssignmentStatus, Bonus, RejectReason
from tasks.review_selectors import pseudonym

CATEGORICAL_MAX_VALUES = 50
CHUNK = 2000
HANDED_IN = (AssignmentStatus.SUBMITTED, AssignmentStatus.APPROVED, AssignmentStatus.REJECTED)
AGGREGATED = (AssignmentStatus.SUBMITTED, AssignmentStatus.APPROVED)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

ASSIGNMENT_COLUMNS = [
    "assignment_id",
    "task_id",
    "row_number",
    "worker",
    "status",
    "accepted_at",
    "submitted_at",
    "seconds",
    "reviewed_at",
    "reject_reason",
    "reject_note",
]


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def answer_fields(batch: Batch) -> list[str]:
    return sorted(templating.field_names(batch.template_html))


def _csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(v) for v in values])
    return buffer.getvalue()


def assignment_records(batch: Batch) -> Iterator[dict[str, Any]]:
    """Every assignment of the batch, in id order, as export records (streamed)."""
    qs = (
        Assignment.objects.filter(batch_id=batch.pk)
        .order_by("pk")
        .values_list(
            "pk",
            "task_id",
            "task__row_number",
            "worker_id",
            "status",
            "accepted_at",
            "submitted_at",
            "reviewed_at",
            "reject_reason",
            "reject_note",
            "answers",
        )
    )
    for pk, task_id, row, worker_id, status, acc, sub, rev, reason, note, answers in qs.iterator(
        chunk_size=CHUNK
    ):
        yield {
            "assignment_id": pk,
            "task_id": task_id,
            "row_number": row,
            "worker": pseudonym(requester_id=batch.owner_id, worker_id=worker_id),
            "status": status,
            "accepted_at": _iso(acc),
            "submitted_at": _iso(sub),
            "seconds": round((sub - acc).total_seconds(), 3) if sub else None,
            "reviewed_at": _iso(rev),
            "reject_reason": reason or None,
            "reject_note": note or None,
            "answers": answers or {},
        }


def assignments_csv(batch: Batch) -> Iterator[str]:
    fields = answer_fields(batch)
    yield _csv_line(ASSIGNMENT_COLUMNS + [f"answer.{f}" for f in fields])
    for record in assignment_records(batch):
        answers = record["answers"]
        yield _csv_line([record[c] for c in ASSIGNMENT_COLUMNS] + [answers.get(f) for f in fields])


def assignments_jsonl(batch: Batch) -> Iterator[str]:
    for record in assignment_records(batch):
        yield json.dumps(record, ensure_ascii=False) + "\n"


# --- Aggregation per task ----------------------------------------------------------------


def _labels(batch: Batch) -> tuple[dict[str, list[tuple[int, int, str]]], set[str]]:
    """Per field, the (task id, worker id, answer) triples of submitted and approved
    work; and the set of fields that are categorical."""
    labels: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    not_categorical: set[str] = set()
    qs = (
        Assignment.objects.filter(batch_id=batch.pk, status__in=AGGREGATED)
        .order_by("pk")
        .values_list("task_id", "worker_id", "answers")
    )
    for task_id, worker_id, answers in qs.iterator(chunk_size=CHUNK):
        for field, value in (answers or {}).items():
            if isinstance(value, str):
                labels[field].append((task_id, worker_id, value.strip()))
            else:
                not_categorical.add(field)
    categorical = {
        f
        for f, triples in labels.items()
        if f not in not_categorical and len({t[2] for t in triples}) <= CATEGORICAL_MAX_VALUES
    }
    return labels, categorical


def aggregate(batch: Batch) -> tuple[list[str], dict[str, dict[int, dict[str, Any]]]]:
    """(categorical fields, field -> task id -> {majority, majority_confidence,
    majority_tied, dawid_skene, dawid_skene_confidence, votes})."""
    labels, categorical = _labels(batch)
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for field in sorted(categorical):
        mv = aggregation.majority_vote(labels[field])
        ds = aggregation.dawid_skene(labels[field])
        out[field] = {
            int(task): {  # type: ignore[call-overload]  # task keys are task ids
                "majority": mv[task].answer,
                "majority_confidence": round(mv[task].confidence, 4),
                "majority_tied": mv[task].tied,
                "dawid_skene": ds[task].answer,
                "dawid_skene_confidence": round(ds[task].confidence, 4),
                "votes": mv[task].votes,
            }
            for task in mv
        }
    return sorted(categorical), out


def task_records(
    batch: Batch, aggregated: tuple[list[str], dict[str, dict[int, dict[str, Any]]]] | None = None
) -> Iterator[dict[str, Any]]:
    fields, agg = aggregated or aggregate(batch)
    counts = dict(
        Assignment.objects.filter(batch_id=batch.pk, status__in=HANDED_IN)
        .values("task_id")
        .annotate(n=Count("pk"))
        .values_list("task_id", "n")
    )
    qs = batch.tasks.order_by("row_number").values_list("pk", "row_number", "data", "gold_answers")
    for pk, row, data, gold in qs.iterator(chunk_size=CHUNK):
        yield {
            "task_id": pk,
            "row_number": row,
            "data": data,
            "gold": gold,
            "answers": counts.get(pk, 0),
            "aggregated": {f: agg[f].get(pk) for f in fields},
        }


_AGG_KEYS = (
    "majority",
    "majority_confidence",
    "majority_tied",
    "dawid_skene",
    "dawid_skene_confidence",
)


def tasks_csv(batch: Batch) -> Iterator[str]:
    aggregated = aggregate(batch)
    fields = aggregated[0]
    header = ["task_id", "row_number", "data", "gold", "answers"]
    header += [f"{f}.{k}" for f in fields for k in _AGG_KEYS]
    yield _csv_line(header)
    for record in task_records(batch, aggregated):
        values: list[Any] = [
            record["task_id"],
            record["row_number"],
            record["data"],
            record["gold"],
            record["answers"],
        ]
        for f in fields:
            cell = record["aggregated"].get(f) or {}
            values += [cell.get(k) for k in _AGG_KEYS]
        yield _csv_line(values)


def tasks_jsonl(batch: Batch) -> Iterator[str]:
    for record in task_records(batch):
        yield json.dumps(record, ensure_ascii=False) + "\n"


# --- Labeling provenance card --------------------------------------------------------------

_PAY_SQL = """
SELECT count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY hourly),
       percentile_cont(0.25) WITHIN GROUP (ORDER BY hourly),
       percentile_cont(0.75) WITHIN GROUP (ORDER BY hourly),
       min(hourly), max(hourly)
  FROM (SELECT a.reward_cents * 3600.0
               / greatest(extract(epoch FROM a.submitted_at - a.accepted_at), 1) AS hourly
          FROM tasks_assignment a
         WHERE a.batch_id = %s AND a.status = 'approved') p"""


def _cents(value: float | None) -> int | None:
    return None if value is None else int(value)  # rounded down: never overstates pay


def provenance(batch: Batch) -> dict[str, Any]:
    """The labeling provenance card's facts (JSON-ready)."""
    project = batch.project
    handed_in = Assignment.objects.filter(batch_id=batch.pk, status__in=HANDED_IN)
    by_status = dict(
        Assignment.objects.filter(batch_id=batch.pk)
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    approved = Assignment.objects.filter(batch_id=batch.pk, status=AssignmentStatus.APPROVED)
    paid = approved.aggregate(reward=Sum("reward_cents"), fee=Sum("fee_cents"))
    bonuses = Bonus.objects.filter(assignment__batch_id=batch.pk).aggregate(
        amount=Sum("amount_cents"), fee=Sum("fee_cents"), n=Count("pk")
    )
    with connection.cursor() as cursor:
        cursor.execute(_PAY_SQL, [batch.pk])
        n_pay, median, p25, p75, low, high = cursor.fetchone()
    rejections = Counter(
        dict(
            Assignment.objects.filter(batch_id=batch.pk, status=AssignmentStatus.REJECTED)
            .values("reject_reason")
            .annotate(n=Count("pk"))
            .values_list("reject_reason", "n")
        )
    )
    fields, agg = aggregate(batch)
    agreement = {
        f: round(statistics.fmean(c["majority_confidence"] for c in agg[f].values()), 4)
        if agg[f]
        else None
        for f in fields
    }
    gold = _gold_accuracy(batch)
    first_accept = Assignment.objects.filter(batch_id=batch.pk).order_by("accepted_at").first()
    last_submit = handed_in.order_by("-submitted_at").first()
    reason_labels = dict(RejectReason.choices)
    return {
        "batch": {"id": batch.pk, "name": str(batch), "status": batch.status},
        "project": {"id": project.pk, "title": project.title},
        "tasks": batch.task_count,
        "gold_tasks": batch.gold_task_count,
        "assignments_per_task": batch.assignments_per_task,
        "assignments_by_status": by_status,
        "workers": handed_in.values("worker_id").distinct().count(),
        "pay": {
            "reward_cents": batch.reward_cents,
            "estimated_seconds": project.estimated_seconds,
            "measured_hourly_cents": {
                "approved_assignments": n_pay,
                "median": _cents(median),
                "p25": _cents(p25),
                "p75": _cents(p75),
                "min": _cents(low),
                "max": _cents(high),
            },
        },
        "paid": {
            "to_workers_cents": (paid["reward"] or 0) + (bonuses["amount"] or 0),
            "rewards_cents": paid["reward"] or 0,
            "bonuses_cents": bonuses["amount"] or 0,
            "bonuses": bonuses["n"],
            "platform_fees_cents": (paid["fee"] or 0) + (bonuses["fee"] or 0),
        },
        "agreement_per_field": agreement,
        "gold_accuracy_per_field": gold,
        "rejections": {
            "total": sum(rejections.values()),
            "by_reason": {
                reason_labels.get(k, k or "unspecified"): n for k, n in sorted(rejections.items())
            },
        },
        "dates": {
            "created": _iso(batch.created_at),
            "published": _iso(batch.published_at),
            "first_accepted": _iso(first_accept.accepted_at) if first_accept else None,
            "last_submitted": _iso(last_submit.submitted_at) if last_submit else None,
            "closed": _iso(batch.closed_at),
        },
        "instructions": project.instructions,
        "template_html": batch.template_html,
        "aggregation": {
            "categorical_fields": fields,
            "methods": ["majority vote", "Dawid–Skene (EM)"],
            "answers_used": "submitted and approved (rejected left out)",
        },
    }


def _gold_accuracy(batch: Batch) -> dict[str, float | None]:
    """Per gold field: the share of handed-in answers on gold tasks equal to the gold
    answer (trimmed, case-insensitive)."""
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    qs = (
        Assignment.objects.filter(
            batch_id=batch.pk, status__in=HANDED_IN, task__gold_answers__isnull=False
        )
        .order_by("pk")
        .values_list("answers", "task__gold_answers")
    )
    for answers, gold in qs.iterator(chunk_size=CHUNK):
        if not isinstance(gold, dict):
            continue
        for field, expected in gold.items():
            seen[field] += 1
            given = (answers or {}).get(field)
            if isinstance(given, str) and given.strip().lower() == str(expected).strip().lower():
                right[field] += 1
    return {f: round(right[f] / seen[f], 4) for f in sorted(seen)}


def _money(cents: int | None) -> str:
    return "—" if cents is None else f"${cents / 100:,.2f}"


def provenance_markdown(card: dict[str, Any]) -> str:
    pay = card["pay"]["measured_hourly_cents"]
    paid = card["paid"]
    lines = [
        f"# Labeling provenance card — {card['project']['title']} / {card['batch']['name']}",
        "",
        f"- Tasks: {card['tasks']} ({card['gold_tasks']} gold), "
        f"{card['assignments_per_task']} worker(s) per task",
        f"- Workers: {card['workers']}",
        "- Assignments by status: "
        + ", ".join(f"{k} {v}" for k, v in sorted(card["assignments_by_status"].items())),
        "",
        "## Pay",
        "",
        f"- Reward per task: {_money(card['pay']['reward_cents'])} "
        f"(estimated {card['pay']['estimated_seconds']} s)",
        f"- Measured hourly pay (approved work, {pay['approved_assignments']} assignments): "
        f"median {_money(pay['median'])}/h, interquartile {_money(pay['p25'])}–{_money(pay['p75'])}/h, "
        f"range {_money(pay['min'])}–{_money(pay['max'])}/h",
        f"- Paid to workers: {_money(paid['to_workers_cents'])} "
        f"(rewards {_money(paid['rewards_cents'])}, {paid['bonuses']} bonuses "
        f"{_money(paid['bonuses_cents'])}); platform fees: {_money(paid['platform_fees_cents'])}",
        "",
        "## Quality",
        "",
    ]
    if card["agreement_per_field"]:
        lines += [
            f"- Agreement with the majority, `{f}`: {v:.1%}" if v is not None else f"- `{f}`: —"
            for f, v in card["agreement_per_field"].items()
        ]
    else:
        lines.append("- No categorical fields to measure agreement on.")
    if card["gold_accuracy_per_field"]:
        lines += [
            f"- Gold accuracy, `{f}`: {v:.1%}" for f, v in card["gold_accuracy_per_field"].items()
        ]
    else:
        lines.append("- No gold tasks answered.")
    rej = card["rejections"]
    lines += ["", "## Rejections", "", f"- Total: {rej['total']}"]
    lines += [f"- {reason}: {n}" for reason, n in rej["by_reason"].items()]
    lines += ["", "## Dates", ""]
    lines += [f"- {k.replace('_', ' ')}: {v or '—'}" for k, v in card["dates"].items()]
    lines += [
        "",
        "## Instructions as shown",
        "",
        card["instructions"] or "(none)",
        "",
        "## Template as shown",
        "",
        "```html",
        card["template_html"],
        "```",
        "",
    ]
    return "\n".join(lines)


EXPORTS = {
    "assignments.csv": ("text/csv; charset=utf-8", assignments_csv),
    "assignments.jsonl": ("application/x-ndjson; charset=utf-8", assignments_jsonl),
    "tasks.csv": ("text/csv; charset=utf-8", tasks_csv),
    "tasks.jsonl": ("application/x-ndjson; charset=utf-8", tasks_jsonl),
}
CARDS = ("provenance.md", "provenance.json")
