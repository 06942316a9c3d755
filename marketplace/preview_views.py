"""The requester's preview: the worker's task page (``templates/tasks/task_page.html``,
terms from ``marketplace.taskpage``) with a row picker and next/previous through a
batch's rows, and the sandboxed frames it shows (``marketplace.frame``).

Only the project's owner gets any of these (404 for anyone else's project or batch,
403 for someone who is not a requester).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApplicationError
from core.http import AuthenticatedHttpRequest
from marketplace import selectors, templating
from marketplace.forms_requester import TemplateForm
from marketplace.frame import IFRAME_SANDBOX, frame_message_response, frame_response
from marketplace.models import Batch, Task, TemplateKind, User
from marketplace.taskpage import task_terms

PREVIEW_SUBMIT_LABEL = "Submit"
ROW_PARAM_PREFIX = "row."


def _requester(request: AuthenticatedHttpRequest) -> User | None:
    """The logged-in user if a requester (login_required has run), else None."""
    user = request.user
    return user if user.is_requester else None


def _not_requester() -> HttpResponse:
    return frame_message_response(message="Only requesters can preview task templates.", status=403)


def _row_number(raw: str | None, *, count: int) -> int:
    """The 1-based row asked for, clamped to the batch (1 for anything unreadable)."""
    try:
        number = int(raw or 1)
    except (TypeError, ValueError):
        number = 1
    return min(max(number, 1), max(count, 1))


def _batch_of(user: User, project_id: int, raw: str | None) -> Batch | None:
    """The requester's batch ``raw`` of this project; Http404 for anyone else's."""
    if not raw:
        return None
    batch = selectors.batch_for(user, raw)
    if batch.project_id != project_id:
        raise Http404("That batch belongs to another project.")
    return batch


@login_required
@require_GET
def preview_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """The worker's task page for this project, as the requester's preview: a batch's
    row (``?batch=<id>&row=<n>``, with next/previous) or the sample row."""
    user = _requester(request)
    if user is None:
        return render(request, "marketplace/role_missing.html", {"role": "requester"}, status=403)
    project = selectors.project_for(user, project_id)
    batches = [b for b in selectors.batches_for(user, project_id=project.pk) if b.task_count][:50]
    batch = _batch_of(user, project.pk, request.GET.get("batch"))
    row = _row_number(request.GET.get("row"), count=batch.task_count if batch else 1)
    frame_params: dict[str, Any] = {}
    if batch is not None:
        frame_params = {"batch": batch.pk, "row": row}
    else:
        frame_params = {
            k: v for k, v in request.GET.items() if k.startswith(ROW_PARAM_PREFIX) and v != ""
        }
    frame_src = reverse("requester:preview_frame", args=[project.pk])
    if frame_params:
        frame_src += "?" + urlencode(frame_params)

    def row_link(number: int) -> str:
        assert batch is not None
        return "?" + urlencode({"batch": batch.pk, "row": number})

    return render(
        request,
        "tasks/task_page.html",
        {
            "mode": "requester",
            "terms": task_terms(project=project, batch=batch),
            "frame_src": frame_src,
            "sandbox": IFRAME_SANDBOX,
            "frame_mode": "preview",
            "batches": batches,
            "batch": batch,
            "row": row,
            "prev_url": row_link(row - 1) if batch is not None and row > 1 else "",
            "next_url": row_link(row + 1) if batch is not None and row < batch.task_count else "",
            "project": project,
        },
    )


@login_required
@require_GET
def preview_frame(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """A project's template as a worker will see it, filled with: row ``?row=<n>`` of one
    of its batches (``?batch=<id>``; the first row without ``row``), or the sample row
    with any ``row.<column>`` values the requester typed instead."""
    user = _requester(request)
    if user is None:
        return _not_requester()
    project = selectors.project_for(user, project_id)
    try:
        batch_id = request.GET.get("batch")
        if batch_id:
            batch = selectors.batch_for(user, batch_id)
            if batch.project_id != project.pk:
                return frame_message_response(
                    message="That batch belongs to another project.", status=404
                )
            number = _row_number(request.GET.get("row"), count=batch.task_count)
            data = (
                Task.objects.filter(batch_id=batch.pk, row_number=number)
                .values_list("data", flat=True)
                .first()
            )
            if data is None:
                return frame_message_response(message="This batch has no tasks to preview yet.")
            html = templating.render(batch.template_html, data)
        else:
            row: dict[str, Any] = selectors.template_sample_row(
                template_kind=project.template_kind,
                template_html=project.template_html,
                template_config=project.template_config,
            )
            for key, value in request.GET.items():
                name = key.removeprefix(ROW_PARAM_PREFIX)
                if key.startswith(ROW_PARAM_PREFIX) and name in row and value != "":
                    row[name] = value
            html = selectors.template_preview(
                template_kind=project.template_kind,
                template_html=project.template_html,
                template_config=project.template_config,
                row=row,
            )
    except ApplicationError as exc:
        return frame_message_response(message=exc.message, status=400)
    return frame_response(
        task_html=html, submit_label=PREVIEW_SUBMIT_LABEL, title=f"Preview: {project.title}"
    )


@login_required
@require_http_methods(["GET", "POST"])
def preview_draft(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The template being edited (not saved yet) with its sample row. Custom HTML only
    by POST from the editor (CSRF-checked), so that no link can make us serve HTML it
    carries; built-in templates also by GET (their settings are plain values)."""
    if _requester(request) is None:
        return _not_requester()
    data = request.POST if request.method == "POST" else request.GET
    kind = data.get("template_kind", "")
    if kind not in TemplateKind.values:
        return frame_message_response(message="Choose a template type.", status=400)
    if kind == TemplateKind.CUSTOM and request.method != "POST":
        return frame_message_response(message="Press “Preview the template” to see your HTML here.")
    if request.method == "GET" and set(data) <= {"template_kind"}:
        try:  # the built-in with its default settings
            html = selectors.template_preview(template_kind=kind)
        except ApplicationError as exc:
            return frame_message_response(message=exc.message, status=400)
        return frame_response(task_html=html, submit_label=PREVIEW_SUBMIT_LABEL, title="Preview")
    form = TemplateForm(data, kind=kind)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        label = form.fields[field].label if field in form.fields else ""
        return frame_message_response(
            message=f"{label}: {errors[0]}" if label else str(errors[0]), status=400
        )
    try:
        html = selectors.template_preview(**form.template_values())
    except ApplicationError as exc:
        return frame_message_response(message=exc.message, status=400)
    return frame_response(task_html=html, submit_label=PREVIEW_SUBMIT_LABEL, title="Preview")
