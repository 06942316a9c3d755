"""The worker side's models: assignments and their event log. Written only by
``tasks.services``."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db import models
from django.utils import timezone


class AssignmentStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    RETURNED = "returned", "Returned"
    EXPIRED = "expired", "Expired"


# States whose assignment holds one of its task's slots and whose reward + fee is
# owed out of the batch escrow until it is settled (``settled_at`` set).
ESCROW_BOUND_STATUSES = frozenset(
    {
        AssignmentStatus.ACCEPTED,
        AssignmentStatus.SUBMITTED,
        AssignmentStatus.APPROVED,
        AssignmentStatus.REJECTED,
    }
)


class RejectReason(models.TextChoices):
    """The short list a rejection picks from (plus free text); shown to the worker."""

    WRONG = "wrong_answer", "Answers are wrong"
    INCOMPLETE = "incomplete", "Work is incomplete"
    INSTRUCTIONS = "instructions_ignored", "Instructions were not followed"
    SPAM = "spam", "Random or automated answers"
    OTHER = "other", "Other"


# The only moves an assignment can make (product.md); ``tasks.services.transition``
# enforces this table and writes an ``AssignmentEvent`` per move.
ASSIGNMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    AssignmentStatus.ACCEPTED: frozenset(
        {AssignmentStatus.SUBMITTED, AssignmentStatus.RETURNED, AssignmentStatus.EXPIRED}
    ),
    AssignmentStatus.SUBMITTED: frozenset({AssignmentStatus.APPROVED, AssignmentStatus.REJECTED}),
    AssignmentStatus.REJECTED: frozenset({AssignmentStatus.APPROVED}),
    AssignmentStatus.APPROVED: frozenset(),
    AssignmentStatus.RETURNED: frozenset(),
    AssignmentStatus.EXPIRED: frozenset(),
}
# Handed in: the work exists (its time counts for measured times).
HANDED_IN_STATUSES = frozenset(
    {AssignmentStatus.SUBMITTED, AssignmentStatus.APPROVED, AssignmentStatus.REJECTED}
)


class Assignment(models.Model):
    """One worker's work on one task (MTurk: assignment). Created only by a claim
    (``tasks.services.assignment_claim``), which takes one of the task's slots.

    ``reward_cents``/``fee_cents`` are the batch's terms when the worker accepted; the
    assignment finishes under them even if the batch is cancelled. ``deadline`` is
    ``accepted_at`` + the project's time allotted; ``auto_approve_at`` is frozen at
    submit (``submitted_at`` + the project's auto-approval delay then). ``settled_at``
    is set once this assignment's money has left the batch escrow (paid to the worker,
    or returned after a final rejection); until then a cancel or expiry of the batch
    keeps its reward + fee in escrow.

    The frame submits with ``submit_token`` (an HMAC of the id and a random per-
    assignment nonce under ``SECRET_KEY``), not with the worker's session.
    """

    # No single-column indexes on task and worker: the UNIQUE (task, worker) and the
    # (worker, -accepted_at) indexes lead with them, and every index costs each claim.
    task = models.ForeignKey(
        "marketplace.Task", on_delete=models.PROTECT, related_name="assignments", db_index=False
    )
    # Denormalised from task.batch: progress, review and the sweeps filter on it.
    batch = models.ForeignKey(
        "marketplace.Batch", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="assignments",
        db_index=False,
    )
    status = models.CharField(
        max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.ACCEPTED
    )
    accepted_at = models.DateTimeField(default=timezone.now)
    deadline = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    auto_approve_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    reward_cents = models.BigIntegerField()
    fee_cents = models.BigIntegerField()
    submit_nonce = models.CharField(max_length=32)
    # Review (``tasks.review``): when the requester (or auto-approval) decided, and for a
    # rejection the reason from ``RejectReason`` plus free text, both shown to the worker.
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # Database defaults too: set-based inserts (benchmarks, bulk tools) need not name them.
    reject_reason = models.CharField(max_length=24, blank=True, default="", db_default="")
    reject_note = models.TextField(blank=True, default="", db_default="")

    class Meta:
        constraints = [
            # Redundancy rule: never two assignments of one task by the same worker.
            models.UniqueConstraint(
                fields=["task", "worker"], name="assignment_one_per_worker_per_task"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=AssignmentStatus.values),
                name="assignment_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(reward_cents__gte=1), name="assignment_reward_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(fee_cents__gte=0), name="assignment_fee_nonnegative"
            ),
            models.CheckConstraint(
                condition=models.Q(submitted_at__isnull=True)
                | models.Q(submitted_at__gte=models.F("accepted_at")),
                name="assignment_submitted_after_accepted",
            ),
            models.CheckConstraint(
                condition=models.Q(deadline__gt=models.F("accepted_at")),
                name="assignment_deadline_after_accepted",
            ),
            # Handed-in work has its submit time and its frozen auto-approval time.
            models.CheckConstraint(
                condition=~models.Q(status__in=["submitted", "approved", "rejected"])
                | models.Q(submitted_at__isnull=False, auto_approve_at__isnull=False),
                name="assignment_handed_in_has_times",
            ),
        ]
        indexes = [
            # Requester side: a batch's assignments by state (review, exports).
            models.Index(fields=["batch", "status", "id"], name="assignment_batch_status_idx"),
            # A worker's own list, newest first.
            models.Index(fields=["worker", "-accepted_at"], name="assignment_worker_idx"),
            # Expiry sweep and the hoarding count: accepted ones only.
            models.Index(
                fields=["deadline"],
                name="assignment_accepted_due_idx",
                condition=models.Q(status="accepted"),
            ),
            models.Index(
                fields=["worker"],
                name="assignment_worker_holding_idx",
                condition=models.Q(status="accepted"),
            ),
            # Final release of rejections after the dispute window: unsettled ones only.
            models.Index(
                fields=["reviewed_at"],
                name="assignment_rejected_open_idx",
                condition=models.Q(status="rejected", settled_at__isnull=True),
            ),
            # Auto-approval sweep: submitted ones only.
            models.Index(
                fields=["auto_approve_at"],
                name="assignment_auto_approve_idx",
                condition=models.Q(status="submitted"),
            ),
        ]

    def __str__(self) -> str:
        return f"Assignment {self.pk} ({self.status})"

    @property
    def submit_token(self) -> str:
        """``<id>.<hmac>``: the per-assignment secret the work frame posts."""
        return f"{self.pk}.{token_mac(self.pk, self.submit_nonce)}"

    @property
    def reject_reason_label(self) -> str:
        if self.reject_reason in RejectReason.values:
            return str(RejectReason(self.reject_reason).label)
        return self.reject_reason

    @property
    def is_open(self) -> bool:
        return self.status == AssignmentStatus.ACCEPTED


def token_mac(assignment_id: int, nonce: str) -> str:
    key = hashlib.sha256(b"fairtask-submit-token:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, f"{assignment_id}:{nonce}".encode(), hashlib.sha256).hexdigest()[:40]


class AssignmentEvent(models.Model):
    """One status move of an assignment (append-only), written by
    ``tasks.services.transition`` in the move's transaction. ``old_status`` is empty for
    the claim that created the assignment."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="events")
    old_status = models.CharField(max_length=16, blank=True)
    new_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.assignment_id}: {self.old_status or '-'} → {self.new_status}"


