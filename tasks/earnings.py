"""Reads of a worker's own work (selectors): the queue, the earnings dashboard, the
well-being limits and the earnings history export.

Words used on the pages: *earned* is the reward of work handed in and not rejected
(submitted or approved); *pending* is money on its way and not yet withdrawable:
submitted work not reviewed yet plus approved work settlement has not paid yet
(*being paid*); *lifetime* is approved work plus bonuses; *available* is the worker's
ledger balance (what can be withdrawn).
Work time is ``submitted_at - accepted_at``. Every figure here is a fixed number of
aggregate queries, however long the worker's history.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from core.money import cents_to_decimal_text, format_cents
from marketplace.models import User
from marketplace.taskpage import requester_label
from payouts import fees, ledger
from tasks.models import Assignment, AssignmentStatus, Bonus, WorkerPreferences

EARNED = (AssignmentStatus.SUBMITTED, AssignmentStatus.APPROVED)
HANDED_IN = (AssignmentStatus.SUBMITTED, AssignmentStatus.APPROVED, AssignmentStatus.REJECTED)
CHART_DAYS = 14
TOP_ROWS = 10

_WORK = ExpressionWrapper(F("submitted_at") - F("accepted_at"), output_field=DurationField())


def queue(*, user: User, now: datetime | None = None) -> QuerySet[Assignment]:
    """The worker's accepted tasks still within their time, soonest deadline first."""
    now = now or timezone.now()
    return (
        Assignment.objects.filter(
            worker_id=user.pk, status=AssignmentStatus.ACCEPTED, deadline__gt=now
        )
        .select_related("batch__project__owner")
        .order_by("deadline", "id")
    )


def _seconds(value: timedelta | None) -> int:
    return int(value.total_seconds()) if value is not None else 0


def _rate(cents: int, seconds: int) -> int | None:
    return fees.hourly_rate_cents(reward_cents=cents, seconds=seconds) if seconds > 0 else None


@dataclass(frozen=True)
class RateRow:
    label: str
    earned_cents: int
    work_seconds: int
    count: int

    @property
    def hourly_cents(self) -> int | None:
        return _rate(self.earned_cents, self.work_seconds)


@dataclass(frozen=True)
class Day:
    day: date
    earned_cents: int


@dataclass
class Summary:
    available_cents: int
    pending_cents: int
    lifetime_cents: int
    bonus_cents: int
    today_cents: int
    week_cents: int
    earned_cents: int
    work_seconds: int
    approved: int
    rejected: int
    submitted: int
    # Approved, not yet settled (in ``pending_cents``): settlement pays it in the background.
    settling_cents: int = 0
    settling: int = 0
    daily: list[Day] = field(default_factory=list)
    by_requester: list[RateRow] = field(default_factory=list)
    by_project: list[RateRow] = field(default_factory=list)
    # Median time from submitting to the money being available (settled), over the
    # worker's settled approvals; None before the first.
    cash_in_hand_seconds: float | None = None

    @property
    def hourly_cents(self) -> int | None:
        return _rate(self.earned_cents, self.work_seconds)

    @property
    def approval_rate(self) -> float | None:
        decided = self.approved + self.rejected
        return round(100 * self.approved / decided, 1) if decided else None


class _Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)``; on an interval it answers an interval."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


_UNTIL_PAID = ExpressionWrapper(F("settled_at") - F("submitted_at"), output_field=DurationField())


def _day_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def available_cents(user: User) -> int:
    """The worker's withdrawable balance, read without creating the account."""
    return ledger.worker_balance_cents(user)


