"""The requester's review pages and result downloads, under ``/requester/batches/<id>/``
(namespace ``review``; mounted by the project URLconf because ``marketplace`` never
imports ``tasks``). Every view is behind ``requester_required`` and fetches the batch
through ``marketplace.selectors.batch_for`` (404 for another requester's); the review
services check every assignment id against the requester again."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError
from core.money import format_cents, parse_dollars
from marketplace import selectors
from marketplace.models import Batch
from marketplace.requester_views import RequesterRequest, requester_required
from tasks import exports, review
from tasks.models import RejectReason
from tasks.review_selectors import (
    ReviewFilters,
    block_of,
    blocks_of,
    pseudonym,
    review_ids,
    review_rows,
)

ROWS_PER_PAGE = 50
BLOCKS_PER_PAGE = 50


@require_GET
@requester_required
def review_table(request: RequesterRequest, batch_id: int) -> HttpResponse:
    batch = selectors.batch_for(request.user, batch_id)
    filters = ReviewFilters.parse(request.GET)
    page = Paginator(review_rows(batch, filters), ROWS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    for row in rows:
        row.pseudonym = pseudonym(requester_id=batch.owner_id, worker_id=row.worker_id)  # type: ignore[attr-defined]
        row.answer_items = sorted((row.answers or {}).items())  # type: ignore[attr-defined]
        taken = row.time_taken  # type: ignore[attr-defined]
        row.seconds_taken = taken.total_seconds() if taken is not None else None  # type: ignore[attr-defined]
    return render(
        request,
        "tasks/review.html",
        {
            "batch": batch,
            "page": page,
            "rows": rows,
            "filters": filters,
            "filter_query": urlencode(filters.query()),
            "reasons": RejectReason.choices,
            "exports": [*exports.EXPORTS, *exports.CARDS],
        },
    )


def _back(batch: Batch, request: RequesterRequest) -> HttpResponse:
    query = request.POST.get("filter_query", "")
    url = reverse("review:review_table", args=[batch.pk])
    return redirect(f"{url}?{query}" if query else url)


@require_POST
@requester_required
def review_decide(request: RequesterRequest, batch_id: int) -> HttpResponse:
    """Approve or reject the ticked rows, or every row matching the filters."""
    batch = selectors.batch_for(request.user, batch_id)
    action = request.POST.get("action")
    if request.POST.get("scope") == "matching":
        ids: list[object] = list(
            review_ids(batch, ReviewFilters.parse(request.POST), limit=review.MAX_BULK + 1)
        )
    else:
        ids = list(request.POST.getlist("assignment_ids"))
    try:
        if action == "approve":
            result = review.assignments_approve(requester=request.user, assignment_ids=ids)
            messages.success(
                request,
                f"Approved {len(result.ids):,}. The workers are paid as soon as settlement runs.",
            )
        elif action == "reject":
            result = review.assignments_reject(
                requester=request.user,
                assignment_ids=ids,
                reason=request.POST.get("reason", ""),
                note=request.POST.get("note", ""),
            )
            messages.success(
                request,
                f"Rejected {len(result.ids):,}. Their money stays in escrow for the dispute "
                "window, then returns to your balance.",
            )
        else:
            messages.error(request, "Choose approve or reject.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(batch, request)


@require_POST
@requester_required
def assignment_action(
    request: RequesterRequest, batch_id: int, assignment_id: int, action: str
) -> HttpResponse:
    batch = selectors.batch_for(request.user, batch_id)
    try:
        if action == "reverse":
            review.assignment_reverse_rejection(requester=request.user, assignment_id=assignment_id)
            messages.success(
                request, f"Rejection of assignment {assignment_id} reversed: the worker is paid."
            )
        elif action == "bonus":
            cents = parse_dollars(request.POST.get("amount", ""), what="The bonus", field="amount")
            bonus = review.assignment_bonus(
                requester=request.user,
                assignment_id=assignment_id,
                amount_cents=cents,
                reason=request.POST.get("reason", ""),
            )
            messages.success(
                request,
                f"Bonus of {format_cents(bonus.amount_cents)} paid "
                f"(+ {format_cents(bonus.fee_cents)} platform fee).",
            )
        elif action == "block":
            review.worker_block(
                requester=request.user,
                assignment_id=assignment_id,
                reason=request.POST.get("reason", ""),
            )
            messages.success(
                request,
                "Worker blocked: they no longer see your projects. "
                "You can unblock them under Blocked workers.",
            )
        else:
            raise Http404
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(batch, request)


@require_GET
@requester_required
def blocked_workers(request: RequesterRequest) -> HttpResponse:
    """The requester's blocked workers (pseudonym, reason, when), each with Unblock."""
    page = Paginator(blocks_of(request.user.pk), BLOCKS_PER_PAGE).get_page(request.GET.get("page"))
    blocks = list(page.object_list)
    for block in blocks:
        block.pseudonym = pseudonym(requester_id=request.user.pk, worker_id=block.worker_id)  # type: ignore[attr-defined]
    return render(request, "tasks/blocked_workers.html", {"page": page, "blocks": blocks})


@require_http_methods(["GET", "POST"])
@requester_required
def unblock_worker(request: RequesterRequest, block_id: int) -> HttpResponse:
    """GET: the confirmation (404 for another requester's block or one already lifted).
    POST: lift it; lifted already (twice, or in another tab) is a message, not a 500."""
    if request.method == "POST":
        try:
            review.block_lift(requester=request.user, block_id=block_id)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, "Worker unblocked: they see your projects again and may take your tasks."
            )
        return redirect("review:blocked_workers")
    block = block_of(request.user.pk, block_id)
    if block is None:
        raise Http404("No such block.")
    block.pseudonym = pseudonym(requester_id=request.user.pk, worker_id=block.worker_id)  # type: ignore[attr-defined]
    return render(request, "tasks/unblock_worker.html", {"wb": block})


def export_response(batch: Batch, name: str) -> HttpResponse:
    """The download ``name`` (``exports.EXPORTS`` or ``CARDS``) of the batch."""
    filename = f"batch-{batch.pk}-{name}"
    if name in exports.EXPORTS:
        content_type, producer = exports.EXPORTS[name]
        response: HttpResponse = StreamingHttpResponse(  # type: ignore[assignment]
            producer(batch), content_type=content_type
        )
    elif name == "provenance.json":
        response = HttpResponse(
            json.dumps(exports.provenance(batch), ensure_ascii=False, indent=2),
            content_type="application/json",
        )
    elif name == "provenance.md":
        response = HttpResponse(
            exports.provenance_markdown(exports.provenance(batch)),
            content_type="text/markdown; charset=utf-8",
        )
    else:
        raise Http404("No such export.")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@requester_required
def batch_export(request: RequesterRequest, batch_id: int, name: str) -> HttpResponse:
    batch = selectors.batch_for(request.user, batch_id)
    return export_response(batch, name)


__all__ = [
    "assignment_action",
    "batch_export",
    "blocked_workers",
    "review_decide",
    "review_table",
    "unblock_worker",
]
