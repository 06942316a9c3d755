"""The app's URLs plus the benchmark's floor: a bare view pair on the same tables that
does only the ``SKIP LOCKED`` claim and the submit (no session, auth, CSRF, templates,
events or counters), to measure what the real endpoints cost on top. Served only by
``bench/claim.py`` (``bench.floor_settings``)."""

from __future__ import annotations

import json
import secrets

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from tasks.services import _TAKE_NEXT_SQL

_INSERT = """
INSERT INTO tasks_assignment (task_id, batch_id, worker_id, status, accepted_at, deadline,
                              answers, reward_cents, fee_cents, submit_nonce)
VALUES (%s, %s, %s, 'accepted', now(), now() + interval '1 hour', '{}', 10, 2, %s)
RETURNING id
"""
_SUBMIT = """
UPDATE tasks_assignment SET status = 'submitted', submitted_at = now(),
    auto_approve_at = now() + interval '3 days', answers = %s
WHERE id = %s AND status = 'accepted'
"""


@csrf_exempt
def floor_claim(request: HttpRequest, batch_id: int, worker_id: int) -> HttpResponse:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_TAKE_NEXT_SQL, {"batch": batch_id, "worker": worker_id})
        row = cursor.fetchone()
        if row is None:
            return JsonResponse({"error": {"code": "no_task_left"}}, status=409)
        cursor.execute(_INSERT, [row[0], batch_id, worker_id, secrets.token_hex(16)])
        return JsonResponse({"id": cursor.fetchone()[0]}, status=201)


@csrf_exempt
def floor_submit(request: HttpRequest, assignment_id: int) -> HttpResponse:
    answers = json.loads(request.body)["answers"]
    with connection.cursor() as cursor:
        cursor.execute(_SUBMIT, [json.dumps(answers), assignment_id])
        if cursor.rowcount != 1:
            return JsonResponse({"error": {"code": "not_open"}}, status=409)
    return JsonResponse({"id": assignment_id, "status": "submitted"})


urlpatterns = [
    path("bench-floor/claim/<int:batch_id>/<int:worker_id>/", floor_claim),
    path("bench-floor/submit/<int:assignment_id>/", floor_submit),
    path("", include("marketplace.urls")),
]
