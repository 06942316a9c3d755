"""Worker REST API under /api/v1/worker/ (namespace ``worker_api``): claim, submit,
return, list my assignments. Signed-in workers (session; unsafe methods need the CSRF
token) reach only their own assignments (``selectors.assignment_for``: 404 otherwise).

The submit endpoint is the exception: the sandboxed work frame has an opaque origin and
no session, so it authenticates with the assignment's ``submit_token`` alone (no
cookies read, no CSRF: the token is the secret).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError
from marketplace.api.authentication import SessionAuthentication
from marketplace.api.pagination import Pagination
from marketplace.api.plain import api_view, json_body
from marketplace.models import Task, User
from tasks import selectors, services
from tasks.models import Assignment, AssignmentStatus


class IsWorker(BasePermission):
    message = "Only workers can use this API."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_worker)


def _when(value: datetime | None) -> str | None:
    """A time as the rest of the API writes it (DRF's ISO 8601, UTC as ``Z``)."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def assignment_json(a: Assignment) -> dict[str, Any]:
    """An assignment as every worker endpoint answers it. ``submit_token`` is the secret
    the work frame submits with (accepted assignments only, else null). Needs
    ``a.batch.project`` loaded (the claim services and ``selectors`` do)."""
    return {
        "id": a.pk,
        "status": a.status,
        "project_id": a.batch.project_id,
        "project_title": a.batch.project.title,
        "batch_id": a.batch_id,
        "task_id": a.task_id,
        "reward_cents": a.reward_cents,
        "accepted_at": _when(a.accepted_at),
        "deadline": _when(a.deadline),
        "submitted_at": _when(a.submitted_at),
        "auto_approve_at": _when(a.auto_approve_at),
        "answers": a.answers,
        "submit_token": a.submit_token if a.status == AssignmentStatus.ACCEPTED else None,
    }


MAX_TOKEN_LENGTH = 200


def _submit_body(request: HttpRequest) -> tuple[str, Any]:
    """``(token, answers)`` of a submit's JSON body ``{"token": "…", "answers": {…}}``;
    the answers themselves are checked by the service against the task's form."""
    body = json_body(request)
    if not isinstance(body, dict):
        raise ApplicationError(
            'Send a JSON object: {"token": "…", "answers": {…}}.', code="invalid"
        )
    token = body.get("token")
    if not isinstance(token, str) or not token.strip():
        raise ApplicationError("The submit token is missing.", code="invalid", field="token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise ApplicationError(
            f"The submit token is longer than {MAX_TOKEN_LENGTH} characters.",
            code="invalid",
            field="token",
        )
    if "answers" not in body:
        raise ApplicationError("The answers are missing.", code="invalid", field="answers")
    return token, body["answers"]


def _user(request: Request) -> User:
    return cast(User, request.user)


def _one(request: Request, assignment_id: int, *, code: int = status.HTTP_200_OK) -> Response:
    a = selectors.assignment_for(_user(request), assignment_id)
    return Response(assignment_json(a), status=code)


class WorkerView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsWorker]
    # Not in the requester API's schema and docs page (API keys are requesters'): the
    # worker endpoints serve the worker's own pages; they are listed in docs/api.md.
    schema = None


@api_view("POST")
def project_claim(request: HttpRequest, project_id: int) -> HttpResponse:
    """Accept the next free task of a project: 201 with the assignment. The hottest
    endpoint, so a plain view (``marketplace.api.plain``) with ``WorkerView``'s contract:
    session and CSRF (Django's middleware), workers only. Claims have their own
    per-worker limit (``FAIRTASK_CLAIMS_PER_MINUTE``, one cache hit in the service),
    lower than the API rate, so no second count here."""
    # The service reads the project with its open batches (404 if there is none).
    a = services.assignment_claim(worker=_signed_in_worker(request), project=project_id)
    return JsonResponse(assignment_json(a), status=status.HTTP_201_CREATED)


def _signed_in_worker(request: HttpRequest) -> User:
    """``request.user`` if a signed-in worker, else the refusals ``WorkerView`` gives."""
    user = request.user
    if not user.is_authenticated:
        refusal = NotAuthenticated()
        refusal.status_code = status.HTTP_403_FORBIDDEN  # as DRF for session auth (no header)
        raise refusal
    if not IsWorker().has_permission(request, None):  # type: ignore[arg-type]
        raise PermissionDenied(IsWorker.message)
    return cast(User, user)


class TaskClaimView(WorkerView):
    throttle_classes: list = []  # as project_claim: the claim limit counts instead

    def post(self, request: Request, task_id: int) -> Response:
        task = Task.objects.filter(pk=task_id).first()
        if task is None:
            return _not_found("Task not found.")
        a = services.assignment_claim_task(worker=_user(request), task=task)
        return Response(assignment_json(a), status=status.HTTP_201_CREATED)


class AssignmentListView(WorkerView):
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status")
        if wanted is not None and wanted not in AssignmentStatus.values:
            return Response(
                {
                    "error": {
                        "code": "invalid",
                        "message": f"status: choose one of {', '.join(AssignmentStatus.values)}.",
                        "fields": {"status": ["Not a status."]},
                    }
                },
                status=400,
            )
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.worker_assignments(_user(request), status=wanted), request, view=self
        )
        return paginator.get_paginated_response([assignment_json(a) for a in page])


class AssignmentDetailView(WorkerView):
    def get(self, request: Request, assignment_id: int) -> Response:
        return _one(request, assignment_id)


class AssignmentReturnView(WorkerView):
    def post(self, request: Request, assignment_id: int) -> Response:
        services.assignment_return(worker=_user(request), assignment_id=assignment_id)
        return _one(request, assignment_id)


class AssignmentNextView(WorkerView):
    def post(self, request: Request, assignment_id: int) -> Response:
        after = selectors.assignment_for(_user(request), assignment_id)
        a = services.assignment_claim_next(worker=_user(request), after=after)
        return Response(assignment_json(a), status=status.HTTP_201_CREATED)


@csrf_exempt  # the token is the credential: no session is read, any origin may post
@api_view("POST")
def submit(request: HttpRequest) -> HttpResponse:
    """Submit the answers of an assignment, authenticated by its submit token alone
    (the sandboxed frame has no session): 200 ``{id, status: "submitted"}``. A plain
    view like ``project_claim``; not throttled."""
    token, answers = _submit_body(request)
    a = services.assignment_submit(token=token, answers=answers)
    response = JsonResponse({"id": a.pk, "status": a.status})
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _not_found(message: str) -> Response:
    return Response({"error": {"code": "not_found", "message": message, "fields": {}}}, status=404)
