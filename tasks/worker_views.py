"""The worker's earnings page: pending (approved, not yet settled) and available money,
the latest decisions with the rejection reasons, and bonuses."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.http import AuthenticatedHttpRequest
from tasks import selectors
from tasks.models import Bonus, RejectReason


@require_GET
@login_required
def earnings(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_worker:
        return render(request, "marketplace/role_missing.html", {"role": "worker"}, status=403)
    return render(
        request,
        "tasks/earnings.html",
        {
            "earnings": selectors.worker_earnings(user),
            "decisions": selectors.worker_decisions(user),
            "bonuses": Bonus.objects.filter(worker_id=user.pk)
            .select_related("assignment__batch__project")
            .order_by("-created_at")[:25],
            "reasons": dict(RejectReason.choices),
        },
    )
