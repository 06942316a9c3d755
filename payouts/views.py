from __future__ import annotations

import csv

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from core.http import AuthenticatedHttpRequest
from core.money import cents_to_decimal_text
from payouts import audit, fees, funding, ledger, stripe_gateway
from payouts.forms import AddFundsForm
from payouts.models import Deposit, LedgerAccount


def _requester_or_403(request: AuthenticatedHttpRequest) -> HttpResponse | None:
    if not request.user.is_requester:
        return render(request, "marketplace/role_missing.html", {"role": "requester"}, status=403)
    return None


@login_required
def add_funds(request: AuthenticatedHttpRequest) -> HttpResponse:
    if denied := _requester_or_403(request):
        return denied
    terms = fees.platform_settings()
    form = AddFundsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            deposit = funding.deposit_start(
                user=request.user,
                amount_cents=form.cleaned_data["amount"],
                site_url=request.build_absolute_uri("/"),
            )
        except ApplicationError as exc:
            form.add_error("amount", exc.message)
        else:
            return redirect(deposit.checkout_url)
    account = ledger.requester_account(request.user)
    return render(
        request,
        "payouts/add_funds.html",
        {
            "form": form,
            "balance_cents": account.balance_cents,
            "terms": terms,
            "recent": Deposit.objects.filter(user=request.user).order_by("-created_at")[:5],
        },
    )


@login_required
def funds_return(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Where Checkout sends the requester back. Shows the deposit's real state: until
    the webhook has credited it, "processing" (polled by htmx), never a guessed balance."""
    if denied := _requester_or_403(request):
        return denied
    cancelled = request.GET.get("cancelled", "")
    if cancelled.isdigit():
        funding.deposit_cancel(user=request.user, deposit_id=int(cancelled))
        messages.info(request, "Payment cancelled; nothing was charged.")
        return redirect("payouts:add_funds")
    session_id = request.GET.get("session_id", "")
    deposit = get_object_or_404(Deposit, checkout_session_id=session_id, user=request.user)
    account = ledger.requester_account(request.user)
    template = (
        "payouts/partials/deposit_status.html" if request.htmx else "payouts/funds_return.html"
    )
    return render(request, template, {"deposit": deposit, "balance_cents": account.balance_cents})


@login_required
def statement(request: AuthenticatedHttpRequest) -> HttpResponse:
    account = _own_account(request)
    if account is None:
        return render(
            request, "marketplace/role_missing.html", {"role": "requester or worker"}, status=403
        )
    page = Paginator(ledger.statement(account), 50).get_page(request.GET.get("page"))
    return render(request, "payouts/statement.html", {"account": account, "page": page})


@login_required
def statement_csv(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    account = _own_account(request)
    if account is None:
        return HttpResponse(status=403)
    return _csv_response(account, filename=f"fairtask-statement-{account.kind}.csv")


def _own_account(request: AuthenticatedHttpRequest) -> LedgerAccount | None:
    user = request.user
    if user.current_role == "worker" and user.is_worker:
        return ledger.worker_account(user)
    if user.is_requester:
        return ledger.requester_account(user)
    return None


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(account: LedgerAccount, *, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["date", "transaction", "kind", "description", "amount", "balance"])
        for entry in ledger.statement(account).iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    entry.created_at.isoformat(),
                    entry.transaction.idempotency_key,
                    entry.transaction.kind,
                    entry.transaction.memo,
                    cents_to_decimal_text(entry.amount_cents),
                    cents_to_decimal_text(entry.running_balance_cents),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@csrf_exempt  # Stripe cannot send our CSRF token; the signature on the raw body replaces it.
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    signature = request.headers.get("Stripe-Signature", "")
    try:
        event = stripe_gateway.construct_event(request.body, signature)
    except (ValueError, stripe.SignatureVerificationError):
        return HttpResponseBadRequest("invalid payload or signature")
    funding.process_event(event)
    return HttpResponse(status=200)


@staff_member_required
def money_overview(request: HttpRequest) -> HttpResponse:
    totals = (
        LedgerAccount.objects.values("kind")
        .annotate(accounts=Count("id"), balance=Sum("balance_cents"))
        .order_by("kind")
    )
    kind = request.GET.get("kind", "")
    accounts = LedgerAccount.objects.select_related("owner").order_by("kind", "-balance_cents")
    if kind:
        accounts = accounts.filter(kind=kind)
    page = Paginator(accounts, 50).get_page(request.GET.get("page"))
    pending = Deposit.objects.filter(status=Deposit.Status.PENDING).aggregate(
        n=Count("id"), total=Sum("amount_cents")
    )
    return render(
        request,
        "payouts/staff_money.html",
        {
            "totals": totals,
            "grand_total": sum(t["balance"] or 0 for t in totals),
            "page": page,
            "kind": kind,
            "pending": pending,
            "last_audit": audit.last_run(),
            "audit_interval_minutes": settings.LEDGER_AUDIT_INTERVAL // 60,
        },
    )


@staff_member_required
def staff_account(request: HttpRequest, account_id: int) -> HttpResponseBase:
    account = get_object_or_404(LedgerAccount.objects.select_related("owner"), pk=account_id)
    if request.GET.get("format") == "csv":
        return _csv_response(account, filename=f"fairtask-account-{account.pk}.csv")
    page = Paginator(ledger.statement(account), 50).get_page(request.GET.get("page"))
    return render(
        request, "payouts/statement.html", {"account": account, "page": page, "staff_view": True}
    )


@staff_member_required
@require_POST
def staff_sync_events(request: HttpRequest) -> HttpResponse:
    applied = funding.sync_events()
    messages.success(request, f"Fetched Stripe events: {applied} new applied.")
    return redirect("payouts:money_overview")
