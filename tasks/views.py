"""Frame views. Each returns the sandboxed task frame (``tasks.frame``) for a rendered
template; the worker side adds its own (a claimed task's frame) next to these.

Preview frames are the requester's: only the project's owner gets one (404 for anyone
else's project or batch, 403 for someone who is not a requester).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApplicationError
from core.http import AuthenticatedHttpRequest
from marketplace import selectors, templating
from marketplace.forms_requester import TemplateForm
from marketplace.models import TemplateKind, User
from tasks.frame import first_row, frame_message_response, frame_response

PREVIEW_SUBMIT_LABEL = "Submit"
ROW_PARAM_PREFIX = "row."


def _requester(request: AuthenticatedHttpRequest) -> User | None:
    """The logged-in user if a requester (login_required has run), else None."""
    user = request.user
    return user if user.is_requester else None


def _not_requester() -> HttpResponse:
    return frame_message_response(message="Only requesters can preview task templates.", status=403)


@login_required
@require_GET
def preview_project(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """A project's template as a worker will see it, filled with: the first row of one
    of its batches (``?batch=<id>``), or the sample row with any ``row.<column>`` values
    the requester typed instead."""
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
            first = first_row(batch)
            if first is None:
                return frame_message_response(message="This batch has no tasks to preview yet.")
            html = templating.render(batch.template_html, first)
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
