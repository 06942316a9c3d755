"""Worker pages: the task browser, the task page (preview and work), the sandboxed
frames, accept / submit / return, the queue, the dashboard and preferences.

Views parse input, call a selector or a ``tasks.services`` function, render. Who may
see what: every page is behind ``worker_required`` (anonymous → the login page,
someone without the worker role → 403); an assignment is fetched with the worker's id
in the query (404 for anyone else's); a task preview frame is reached only through a
signed link made for this worker and this task. Expected failures
(``ApplicationError``) become a message on the next page, never a 500.

Submitting is authenticated by the assignment's secret token (``assignment_submit``),
not by the session: the frame hands its answers to this page's own form (see
``marketplace.frame``), which posts them with the token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError
from core.http import AuthenticatedHttpRequest
from marketplace import templating
from marketplace.frame import IFRAME_SANDBOX, frame_message_response, frame_response
from marketplace.models import Project
from marketplace.taskpage import task_terms
from tasks import discovery, earnings, preferences, services
from tasks.forms import BrowseForm, PreferencesForm
from tasks.models import Assignment, AssignmentStatus

CARDS_PER_PAGE = 20
QUEUE_POLL_SECONDS = 30
PREVIEW_SALT = "fairtask.task-preview"
PREVIEW_MAX_AGE = 3600  # seconds a preview link stays valid
MAX_ANSWERS_TEXT = 1_000_000  # characters of the answers JSON before it is even parsed


def worker_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in (else the login page) and signed up as a worker (else 403). Opening a
    page does not switch a two-role user's role: only the header's POST form does."""

    @wraps(view)
    def wrapped(request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_worker:
            return render(request, "marketplace/role_missing.html", {"role": "worker"}, status=403)
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _wellbeing(request: AuthenticatedHttpRequest, prefs: Any = None) -> dict[str, Any]:
    prefs = prefs if prefs is not None else discovery.preferences_for(request.user)
    return {"wellbeing": earnings.wellbeing(user=request.user, prefs=prefs), "prefs": prefs}


# --- Task browser ---------------------------------------------------------------------------


@require_GET
@worker_required
def browse(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = BrowseForm(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    filters = form.filters() if form.is_bound else discovery.BrowseFilters()
    prefs = discovery.preferences_for(request.user)
    record = discovery.worker_record(request.user)
    listings = discovery.browse(
        worker=request.user,
        filters=filters,
        record=record,
        personal_min_hourly_cents=prefs.min_hourly_cents,
    )
    page = Paginator(listings, CARDS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "tasks/browse.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "record": record,
            "filters": filters,
            "filtering": form.is_bound and any(v for k, v in request.GET.items() if k != "page"),
            **_wellbeing(request, prefs),
        },
        status=200 if valid else 400,
    )


# --- Preview, accept ------------------------------------------------------------------------


def _project_or_404(project_id: int) -> Project:
    project = Project.objects.select_related("owner").filter(pk=project_id).first()
    if project is None:
        raise Http404("Project not found.")
    return project


@require_GET
@worker_required
def preview(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """The next task of a project this worker may take, shown without accepting it
    (``?after=<task id>``: the one after, for Skip)."""
    project = _project_or_404(project_id)
    try:
        after = int(request.GET.get("after", "0") or 0)
    except ValueError:
        after = 0
    task = discovery.next_task_for(worker=request.user, project_id=project.pk, after_task_id=after)
    if task is None and after:
        # Skipped past the last one: start again from the first.
        task = discovery.next_task_for(worker=request.user, project_id=project.pk)
    ctx: dict[str, Any] = {
        "mode": "preview",
        "sandbox": IFRAME_SANDBOX,
        "frame_mode": "preview",
        "project": project,
        "can_accept": False,
        **_wellbeing(request),
    }
    if task is None or project.owner_id == request.user.pk:
        ctx["terms"] = task_terms(project=project)
        ctx["frame_message"] = (
            "This is your own project: you cannot work on it."
            if project.owner_id == request.user.pk
            else "No task of this project is open to you right now."
        )
        ctx["skip_url"] = reverse("worker_home")
        return render(request, "tasks/task_page.html", ctx)
    signed = signing.dumps([task.pk, request.user.pk], salt=PREVIEW_SALT, compress=True)
    ctx.update(
        terms=task_terms(project=project, batch=task.batch),
        frame_src=reverse("tasks:preview_frame", args=[signed]),
        task_ref=signed,
        can_accept=True,
        skip_url=reverse("work:preview", args=[project.pk]) + "?" + urlencode({"after": task.pk}),
    )
    return render(request, "tasks/task_page.html", ctx)


def _previewed_task_id(request: HttpRequest, *, worker_id: int) -> int | None:
    """The task of a signed preview link made for ``worker_id``; None if absent or not
    valid (tampered, another worker's, expired)."""
    raw = request.POST.get("task") or ""
    if not raw:
        return None
    try:
        task_id, for_worker = signing.loads(raw, salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return int(task_id) if for_worker == worker_id else None


@require_POST
@worker_required
def accept(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """Accept the previewed task (the signed ``task`` field) or, without one, the next
    free task of the project."""

    project = _project_or_404(project_id)
    task_id = _previewed_task_id(request, worker_id=request.user.pk)
    try:
        if task_id is not None:
            task = discovery.task_of_project(task_id=task_id, project_id=project.pk)
            if task is None:
                raise ApplicationError("That task is not available.", code="not_found", status=404)
            assignment = services.assignment_claim_task(worker=request.user, task=task)
        else:
            assignment = services.assignment_claim(worker=request.user, project=project)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        if exc.code in ("too_many_accepted",):
            return redirect("work:queue")
        return redirect("work:preview", project.pk)
    return redirect("work:assignment", assignment.pk)


# --- Work -----------------------------------------------------------------------------------


def _own_assignment(request: AuthenticatedHttpRequest, assignment_id: int) -> Assignment:
    assignment = (
        Assignment.objects.select_related("task", "batch__project__owner")
        .filter(pk=assignment_id, worker_id=request.user.pk)
        .first()
    )
    if assignment is None:
        raise Http404("Assignment not found.")
    return assignment


_NO_LONGER_OPEN: dict[str, str] = {
    AssignmentStatus.SUBMITTED: "you submitted it.",
    AssignmentStatus.APPROVED: "it was approved.",
    AssignmentStatus.REJECTED: "it was rejected.",
    AssignmentStatus.RETURNED: "you returned it.",
}


@require_GET
@worker_required
def assignment_page(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _own_assignment(request, assignment_id)
    now = timezone.now()
    if assignment.status != AssignmentStatus.ACCEPTED or assignment.deadline <= now:
        messages.info(
            request,
            "That task is no longer open: "
            + _NO_LONGER_OPEN.get(str(assignment.status), "its time allotted ran out."),
        )
        return redirect("work:queue")
    project = assignment.batch.project
    return render(
        request,
        "tasks/task_page.html",
        {
            "mode": "work",
            "terms": task_terms(
                project=project,
                reward_cents=assignment.reward_cents,
                fee_cents=assignment.fee_cents,
            ),
            "assignment": assignment,
            "submit_token": assignment.submit_token,
            "deadline_iso": assignment.deadline.isoformat(),
            "seconds_left": max(0, int((assignment.deadline - now).total_seconds())),
            "frame_src": reverse("tasks:work_frame", args=[assignment.pk]),
            "frame_mode": "work",
            "sandbox": IFRAME_SANDBOX,
            "project": project,
            **_wellbeing(request),
        },
    )


@require_POST
def submit(request: HttpRequest) -> HttpResponse:
    """The work form's target: ``token`` (the assignment's secret) and ``answers`` (JSON
    of field name → value, put there by the page from the frame). Then, with "accept
    next" on, the next task of the same project."""

    raw = request.POST.get("answers", "")
    token = request.POST.get("token", "")
    try:
        if len(raw) > MAX_ANSWERS_TEXT:
            raise ApplicationError(
                "The answers are too large to be saved.", code="answers_too_large", status=413
            )
        try:
            answers = json.loads(raw) if raw else {}
        except (ValueError, RecursionError):
            raise ApplicationError(
                "The answers could not be read; nothing was saved.", code="invalid_answers"
            ) from None
        assignment = services.assignment_submit(token=token, answers=answers)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        try:
            assignment_id = services.parse_token(token)
        except ApplicationError:
            return redirect("work:queue")
        mine = (
            request.user.is_authenticated
            and Assignment.objects.filter(
                pk=assignment_id, worker_id=request.user.pk, status=AssignmentStatus.ACCEPTED
            ).exists()
        )
        return redirect("work:assignment", assignment_id) if mine else redirect("work:queue")
    user = request.user
    if not user.is_authenticated or user.pk != assignment.worker_id:
        messages.success(request, "Submitted. Thank you!")
        return redirect("worker_home")
    prefs = discovery.preferences_for(user)
    if prefs.accept_next:
        try:
            nxt = services.assignment_claim_next(worker=user, after=assignment)
        except ApplicationError as exc:
            messages.success(request, f"Submitted. No next task: {exc.message}")
            return redirect("worker_home")
        messages.success(request, "Submitted. Here is the next task of this project.")
        return redirect("work:assignment", nxt.pk)
    messages.success(request, "Submitted. Thank you!")
    return redirect("worker_home")


@require_POST
@worker_required
def return_(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    """Give the task back; with ``then=next`` (Skip), preview another of the project."""

    try:
        assignment = services.assignment_return(worker=request.user, assignment_id=assignment_id)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        messages.error(request, exc.message)
        return redirect("work:queue")
    messages.success(request, "Returned: the task is free for others again.")
    if request.POST.get("then") == "next":
        project_id = assignment.batch.project_id
        return redirect(
            reverse("work:preview", args=[project_id])
            + "?"
            + urlencode({"after": assignment.task_id})
        )
    return redirect("work:queue")


# --- Frames ---------------------------------------------------------------------------------


@require_GET
@worker_required
def preview_frame(request: AuthenticatedHttpRequest, signed: str) -> HttpResponse:
    """A task as its preview shows it: only through a signed link made for this worker
    (task ids cannot be walked), only while its batch is open."""
    try:
        task_id, for_worker = signing.loads(signed, salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return frame_message_response(
            message="This preview link is not valid any more.", status=404
        )
    if for_worker != request.user.pk:
        return frame_message_response(
            message="This preview link is not valid any more.", status=404
        )
    task = discovery.open_task(task_id=int(task_id))
    if task is None:
        return frame_message_response(message="This task is no longer open.", status=404)
    try:
        html = templating.render(task.batch.template_html, task.data)
    except ApplicationError as exc:
        return frame_message_response(message=exc.message, status=400)
    return frame_response(task_html=html, submit_label="Submit", title=task.batch.project.title)


@require_GET
@worker_required
def work_frame(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = (
        Assignment.objects.select_related("task", "batch__project")
        .filter(pk=assignment_id, worker_id=request.user.pk)
        .first()
    )
    if assignment is None:
        return frame_message_response(message="Assignment not found.", status=404)
    if assignment.status != AssignmentStatus.ACCEPTED:
        return frame_message_response(message="This task is no longer open.", status=409)
    try:
        html = templating.render(assignment.batch.template_html, assignment.task.data)
    except ApplicationError as exc:
        return frame_message_response(message=exc.message, status=400)
    return frame_response(
        task_html=html, submit_label="Submit", title=assignment.batch.project.title
    )


# --- Queue ----------------------------------------------------------------------------------


@require_GET
@worker_required
def queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    items = earnings.queue(user=request.user)
    template = "tasks/partials/queue_list.html" if request.htmx else "tasks/queue.html"  # type: ignore[attr-defined]
    return render(
        request,
        template,
        {"items": items, "poll_seconds": QUEUE_POLL_SECONDS, **_wellbeing(request)},
    )


# --- Dashboard, export, preferences ---------------------------------------------------------


@require_GET
@worker_required
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    prefs = discovery.preferences_for(request.user)
    summary = earnings.summary(user=request.user)
    initial = {
        "min_hourly": _dollars(prefs.min_hourly_cents) if prefs.min_hourly_cents else "",
        "accept_next": prefs.accept_next,
        "daily_cap_minutes": prefs.daily_cap_minutes,
        "daily_cap": _dollars(prefs.daily_cap_cents) if prefs.daily_cap_cents else "",
        "sprint_minutes": prefs.sprint_minutes,
    }
    return render(
        request,
        "tasks/dashboard.html",
        {
            "summary": summary,
            "chart": earnings.daily_chart(summary.daily),
            "prefs_form": PreferencesForm(initial=initial),
            **_wellbeing(request, prefs),
        },
    )


def _dollars(cents: int) -> str:
    from core.money import cents_to_decimal_text

    return cents_to_decimal_text(cents)


@require_GET
@worker_required
def earnings_csv(request: AuthenticatedHttpRequest) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="fairtask-earnings.csv"'
    earnings.write_history_csv(user=request.user, out=response)
    return response


@require_POST
@worker_required
def preferences_save(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PreferencesForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            preferences.preferences_update(
                user=request.user,
                min_hourly_cents=d["min_hourly"],
                accept_next=d["accept_next"],
                daily_cap_minutes=d["daily_cap_minutes"],
                daily_cap_cents=d["daily_cap"],
                sprint_minutes=d["sprint_minutes"],
            )
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, "Preferences saved.")
            return redirect(reverse("work:dashboard") + "#preferences")
    summary = earnings.summary(user=request.user)
    return render(
        request,
        "tasks/dashboard.html",
        {
            "summary": summary,
            "chart": earnings.daily_chart(summary.daily),
            "prefs_form": form,
            **_wellbeing(request),
        },
        status=400,
    )


@require_POST
@worker_required
def sprint(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.POST.get("action") == "stop":
        preferences.sprint_stop(user=request.user)
        messages.info(request, "Sprint timer stopped.")
    else:
        prefs = preferences.sprint_start(user=request.user)
        messages.success(
            request, f"Sprint started: {prefs.sprint_minutes} minutes. We'll tell you when to stop."
        )
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return redirect(nxt)
    return redirect("work:dashboard")
