"""The worker side's models. Only a minimal ``Assignment`` exists so far (issue 4 needs
it for batch progress and cancel); claiming, submitting and reviewing are the worker
issue's and will extend this model through ``tasks`` services."""

from __future__ import annotations

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


class Assignment(models.Model):
    """One worker's work on one task (MTurk: assignment).

    ``reward_cents``/``fee_cents`` are the batch's terms when the worker accepted; the
    assignment finishes under them even if the batch is cancelled. ``settled_at`` is set
    by settlement once this assignment's money has left the batch escrow (paid to the
    worker, or returned after a final rejection); until then a cancel or expiry of the
    batch keeps its reward + fee in escrow.
    """

    task = models.ForeignKey(
        "marketplace.Task", on_delete=models.PROTECT, related_name="assignments"
    )
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    status = models.CharField(
        max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.ACCEPTED
    )
    accepted_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    reward_cents = models.BigIntegerField()
    fee_cents = models.BigIntegerField()

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
        ]
        indexes = [models.Index(fields=["task", "status"], name="assignment_task_status_idx")]

    def __str__(self) -> str:
        return f"Assignment {self.pk} ({self.status})"


class WorkerPreferences(models.Model):
    """A worker's own settings for finding and doing work (issue 16). Written only by
    ``tasks.services.preferences_update``; a worker without a row has the defaults."""

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