class WorkerPreferences(models.Model):
    """A worker's own settings for finding and doing work (issue 16). Written only by
    ``tasks.preferences.preferences_update``; a worker without a row has the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="worker_preferences",
    )
    # The task browser hides projects paying less than this per hour (0: show all).
    min_hourly_cents = models.PositiveIntegerField(default=0)
    # After a submit, the next task of the same project opens by itself.
    accept_next = models.BooleanField(default=True)
    # Well-being: optional daily caps (None: no cap) and the sprint timer.
    daily_cap_minutes = models.PositiveIntegerField(null=True, blank=True)
    daily_cap_cents = models.PositiveIntegerField(null=True, blank=True)
    sprint_minutes = models.PositiveSmallIntegerField(default=25)
    sprint_started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "worker preferences"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_hourly_cents__lte=100_000),
                name="prefs_min_hourly_at_most_1000",
            ),
            models.CheckConstraint(
                condition=models.Q(daily_cap_minutes__isnull=True)
                | models.Q(daily_cap_minutes__gte=1, daily_cap_minutes__lte=1440),
                name="prefs_daily_cap_minutes_1_to_1440",
            ),
            models.CheckConstraint(
                condition=models.Q(daily_cap_cents__isnull=True)
                | models.Q(daily_cap_cents__gte=1, daily_cap_cents__lte=10_000_000),
                name="prefs_daily_cap_cents_bounded",
            ),
            models.CheckConstraint(
                condition=models.Q(sprint_minutes__gte=1, sprint_minutes__lte=240),
                name="prefs_sprint_1_to_240_minutes",
            ),
        ]

    def __str__(self) -> str:
        return f"Preferences of user {self.user_id}"


class WorkerBlock(models.Model):
    """A requester blocked a worker (reason kept): the worker no longer sees this
    requester's projects and cannot claim their tasks. Written by ``tasks.review``."""

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocked_by"
    )
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["requester", "worker"], name="worker_block_unique")
        ]

    def __str__(self) -> str:
        return f"{self.requester_id} blocks {self.worker_id}"


class Bonus(models.Model):
    """A bonus a requester paid a worker for an assignment (ledger key ``bonus-<id>``,
    requester available → worker available + platform fee). Written by
    ``tasks.review.assignment_bonus`` in the ledger posting's transaction."""

    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="bonuses")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bonuses", db_index=False
    )
    amount_cents = models.BigIntegerField()
    fee_cents = models.BigIntegerField()
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_cents__gte=1), name="bonus_amount_positive"
            ),
            models.CheckConstraint(condition=models.Q(fee_cents__gte=0), name="bonus_fee_nonneg"),
        ]

    def __str__(self) -> str:
        return f"Bonus {self.pk} ({self.amount_cents}¢)"
