from __future__ import annotations

import csv
from urllib.parse import urlsplit

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet, Sum
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from core.http import AuthenticatedHttpRequest
from core.money import cents_to_decimal_text, format_cents, parse_dollars
from payouts import audit, fees, funding, ledger, stripe_gateway, withdrawals
from payouts.forms import AddFundsForm, WithdrawForm
from payouts.models import (
    Deposit,
    LedgerAccount,
    LedgerEntry,
    PayoutAccount,
    StripeAlert,
    Withdrawal,
)


def _requester_or_403(request: AuthenticatedHttpRequest) -> HttpResponse | None:
    if not request.user.is_requester:
        return render(request, "marketplace/role_missing.html", {"role": "requester"}, status=403)
    return None


# Where to send the requester once a deposit is credited: {deposit id: path}.
NEXT_SESSION_KEY = "payouts.deposit_next"


def safe_next_path(value: object) -> str | None:
    """``value`` if it is a path of this site to return to, else None. Only our own
    paths: it starts with one "/", has no scheme, host, backslash, whitespace or control
    character, and resolves to one of our URLs (so no open redirect, however encoded)."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 500:
        return None
    if value.startswith("//") or "\\" in value or any(c.isspace() or ord(c) < 32 for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    try:
        resolve(parts.path)
    except Resolver404:
        return None
    return value


def _suggested_amount(raw: str, minimum_cents: int) -> str:
    """The amount a link asked to prefill (a batch's shortfall), at least the minimum
    top-up, as plain dollars; "" when there is none or it does not parse."""
    if not raw:
        return ""
    try:
        cents = parse_dollars(raw, what="The amount")
    except ApplicationError:
        return ""
    return cents_to_decimal_text(max(cents, minimum_cents))


@login_required
def add_funds(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Add funds. ``?amount=`` prefills the form (a batch's shortfall) and ``?next=``, a
    path of ours, is where the requester returns once the payment is credited."""
    if denied := _requester_or_403(request):
        return denied
    terms = fees.platform_settings()
    source = request.POST if request.method == "POST" else request.GET
    next_path = safe_next_path(source.get("next", ""))
    suggested = _suggested_amount(request.GET.get("amount", ""), terms.topup_minimum_cents)
    form = AddFundsForm(request.POST or None, initial={"amount": suggested} if suggested else None)
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
            if next_path:
                pending = dict(request.session.get(NEXT_SESSION_KEY, {}))
                pending[str(deposit.pk)] = next_path
                request.session[NEXT_SESSION_KEY] = pending
            return redirect(deposit.checkout_url)
    return render(
        request,
        "payouts/add_funds.html",
        {
            "form": form,
            "balance_cents": ledger.requester_balance_cents(request.user),
            "terms": terms,
            "next_path": next_path,
            "suggested": suggested,
            "recent": Deposit.objects.filter(user=request.user).order_by("-created_at")[:5],
        },
    )


@login_required
def funds_return(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Where Checkout sends the requester back. Shows the deposit's real state: until
    the webhook has credited it, "processing" (polled by htmx), never a guessed balance.
    Coming back through "cancel" only shows the state and offers a cancel button: a
    GET never changes anything (a link or an <img> could trigger it)."""
    if denied := _requester_or_403(request):
        return denied
    cancelled = request.GET.get("cancelled", "")
    if cancelled:
        deposit = get_object_or_404(
            Deposit, pk=int(cancelled) if cancelled.isdigit() else 0, user=request.user
        )
        return render(
            request,
            "payouts/funds_return.html",
            {
                "deposit": deposit,
                "balance_cents": ledger.requester_balance_cents(request.user),
                "came_back_cancelled": True,
            },
        )
    session_id = request.GET.get("session_id", "")
    deposit = get_object_or_404(Deposit, checkout_session_id=session_id, user=request.user)
    next_path = safe_next_path(request.session.get(NEXT_SESSION_KEY, {}).get(str(deposit.pk)))
    if next_path and deposit.status == Deposit.Status.COMPLETED:
        # Back to where the requester was (the batch that needed the money).
        pending = dict(request.session.get(NEXT_SESSION_KEY, {}))
        pending.pop(str(deposit.pk), None)
        request.session[NEXT_SESSION_KEY] = pending
        messages.success(
            request,
            f"{format_cents(deposit.credited_cents or 0)} added to your balance; "
            f"balance now {format_cents(ledger.requester_balance_cents(request.user))}.",
        )
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = next_path
            return response
        return redirect(next_path)
    template = (
        "payouts/partials/deposit_status.html" if request.htmx else "payouts/funds_return.html"
    )
    return render(
        request,
        template,
        {"deposit": deposit, "balance_cents": ledger.requester_balance_cents(request.user)},
    )


@login_required
@require_POST
def deposit_cancel(request: AuthenticatedHttpRequest, deposit_id: int) -> HttpResponse:
    """Cancel a pending top-up (POST with CSRF): the Checkout Session is expired at Stripe
    first, so it can no longer be paid."""
    if denied := _requester_or_403(request):
        return denied
    deposit = funding.deposit_cancel(user=request.user, deposit_id=deposit_id)
    if deposit is None:
        return HttpResponse(status=404)
    if deposit.status == Deposit.Status.CANCELLED:
        messages.info(request, "Top-up cancelled; nothing was charged.")
    elif deposit.status == Deposit.Status.COMPLETED:
        messages.info(request, "This top-up was already paid; it has been added to your balance.")
    else:
        messages.warning(
            request,
            f"This top-up could not be cancelled ({deposit.get_status_display().lower()}).",
        )
    return redirect("payouts:add_funds")


@login_required
def statement(request: AuthenticatedHttpRequest) -> HttpResponse:
    account = _own_account(request)
    if account is None:
        return render(
            request, "marketplace/role_missing.html", {"role": "requester or worker"}, status=403
        )
    page = ledger.statement_page(account, before_id=_before_id(request))
    return render(request, "payouts/statement.html", {"account": account, "page": page})


@login_required
def statement_csv(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    account = _own_account(request)
    if account is None:
        return HttpResponse(status=403)
    return _csv_response(account, filename=f"fairtask-statement-{account.kind}.csv")


def _own_account(request: AuthenticatedHttpRequest) -> LedgerAccount | None:
    """The user's account for their current role, or an unsaved empty one if it does not
    exist yet (a read never creates it)."""
    user = request.user
    if user.current_role == "worker" and user.is_worker:
        kind = LedgerAccount.Kind.WORKER_AVAILABLE
    elif user.is_requester:
        kind = LedgerAccount.Kind.REQUESTER_AVAILABLE
    else:
        return None
    return ledger.find_account(kind=kind, owner=user) or LedgerAccount(kind=kind, owner=user)


def _before_id(request: HttpRequest) -> int | None:
    """The statement page key (``?before=<entry id>``); a bad value is the first page."""
    raw = request.GET.get("before", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**63 else None


def _entries(account: LedgerAccount) -> QuerySet[LedgerEntry]:
    # An account not created yet (unsaved) has no entries.
    return ledger.statement(account) if account.pk is not None else LedgerEntry.objects.none()


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(account: LedgerAccount, *, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["date", "transaction", "kind", "description", "amount", "balance"])
        for entry in _entries(account).iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    entry.created_at.isoformat(),
                    entry.transaction.idempotency_key,
                    entry.transaction.kind,
                    entry.transaction.memo,
                    cents_to_decimal_text(entry.amount_cents),
                    cents_to_decimal_text(entry.balance_after_cents),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _webhook(request: HttpRequest, *, connect: bool) -> HttpResponse:
    signature = request.headers.get("Stripe-Signature", "")
    try:
        event = stripe_gateway.construct_event(request.body, signature, connect=connect)
    except (ValueError, stripe.SignatureVerificationError):
        return HttpResponseBadRequest("invalid payload or signature")
    # A mismatch with Stripe's own records becomes a staff alert and still answers 200;
    # only a failure to ask Stripe (or a crash) answers 500, so that Stripe retries.
    funding.process_event(event)
    return HttpResponse(status=200)


@csrf_exempt  # Stripe cannot send our CSRF token; the signature on the raw body replaces it.
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """The account endpoint: the platform's own events (Checkout)."""
    return _webhook(request, connect=False)


@csrf_exempt  # as above
@require_POST
def stripe_connect_webhook(request: HttpRequest) -> HttpResponse:
    """The Connect endpoint: events of connected accounts (``account.updated``,
    ``payout.*``), signed with the Connect endpoint's own secret."""
    return _webhook(request, connect=True)


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
    alerts = StripeAlert.objects.select_related("deposit")[:20]
    return render(
        request,
        "payouts/staff_money.html",
        {
            "totals": totals,
            "grand_total": sum(t["balance"] or 0 for t in totals),
            "page": page,
            "kind": kind,
            "pending": pending,
            "alerts": alerts,
            "alert_count": StripeAlert.objects.count(),
            "last_audit": audit.last_run(),
            "audit_interval_minutes": settings.LEDGER_AUDIT_INTERVAL // 60,
        },
    )


@staff_member_required
def staff_account(request: HttpRequest, account_id: int) -> HttpResponseBase:
    account = get_object_or_404(LedgerAccount.objects.select_related("owner"), pk=account_id)
    if request.GET.get("format") == "csv":
        return _csv_response(account, filename=f"fairtask-account-{account.pk}.csv")
    page = ledger.statement_page(account, before_id=_before_id(request))
    return render(
        request, "payouts/statement.html", {"account": account, "page": page, "staff_view": True}
    )


@staff_member_required
@require_POST
def staff_sync_events(request: HttpRequest) -> HttpResponse:
    applied = funding.sync_events()
    messages.success(request, f"Fetched Stripe events: {applied} new applied.")
    return redirect("payouts:money_overview")


# --- Worker withdrawals ---------------------------------------------------------------------


def _worker_or_403(request: AuthenticatedHttpRequest) -> HttpResponse | None:
    if not request.user.is_worker:
        return render(request, "marketplace/role_missing.html", {"role": "worker"}, status=403)
    return None


@login_required
def withdraw(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The worker's payout page: connect an account, withdraw, past withdrawals."""
    if denied := _worker_or_403(request):
        return denied
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            w = withdrawals.withdrawal_request(
                worker=request.user, amount_cents=form.cleaned_data["amount"]
            )
        except ApplicationError as exc:
            form.add_error("amount", exc.message)
        else:
            messages.success(request, f"Withdrawal of {format_cents(w.amount_cents)} requested.")
            return redirect("payouts:withdraw")
    past = withdrawals.withdrawals_for(request.user)
    return render(
        request,
        "payouts/withdraw.html",
        {
            "form": form,
            "balance_cents": ledger.worker_balance_cents(request.user),
            "minimum_cents": fees.platform_settings().withdrawal_minimum_cents,
            "payout_account": PayoutAccount.objects.filter(worker=request.user).first(),
            "withdrawals": past,
            # One at a time: while one is on its way the page says so instead of
            # offering a form that could only answer "already have a withdrawal".
            "in_flight": next(
                (
                    w
                    for w in past
                    if w.status in (Withdrawal.Status.REQUESTED, Withdrawal.Status.PROCESSING)
                ),
                None,
            ),
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def payout_connect(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Start (or resume) Stripe Connect onboarding: redirect to Stripe's account link."""
    if denied := _worker_or_403(request):
        return denied
    back = request.build_absolute_uri(reverse("payouts:withdraw"))
    try:
        url = withdrawals.payout_account_link(
            worker=request.user, return_url=back, refresh_url=back
        )
    except (ApplicationError, stripe.StripeError):
        messages.error(request, "Stripe could not be reached; please try again in a minute.")
        return redirect("payouts:withdraw")
    return redirect(url)


@login_required
@require_POST
def payout_refresh(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Ask Stripe whether onboarding is finished (also arrives as account.updated)."""
    if denied := _worker_or_403(request):
        return denied
    try:
        withdrawals.payout_account_refresh(worker=request.user)
    except stripe.StripeError:
        messages.error(request, "Stripe could not be reached; please try again in a minute.")
    return redirect("payouts:withdraw")
