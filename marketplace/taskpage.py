"""What the task page shows around the sandboxed frame: title, requester, instructions,
reward and the fee on top, time allotted, estimated and measured time, hourly rate.

One builder for both audiences, so that the requester's preview is the worker's page:
``tasks`` views (worker preview and work) and ``marketplace.preview_views`` (the
requester's preview) render ``templates/tasks/task_page.html`` with these terms.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketplace.models import MEASURED_MIN_SUBMISSIONS, Batch, Project, User
from payouts import fees


def requester_label(user: User) -> str:
    """How workers see a requester: the display name, never the email address."""
    return user.display_name or f"Requester {user.pk}"


@dataclass(frozen=True)
class TaskTerms:
    project_id: int
    title: str
    requester: str
    description: str
    instructions: str
    keywords: list[str]
    reward_cents: int
    fee_cents: int
    time_allotted_seconds: int
    estimated_seconds: int
    estimated_hourly_cents: int
    measured_seconds: float | None
    measured_hourly_cents: int | None
    measured_count: int

    @property
    def requester_pays_cents(self) -> int:
        return self.reward_cents + self.fee_cents

    @property
    def hourly_rate_cents(self) -> int:
        """The rate to go by: measured once there are enough submissions."""
        if (
            self.measured_hourly_cents is not None
            and self.measured_count >= MEASURED_MIN_SUBMISSIONS
        ):
            return self.measured_hourly_cents
        return self.estimated_hourly_cents

    @property
    def rate_is_measured(self) -> bool:
        return (
            self.measured_hourly_cents is not None
            and self.measured_count >= MEASURED_MIN_SUBMISSIONS
        )


def task_terms(
    *,
    project: Project,
    batch: Batch | None = None,
    reward_cents: int | None = None,
    fee_cents: int | None = None,
    requester_name: str | None = None,
) -> TaskTerms:
    """The terms a task is shown with. Money: explicit ``reward_cents``/``fee_cents``
    (an assignment's own snapshot) first, then the batch's published snapshot, then
    the project's reward with today's fee (a draft). The measured time is the
    project's stored one (``refresh_measured_times``); no query is made here."""
    if reward_cents is None:
        if batch is not None and batch.reward_cents is not None and batch.fee_cents is not None:
            reward_cents, fee_cents = batch.reward_cents, batch.fee_cents
        else:
            reward_cents = project.reward_cents
    if fee_cents is None:
        fee_cents = fees.reward_fee_cents(reward_cents)
    measured = project.measured_median_seconds
    count = project.measured_count
    measured_hourly = (
        fees.hourly_rate_cents(reward_cents=reward_cents, seconds=max(1, round(measured)))
        if measured is not None
        else None
    )
    return TaskTerms(
        project_id=project.pk,
        title=project.title,
        requester=requester_name if requester_name is not None else requester_label(project.owner),
        description=project.description,
        instructions=project.instructions,
        keywords=project.keyword_list,
        reward_cents=reward_cents,
        fee_cents=fee_cents,
        time_allotted_seconds=project.time_allotted_seconds,
        estimated_seconds=project.estimated_seconds,
        estimated_hourly_cents=fees.hourly_rate_cents(
            reward_cents=reward_cents, seconds=project.estimated_seconds
        ),
        measured_seconds=measured,
        measured_hourly_cents=measured_hourly,
        measured_count=count,
    )