def summary(*, user: User, now: datetime | None = None) -> Summary:
    """The dashboard's figures in six queries (balance, totals, bonuses, days, by requester,
    by project)."""
    now = now or timezone.now()
    today = _day_start(now)
    week = today - timedelta(days=today.weekday())
    chart_from = today - timedelta(days=CHART_DAYS - 1)
    mine = Assignment.objects.filter(worker_id=user.pk)
    earned_q = Q(status__in=EARNED)
    settling_q = Q(status=AssignmentStatus.APPROVED, settled_at__isnull=True)
    totals = mine.aggregate(
        pending=Coalesce(Sum("reward_cents", filter=Q(status=AssignmentStatus.SUBMITTED)), 0),
        settling=Coalesce(Sum("reward_cents", filter=settling_q), 0),
        settling_n=Count("id", filter=settling_q),
        until_paid=_Median(
            _UNTIL_PAID, filter=Q(status=AssignmentStatus.APPROVED, settled_at__isnull=False)
        ),
        lifetime=Coalesce(Sum("reward_cents", filter=Q(status=AssignmentStatus.APPROVED)), 0),
        earned=Coalesce(Sum("reward_cents", filter=earned_q), 0),
        work=Sum(_WORK, filter=earned_q),
        today=Coalesce(Sum("reward_cents", filter=earned_q & Q(submitted_at__gte=today)), 0),
        week=Coalesce(Sum("reward_cents", filter=earned_q & Q(submitted_at__gte=week)), 0),
        approved=Count("id", filter=Q(status=AssignmentStatus.APPROVED)),
        rejected=Count("id", filter=Q(status=AssignmentStatus.REJECTED)),
        submitted=Count("id", filter=Q(status=AssignmentStatus.SUBMITTED)),
    )
    per_day = {
        row["day"]: int(row["earned"])
        for row in mine.filter(earned_q, submitted_at__gte=chart_from)
        .annotate(day=TruncDate("submitted_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(earned=Sum("reward_cents"))
        .order_by()
    }
    start = chart_from.date()
    daily = [
        Day(start + timedelta(days=i), per_day.get(start + timedelta(days=i), 0))
        for i in range(CHART_DAYS)
    ]

    def grouped(key: str, label_of: Any) -> list[RateRow]:
        rows = list(
            mine.filter(earned_q)
            .values(*key.split(","))
            .annotate(earned=Sum("reward_cents"), work=Sum(_WORK), n=Count("id"))
            .order_by("-earned")[:TOP_ROWS]
        )
        return [
            RateRow(label_of(r, rows), int(r["earned"]), _seconds(r["work"]), int(r["n"]))
            for r in rows
        ]

    by_requester = grouped(
        "batch__project__owner_id,batch__project__owner__display_name",
        lambda r, _rows: (
            r["batch__project__owner__display_name"] or f"Requester {r['batch__project__owner_id']}"
        ),
    )

    # Two requesters can give their projects the same title: such rows name the
    # requester too, or the worker sees two identical lines with different figures.
    def project_label(r: dict[str, Any], rows: list[dict[str, Any]]) -> str:
        title = r["batch__project__title"]
        owner = r["batch__project__owner__display_name"]
        same = sum(1 for other in rows if other["batch__project__title"] == title)
        return f"{title} ({owner})" if same > 1 and owner else title

    by_project = grouped(
        "batch__project_id,batch__project__title,batch__project__owner__display_name",
        project_label,
    )
    bonus_cents = Bonus.objects.filter(worker_id=user.pk).aggregate(
        total=Coalesce(Sum("amount_cents"), 0)
    )["total"]
    return Summary(
        available_cents=available_cents(user),
        pending_cents=int(totals["pending"]) + int(totals["settling"]),
        lifetime_cents=int(totals["lifetime"]) + int(bonus_cents),
        bonus_cents=int(bonus_cents),
        today_cents=int(totals["today"]),
        week_cents=int(totals["week"]),
        earned_cents=int(totals["earned"]),
        work_seconds=_seconds(totals["work"]),
        approved=totals["approved"],
        rejected=totals["rejected"],
        submitted=totals["submitted"],
        settling_cents=int(totals["settling"]),
        settling=totals["settling_n"],
        cash_in_hand_seconds=(
            totals["until_paid"].total_seconds() if totals["until_paid"] is not None else None
        ),
        daily=daily,
        by_requester=by_requester,
        by_project=by_project,
    )


# --- Chart ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the day, for the axis
    title: str  # the accessible text of the bar


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    max_label: str
    baseline: float
    summary: str


def daily_chart(days: list[Day], *, width: int = 560, height: int = 180) -> Chart:
    """A bar chart of earnings per day, as numbers the template draws as inline SVG
    (no script, no library)."""
    top = max((d.earned_cents for d in days), default=0)
    top_pad, bottom_pad, left_pad = 12, 24, 4
    plot_h = height - top_pad - bottom_pad
    slot = (width - left_pad) / max(1, len(days))
    bars = []
    for i, d in enumerate(days):
        h = (plot_h * d.earned_cents / top) if top else 0
        if d.earned_cents and h < 2:
            h = 2  # a day with earnings always shows
        bars.append(
            Bar(
                x=round(left_pad + i * slot + slot * 0.15, 1),
                y=round(top_pad + plot_h - h, 1),
                width=round(slot * 0.7, 1),
                height=round(h, 1),
                label=d.day.strftime("%d"),
                title=f"{d.day:%a %d %b}: {format_cents(d.earned_cents)}",
            )
        )
    total = sum(d.earned_cents for d in days)
    return Chart(
        width=width,
        height=height,
        bars=bars,
        max_label=format_cents(top),
        baseline=top_pad + plot_h,
        summary=f"Earnings per day over the last {len(days)} days: {format_cents(total)} in all, "
        f"at most {format_cents(top)} in one day.",
    )


# --- Well-being -------------------------------------------------------------------------


@dataclass(frozen=True)
class Wellbeing:
    today_work_seconds: int
    today_earned_cents: int
    daily_cap_minutes: int | None
    daily_cap_cents: int | None
    sprint_minutes: int
    sprint_end: datetime | None

    @property
    def time_cap_reached(self) -> bool:
        return (
            self.daily_cap_minutes is not None
            and self.today_work_seconds >= self.daily_cap_minutes * 60
        )

    @property
    def money_cap_reached(self) -> bool:
        return self.daily_cap_cents is not None and self.today_earned_cents >= self.daily_cap_cents

    @property
    def sprint_over(self) -> bool:
        return self.sprint_end is not None and timezone.now() >= self.sprint_end

    @property
    def has_cap(self) -> bool:
        return self.daily_cap_minutes is not None or self.daily_cap_cents is not None


def wellbeing(*, user: User, prefs: WorkerPreferences, now: datetime | None = None) -> Wellbeing:
    """Today's work time and earnings against the worker's caps, and the sprint timer
    (one query, none when no cap is set)."""
    now = now or timezone.now()
    seconds = earned = 0
    if prefs.daily_cap_minutes is not None or prefs.daily_cap_cents is not None:
        row = Assignment.objects.filter(
            worker_id=user.pk, status__in=HANDED_IN, submitted_at__gte=_day_start(now)
        ).aggregate(
            work=Sum(_WORK),
            earned=Coalesce(Sum("reward_cents", filter=Q(status__in=EARNED)), 0),
        )
        seconds, earned = _seconds(row["work"]), int(row["earned"])
    end = (
        prefs.sprint_started_at + timedelta(minutes=prefs.sprint_minutes)
        if prefs.sprint_started_at is not None
        else None
    )
    return Wellbeing(
        today_work_seconds=seconds,
        today_earned_cents=earned,
        daily_cap_minutes=prefs.daily_cap_minutes,
        daily_cap_cents=prefs.daily_cap_cents,
        sprint_minutes=prefs.sprint_minutes,
        sprint_end=end,
    )


# --- Export -----------------------------------------------------------------------------

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: object) -> str:
    """Text for one CSV cell that a spreadsheet will not run as a formula: a cell
    starting with ``= + - @`` or a control character gets a leading apostrophe. Apply
    to text only: amounts are written by ``cents_to_decimal_text`` (never negative
    here) and stay numbers."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class _Writable(Protocol):
    def write(self, s: str, /) -> object: ...


HISTORY_HEADER = [
    "submitted_at",
    "accepted_at",
    "project",
    "requester",
    "status",
    "reward_usd",
    "work_seconds",
    "assignment_id",
]


def write_history_csv(*, user: User, out: _Writable) -> int:
    """Every assignment the worker handed in, newest first, as CSV. Returns the rows
    written. Streams through the worker's rows in chunks."""
    writer = csv.writer(out)
    writer.writerow(HISTORY_HEADER)
    rows = 0
    qs = (
        Assignment.objects.filter(worker_id=user.pk, status__in=HANDED_IN)
        .select_related("batch__project__owner")
        .order_by("-submitted_at", "-id")
    )
    for a in qs.iterator(chunk_size=2000):
        project = a.batch.project
        work = (a.submitted_at - a.accepted_at) if a.submitted_at else None
        writer.writerow(
            [
                a.submitted_at.isoformat() if a.submitted_at else "",
                a.accepted_at.isoformat(),
                csv_cell(project.title),
                csv_cell(requester_label(project.owner)),
                a.status,
                cents_to_decimal_text(a.reward_cents),
                _seconds(work),
                a.pk,
            ]
        )
        rows += 1
    return rows
