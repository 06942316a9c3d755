"""Requester pages: home, projects, the template editor, batches, progress, API keys.

Views parse input, call a selector or a service, render. Who may see what: every view
is behind ``requester_required`` (anonymous → the login page, a worker → 403), and
every object is fetched through ``selectors.project_for`` / ``batch_for``, which raise
404 for anything the requester does not own. Expected failures (``ApplicationError``)
become a form error next to the field, or a message, with a 4xx; never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import limits
from core.errors import ApplicationError
from core.http import AuthenticatedHttpRequest
from core.money import format_cents, parse_dollars
from core.sandbox import IFRAME_SANDBOX
from marketplace import builtin_templates, selectors, services, templating
from marketplace.forms_requester import (
    ApiKeyForm,
    BatchUploadForm,
    CancelForm,
    ProjectForm,
    PublishForm,
    TemplateForm,
)
from marketplace.models import (
    BATCH_LIVE_STATUSES,
    MAX_ASSIGNMENTS_PER_TASK,
    BatchStatus,
    Project,
    Role,
    TemplateKind,
)
from marketplace.paging import BatchSummaries
from marketplace.services import api_keys as api_key_services
from marketplace.taskpage import task_terms
from payouts import fees, ledger

PROJECTS_PER_PAGE = 25
BATCHES_PER_PAGE = 25
# How often the progress partial is polled (seconds): often enough to feel live, rare
# enough that a page left open costs little.
PROGRESS_POLL_SECONDS = 3
IMPORT_POLL_SECONDS = 2
TEMPLATE_FIELD_NAMES = (
    "question",
    "labels",
    "mode",
    "scale",
    "allow_tie",
    "media",
    "template_html",
)


class RequesterRequest(AuthenticatedHttpRequest):
    """What the views below receive: ``requester_required`` has checked the user."""


def requester_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in (else the login page) and signed up as a requester (else 403). A user
    with both roles who opens a requester page while working as a worker sees it with
    an offer to switch (a POST to ``switch_role``): opening a page changes no state."""

    @wraps(view)
    def wrapped(request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user  # login_required runs first
        if not user.is_requester:
            return render(
                request, "marketplace/role_missing.html", {"role": "requester"}, status=403
            )
        request.page_role = Role.REQUESTER  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _post(request: HttpRequest) -> Any:
    """The POST data to bind a form to (an empty POST still binds: it is a submission)."""
    return request.POST if request.method == "POST" else None


# --- Home --------------------------------------------------------------------------------


@require_GET
@requester_required
def home(request: RequesterRequest) -> HttpResponse:
    balance_cents = ledger.requester_balance_cents(request.user)  # a read: creates nothing
    projects = list(selectors.projects_for(request.user)[:6])
    batches = selectors.requester_batches(request.user, limit=10)
    return render(
        request,
        "marketplace/requester_home.html",
        {
            "balance_cents": balance_cents,
            "projects": projects,
            "batches": batches,
            "live_statuses": BATCH_LIVE_STATUSES,
        },
    )


# --- Projects ----------------------------------------------------------------------------


def _hourly(project: Project) -> int:
    return fees.hourly_rate_cents(
        reward_cents=project.reward_cents, seconds=project.estimated_seconds
    )


@require_GET
@requester_required
def project_list(request: RequesterRequest) -> HttpResponse:
    show_archived = request.GET.get("show") == "all"
    qs = selectors.projects_for(request.user, include_archived=show_archived)
    page = Paginator(qs, PROJECTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [(p, _hourly(p)) for p in page]
    return render(
        request,
        "marketplace/project_list.html",
        {"page": page, "rows": rows, "show_archived": show_archived},
    )


def _kinds() -> list[dict[str, str]]:
    kinds = [
        {
            "key": k.key,
            "title": k.title,
            "description": k.description,
            "fields": ", ".join(k.fields),
        }
        for k in builtin_templates.CATALOG.values()
    ]
    kinds.append(
        {
            "key": TemplateKind.CUSTOM,
            "title": "Custom HTML",
            "description": "Write your own form with ${column} placeholders (the MTurk/Turkle format).",
            "fields": "yours",
        }
    )
    return kinds


@require_GET
@requester_required
def project_new(request: RequesterRequest) -> HttpResponse:
    return render(request, "marketplace/project_new.html", {"kinds": _kinds()})


# The planned batch size the pricing panel starts with, and the most it will price.
PLANNED_ROWS_DEFAULT = 100
PLANNED_ROWS_MAX = 10_000_000


def _whole_number(raw: Any, *, low: int, high: int) -> int | None:
    text = str(raw if raw is not None else "").strip().replace(",", "")
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None


def _pricing_with_batch(
    reward: str, estimated: Any, *, assignments: Any, rows: Any
) -> dict[str, Any]:
    """The pricing panel: per assignment, and for a planned batch of ``rows`` rows with
    ``assignments`` assignments per task (both as typed; left out while invalid)."""
    ctx = _pricing_context(reward, estimated)
    ctx["planned_rows"] = rows if rows not in (None, "") else PLANNED_ROWS_DEFAULT
    if "pricing" not in ctx:
        return ctx
    n_rows = _whole_number(ctx["planned_rows"], low=1, high=PLANNED_ROWS_MAX)
    n_assignments = _whole_number(assignments, low=1, high=MAX_ASSIGNMENTS_PER_TASK)
    if n_rows is None or n_assignments is None:
        ctx["planned_error"] = (
            f"Enter the rows of a batch (1 to {PLANNED_ROWS_MAX:,}) and the assignments per "
            f"task (1 to {MAX_ASSIGNMENTS_PER_TASK}) to see what a batch costs."
        )
    else:
        ctx["planned"] = selectors.planned_batch(
            pricing=ctx["pricing"], rows=n_rows, assignments_per_task=n_assignments
        )
    return ctx


def _pricing_context(reward: str, estimated: Any) -> dict[str, Any]:
    """What the pricing panel shows for a reward (dollars, as typed) and an estimate."""
    if not str(reward or "").strip() or not str(estimated or "").strip():
        return {
            "pricing_error": "Enter the reward and the estimated time to see the fee and the hourly rate."
        }
    try:
        reward_cents = parse_dollars(str(reward or ""), what="The reward")
    except ApplicationError as exc:
        return {"pricing_error": exc.message}
    try:
        seconds = int(str(estimated).strip())
        if seconds < 1:
            raise ValueError
    except (TypeError, ValueError):
        return {
            "pricing_error": "Enter the estimated time in whole seconds to see the hourly rate."
        }
    if seconds > limits.MAX_ESTIMATED_SECONDS:
        return {
            "pricing_error": f"The estimated time can be at most "
            f"{limits.MAX_ESTIMATED_SECONDS:,} seconds (24 hours)."
        }
    return {
        "pricing": selectors.project_pricing(reward_cents=reward_cents, estimated_seconds=seconds),
        "estimated_seconds": seconds,
    }


def _placeholders_context(form: TemplateForm | ProjectForm) -> dict[str, Any]:
    """The columns the template needs, or why it cannot be read yet. ``form`` is bound
    and validated (errors of the template fields are reported here)."""
    template_fields = set(form.fields) & set(TEMPLATE_FIELD_NAMES)
    errors = [e for name in template_fields for e in form.errors.get(name, [])]
    if errors:
        return {"placeholder_error": errors[0]}
    warnings: list[str] = []
    try:
        values = form.template_values()
        if values["template_kind"] == TemplateKind.CUSTOM:
            names = templating.check_template(values["template_html"])
            warnings = templating.template_warnings(values["template_html"])
        else:
            names = templating.placeholders(
                builtin_templates.get(values["template_kind"], values["template_config"])
            )
    except ApplicationError as exc:
        return {"placeholder_error": exc.message}
    return {"placeholders": names, "template_warnings": warnings}


def _warn_about_template(request: RequesterRequest, project: Project) -> None:
    """Saved, but likely not working as meant: say so next to the success message."""
    if project.template_kind != TemplateKind.CUSTOM:
        return
    for warning in templating.template_warnings(project.template_html):
        messages.warning(request, f"Check the template: {warning}")


def _editor_context(form: ProjectForm, *, kind: str, project: Project | None) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "form": form,
        "kind": kind,
        "kind_title": TemplateKind(kind).label,
        "kind_info": builtin_templates.CATALOG.get(kind),
        "project": project,
        "sandbox": IFRAME_SANDBOX,
    }
    if form.is_bound:
        ctx.update(
            _pricing_with_batch(
                form.data.get("reward", ""),
                form.data.get("estimated_seconds", ""),
                assignments=form.data.get("assignments_per_task", ""),
                rows=form.data.get("planned_rows", ""),
            )
        )
        ctx.update(_placeholders_context(form))
    else:
        ctx.update(
            _pricing_with_batch(
                form.initial.get("reward", ""),
                form.initial.get("estimated_seconds", ""),
                assignments=form["assignments_per_task"].value(),
                rows="",
            )
        )
        if project is not None:
            ctx["placeholders"] = templating.placeholders(project.template_html)
        elif kind == TemplateKind.CUSTOM:
            ctx["placeholders"] = templating.placeholders(form.initial.get("template_html", ""))
        else:
            ctx["placeholders"] = list(builtin_templates.CATALOG[kind].fields)
    if project is not None:
        ctx["frame_src"] = reverse("requester:preview_frame", args=[project.pk])
    else:
        ctx["frame_src"] = (
            reverse("requester:preview_draft") + "?" + urlencode({"template_kind": kind})
        )
    ctx["template_fields"] = [form[name] for name in TEMPLATE_FIELD_NAMES if name in form.fields]
    return ctx


@require_http_methods(["GET", "POST"])
@requester_required
def project_create(request: RequesterRequest, kind: str) -> HttpResponse:
    if kind not in TemplateKind.values:
        raise Http404("No such template type.")
    form = ProjectForm(_post(request), kind=kind)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                project = services.project_create(owner=request.user, **form.service_values())
            except ApplicationError as exc:
                form.add_service_error(exc)
                status = exc.status if exc.status >= 400 else 400
            else:
                messages.success(
                    request,
                    f"Project “{project.title}” created. Try the preview, then upload a batch.",
                )
                _warn_about_template(request, project)
                return redirect("requester:project_detail", project.pk)
        else:
            status = 400
    return render(
        request,
        "marketplace/project_form.html",
        _editor_context(form, kind=kind, project=None),
        status=status,
    )


@require_http_methods(["GET", "POST"])
@requester_required
def project_edit(request: RequesterRequest, project_id: int) -> HttpResponse:
    project = selectors.project_for(request.user, project_id)
    form = ProjectForm(_post(request), kind=project.template_kind, project=project)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.changed_values()
            if not data:
                messages.info(request, "Nothing was changed.")
                return redirect("requester:project_detail", project.pk)
            try:
                project = services.project_update(project=project, user=request.user, data=data)
            except ApplicationError as exc:
                form.add_service_error(exc)
                status = exc.status if exc.status >= 400 else 400
            else:
                messages.success(
                    request,
                    "Project saved. Drafts will be quoted with the new terms; "
                    "published batches keep theirs.",
                )
                _warn_about_template(request, project)
                return redirect("requester:project_detail", project.pk)
        else:
            status = 400
    return render(
        request,
        "marketplace/project_form.html",
        _editor_context(form, kind=project.template_kind, project=project),
        status=status,
    )


@require_GET
@requester_required
def project_detail(request: RequesterRequest, project_id: int) -> HttpResponse:
    project = selectors.project_for(request.user, project_id)
    batches = selectors.requester_batches(request.user, project_id=project.pk, limit=20)
    placeholders = templating.placeholders(project.template_html)
    try:
        sample = selectors.template_sample_row(
            template_kind=project.template_kind,
            template_html=project.template_html,
            template_config=project.template_config,
        )
    except ApplicationError:
        sample = {}
    sample_fields = [
        {
            "name": name,
            "value": sample.get(name, "") if len(str(sample.get(name, ""))) <= 300 else "",
            "long": len(str(sample.get(name, ""))) > 300,
        }
        for name in placeholders
    ]
    return render(
        request,
        "marketplace/project_detail.html",
        {
            "project": project,
            "batches": batches,
            "placeholders": placeholders,
            "sample_fields": sample_fields,
            "pricing": selectors.project_pricing(
                reward_cents=project.reward_cents, estimated_seconds=project.estimated_seconds
            ),
            "measured": task_terms(project=project),
            "previewable_batches": [s.batch for s in batches if s.batch.task_count],
        },
    )


def _project_action(
    request: RequesterRequest, project_id: int, action: Callable[[Project], Any], success: str
) -> HttpResponse:
    project = selectors.project_for(request.user, project_id)
    try:
        result = action(project)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("requester:project_detail", project.pk)
    messages.success(request, success)
    target = result if isinstance(result, Project) else project
    return redirect("requester:project_detail", target.pk)


@require_POST
@requester_required
def project_clone(request: RequesterRequest, project_id: int) -> HttpResponse:
    return _project_action(
        request,
        project_id,
        lambda p: services.project_clone(project=p, user=request.user),
        "Project cloned: this is the copy. Edit it as you like; the original is unchanged.",
    )


@require_POST
@requester_required
def project_archive(request: RequesterRequest, project_id: int) -> HttpResponse:
    return _project_action(
        request,
        project_id,
        lambda p: services.project_archive(project=p, user=request.user),
        "Project archived: no new batches can be uploaded or published. Published batches run on.",
    )


@require_POST
@requester_required
def project_restore(request: RequesterRequest, project_id: int) -> HttpResponse:
    return _project_action(
        request,
        project_id,
        lambda p: services.project_restore(project=p, user=request.user),
        "Project restored.",
    )


@require_GET
@requester_required
def pricing_partial(request: RequesterRequest) -> HttpResponse:
    ctx = _pricing_with_batch(
        request.GET.get("reward", ""),
        request.GET.get("estimated_seconds", ""),
        assignments=request.GET.get("assignments_per_task", ""),
        rows=request.GET.get("planned_rows", ""),
    )
    return render(request, "marketplace/partials/pricing.html", ctx)


@require_POST
@requester_required
def placeholders_partial(request: RequesterRequest) -> HttpResponse:
    kind = request.POST.get("template_kind", "")
    if kind not in TemplateKind.values:
        return render(
            request,
            "marketplace/partials/placeholders.html",
            {"placeholder_error": "Unknown template type."},
            status=400,
        )
    form = TemplateForm(request.POST, kind=kind)
    form.is_valid()
    # The editor's panel sits under the page's h1 (fieldsets have legends, not headings).
    ctx = {**_placeholders_context(form), "heading_level": 2}
    return render(request, "marketplace/partials/placeholders.html", ctx)


# --- Batches -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requester_required
def batch_upload(request: RequesterRequest, project_id: int) -> HttpResponse:
    project = selectors.project_for(request.user, project_id)
    form = BatchUploadForm(_post(request), request.FILES if request.method == "POST" else None)
    status = 200
    upload_errors = None
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                batch = services.batch_upload(
                    project=project,
                    user=request.user,
                    fileobj=upload,
                    filename=upload.name,
                    name=form.cleaned_data["name"],
                )
            except ApplicationError as exc:
                status = exc.status if exc.status >= 400 else 400
                if "errors" in exc.extra:
                    upload_errors = exc.extra
                field = "file" if exc.code == "invalid_upload" else exc.field
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                if batch.status == BatchStatus.IMPORTING:
                    messages.info(
                        request,
                        "The file is being imported in the background; this page shows "
                        "its progress.",
                    )
                else:
                    messages.success(
                        request,
                        f"Imported {batch.task_count:,} task{'' if batch.task_count == 1 else 's'}. Check the cost and publish "
                        "when you are ready.",
                    )
                return redirect("requester:batch_detail", batch.pk)
        else:
            status = 400
    return render(
        request,
        "marketplace/batch_upload.html",
        {
            "project": project,
            "form": form,
            "placeholders": templating.placeholders(project.template_html),
            "upload_errors": upload_errors,
            "max_bytes": _max_upload_bytes(),
        },
        status=status,
    )


def _max_upload_bytes() -> int:
    return int(settings.FAIRTASK_UPLOAD_MAX_BYTES)


@require_GET
@requester_required
def batch_list(request: RequesterRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    statuses = [status] if status in BatchStatus.values else None
    summaries: Any = BatchSummaries(request.user, statuses=statuses)  # a sequence, not a QuerySet
    page = Paginator(summaries, BATCHES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "marketplace/batch_list.html",
        {
            "page": page,
            "status": status if statuses else "",
            "statuses": BatchStatus.choices,
            "live_statuses": BATCH_LIVE_STATUSES,
        },
    )


def _batch_context(request: RequesterRequest, batch_id: int) -> dict[str, Any]:
    batch = selectors.batch_for(request.user, batch_id)
    ctx: dict[str, Any] = {
        "batch": batch,
        "progress": selectors.batch_progress(batch),
        "events": list(selectors.batch_events(batch)),
        "live": batch.status in BATCH_LIVE_STATUSES,
        "poll_seconds": PROGRESS_POLL_SECONDS,
        "import_poll_seconds": IMPORT_POLL_SECONDS,
        "import_errors_more": max(0, batch.import_error_count - len(batch.import_errors or [])),
    }
    if batch.status in (
        BatchStatus.DRAFT,
        BatchStatus.PUBLISHED,
        BatchStatus.PAUSED,
        BatchStatus.CANCELLED,
        BatchStatus.EXPIRED,
        BatchStatus.COMPLETED,
    ):
        ctx["quote"] = selectors.batch_quote(batch)
    return ctx


@require_GET
@requester_required
def batch_detail(request: RequesterRequest, batch_id: int) -> HttpResponse:
    return render(request, "marketplace/batch_detail.html", _batch_context(request, batch_id))


@never_cache
@require_GET
@requester_required
def batch_progress(request: RequesterRequest, batch_id: int) -> HttpResponse:
    """The polled partial: import progress while importing, then work progress. When an
    import finishes the page reloads (``HX-Refresh``) to show the quote or the errors."""
    batch = selectors.batch_for(request.user, batch_id)
    if request.GET.get("importing") and batch.status != BatchStatus.IMPORTING and request.htmx:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(
        request,
        "marketplace/partials/batch_progress.html",
        {
            "batch": batch,
            "progress": selectors.batch_progress(batch),
            "live": batch.status in BATCH_LIVE_STATUSES,
            "poll_seconds": PROGRESS_POLL_SECONDS,
            "import_poll_seconds": IMPORT_POLL_SECONDS,
        },
    )


@require_http_methods(["GET", "POST"])
@requester_required
def batch_publish(request: RequesterRequest, batch_id: int) -> HttpResponse:
    batch = selectors.batch_for(request.user, batch_id)
    if request.method == "POST":
        form = PublishForm(request.POST)
        expected = form.cleaned_data["expected_total_cents"] if form.is_valid() else None
        try:
            published = services.batch_publish(
                batch=batch, user=request.user, expected_total_cents=expected
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("requester:batch_detail", batch.pk)
        messages.success(
            request,
            f"Published: {format_cents(published.total_cost_cents or 0)} is held in the batch's escrow "
            "and workers can take its tasks now.",
        )
        return redirect("requester:batch_detail", batch.pk)
    if batch.status != BatchStatus.DRAFT:
        messages.info(request, "Only a draft batch can be published.")
        return redirect("requester:batch_detail", batch.pk)
    quote = selectors.batch_quote(batch)
    return render(
        request,
        "marketplace/batch_publish.html",
        {
            "batch": batch,
            "quote": quote,
            "form": PublishForm(initial={"expected_total_cents": quote.total_cost_cents}),
            "balance_after": quote.balance_cents - quote.total_cost_cents,
        },
    )


def _batch_action(
    request: RequesterRequest, batch_id: int, action: Callable[..., Any], success: str
) -> HttpResponse:
    batch = selectors.batch_for(request.user, batch_id)
    try:
        action(batch=batch, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect("requester:batch_detail", batch.pk)


@require_POST
@requester_required
def batch_pause(request: RequesterRequest, batch_id: int) -> HttpResponse:
    return _batch_action(
        request,
        batch_id,
        services.batch_pause,
        "Paused: workers cannot take more tasks; work already accepted carries on.",
    )


@require_POST
@requester_required
def batch_resume(request: RequesterRequest, batch_id: int) -> HttpResponse:
    return _batch_action(
        request, batch_id, services.batch_resume, "Resumed: workers can take its tasks again."
    )


@require_http_methods(["GET", "POST"])
@requester_required
def batch_cancel(request: RequesterRequest, batch_id: int) -> HttpResponse:
    batch = selectors.batch_for(request.user, batch_id)
    form = CancelForm(_post(request))
    if request.method == "POST" and form.is_valid():
        try:
            cancelled = services.batch_cancel(
                batch=batch, user=request.user, reason=form.cleaned_data["reason"]
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            released = cancelled.escrow_released_cents
            if cancelled.published_at is not None:
                messages.success(
                    request,
                    f"Cancelled: {format_cents(released)} of unused escrow returned to your "
                    "balance; work in progress finishes under the old terms.",
                )
            else:
                messages.success(request, "Cancelled.")
        return redirect("requester:batch_detail", batch.pk)
    progress = selectors.batch_progress(batch)
    return render(
        request,
        "marketplace/batch_cancel.html",
        {"batch": batch, "form": form, "progress": progress},
    )


# --- API keys ----------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
@requester_required
def api_keys(request: RequesterRequest) -> HttpResponse:
    form = ApiKeyForm(_post(request))
    new_key = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                key, new_key = api_key_services.api_key_create(
                    user=request.user, name=form.cleaned_data["name"]
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                status = exc.status
            else:
                status = 201
                form = ApiKeyForm()
        else:
            status = 400
    return render(
        request,
        "marketplace/api_keys.html",
        {
            "form": form,
            "new_key": new_key,
            "keys": list(selectors.api_keys_for(request.user)),
            "docs_url": reverse("api:docs"),
        },
        status=status,
    )


@require_POST
@requester_required
def api_key_revoke(request: RequesterRequest, key_id: int) -> HttpResponse:
    try:
        key = api_key_services.api_key_revoke(key_id=key_id, user=request.user)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Key “{key.name}” revoked; requests using it are refused from now on."
        )
    return redirect("requester:api_keys")
