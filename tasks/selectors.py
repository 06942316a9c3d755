"""Reads of the worker side. Object-level permission lives here: a worker sees only
their own assignments (``assignment_for`` raises ``Http404`` for anyone else's, the
same answer as for an id that does not exist)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from marketplace import templating
from marketplace.models import Project, ProjectStatus, User
from tasks.models import Assignment, AssignmentStatus, WorkerBlock


def worker_assignments(worker: User, *, status: str | None = None) -> QuerySet[Assignment]:
    """The worker's assignments, newest first, with batch and project joined."""
    qs = Assignment.objects.filter(worker_id=worker.pk).select_related("batch__project")
    if status is not None:
        qs = qs.filter(status=status)
    return qs.order_by("-accepted_at", "-pk")


def worker_queue(worker: User) -> QuerySet[Assignment]:
    """The worker's accepted assignments, the soonest deadline first."""
    return (
        Assignment.objects.filter(worker_id=worker.pk, status=AssignmentStatus.ACCEPTED)
        .select_related("batch__project", "task")
        .order_by("deadline", "pk")
    )


def assignment_for(worker: User, assignment_id: int | str) -> Assignment:
    """The worker's assignment ``assignment_id`` (task, batch, project joined);
    ``Http404`` if it is someone else's or absent."""
    try:
        return Assignment.objects.select_related("task", "batch__project").get(
            pk=int(assignment_id), worker_id=worker.pk
        )
    except (Assignment.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("Assignment not found.") from None


def assignment_task_html(assignment: Assignment) -> str:
    """The task as the worker sees it in the frame: the batch's template (the one the
    rows were validated against) filled with the task's row."""
    return templating.render(assignment.batch.template_html, assignment.task.data)


def projects_visible_to(worker: User) -> QuerySet[Project]:
    """Active projects a worker may see: not their own, not of a requester who blocked
    them (``WorkerBlock``). Discovery lists read this."""
    blocked = WorkerBlock.objects.filter(worker_id=worker.pk).values("requester_id")
    return (
        Project.objects.filter(status=ProjectStatus.ACTIVE)
        .exclude(owner_id=worker.pk)
        .exclude(owner_id__in=blocked)
    )


def worker_earnings(worker: User) -> dict[str, int]:
    """What the worker is owed and has: ``pending_cents`` (approved, not yet settled:
    settlement moves it to the balance), ``available_cents`` (the ledger balance)."""
    from django.db.models import Sum

    from payouts import ledger

    pending = Assignment.objects.filter(
        worker_id=worker.pk, status=AssignmentStatus.APPROVED, settled_at__isnull=True
    ).aggregate(s=Sum("reward_cents"))["s"]
    account = ledger.find_account(kind="worker_available", owner=worker)
    return {
        "pending_cents": int(pending or 0),
        "available_cents": account.balance_cents if account else 0,
    }


def worker_decisions(worker: User, *, limit: int = 25) -> QuerySet[Assignment]:
    """The worker's reviewed assignments, newest decision first (with the rejection
    reason and note the requester gave)."""
    return (
        Assignment.objects.filter(
            worker_id=worker.pk,
            status__in=[AssignmentStatus.APPROVED, AssignmentStatus.REJECTED],
        )
        .select_related("batch__project")
        .order_by("-reviewed_at", "-pk")[:limit]
    )
