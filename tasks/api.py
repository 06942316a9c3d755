"""Worker REST API under /api/v1/worker/ (namespace ``worker_api``): claim, submit,
return, list my assignments. Signed-in workers (session; unsafe methods need the CSRF
token) reach only their own assignments (``selectors.assignment_for``: 404 otherwise).

The submit endpoint is the exception: the sandboxed work frame has an opaque origin and
no session, so it authenticates with the assignment's ``submit_token`` alone (no
cookies read, no CSRF: the token is the secret).
"""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.pagination import Pagination
from marketplace.models import Task, User
from tasks import selectors, services
from tasks.models import AssignmentStatus


class IsWorker(BasePermission):
    message = "Only workers can use this API."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_worker)


class AssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AssignmentStatus.choices)
    project_id = serializers.IntegerField(source="batch.project_id")
    project_title = serializers.CharField(source="batch.project.title")
    batch_id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    reward_cents = serializers.IntegerField()
    accepted_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    auto_approve_at = serializers.DateTimeField(allow_null=True)
    answers = serializers.JSONField()
    submit_token = serializers.SerializerMethodField(
        help_text="The secret the work frame submits with (accepted assignments only)."
    )

    def get_submit_token(self, obj: Any) -> str | None:
        return obj.submit_token if obj.status == AssignmentStatus.ACCEPTED else None


class SubmitSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)
    answers = serializers.JSONField()


def _user(request: Request) -> User:
    return cast(User, request.user)


def _one(request: Request, assignment_id: int, *, code: int = status.HTTP_200_OK) -> Response:
    a = selectors.assignment_for(_user(request), assignment_id)
    return Response(AssignmentSerializer(a).data, status=code)


class WorkerView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsWorker]
    # Not in the requester API's schema and docs page (API keys are requesters'): the
    # worker endpoints serve the worker's own pages; they are listed in docs/api.md.
    schema = None


class ProjectClaimView(WorkerView):
    # Claims have their own per-worker limit (FAIRTASK_CLAIMS_PER_MINUTE, one cache hit in
    # the service), lower than the API rate: no second count here.
    throttle_classes: list = []

    @extend_schema(
        summary="Accept the next free task of a project",
        request=None,
        responses={201: AssignmentSerializer},
    )
    def post(self, request: Request, project_id: int) -> Response:
        # The service reads the project with its open batches (404 if there is none).
        a = services.assignment_claim(worker=_user(request), project=project_id)
        return Response(AssignmentSerializer(a).data, status=status.HTTP_201_CREATED)


class TaskClaimView(WorkerView):
    throttle_classes: list = []  # as ProjectClaimView

    @extend_schema(summary="Accept one task", request=None, responses={201: AssignmentSerializer})
    def post(self, request: Request, task_id: int) -> Response:
        task = Task.objects.filter(pk=task_id).first()
        if task is None:
            return _not_found("Task not found.")
        a = services.assignment_claim_task(worker=_user(request), task=task)
        return Response(AssignmentSerializer(a).data, status=status.HTTP_201_CREATED)


class AssignmentListView(WorkerView):
    @extend_schema(
        summary="List your assignments (newest first)",
        parameters=[OpenApiParameter("status", str, enum=AssignmentStatus.values)],
        responses={200: AssignmentSerializer(many=True)},
    )
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
        return paginator.get_paginated_response(AssignmentSerializer(page, many=True).data)


class AssignmentDetailView(WorkerView):
    @extend_schema(summary="Get one of your assignments", responses={200: AssignmentSerializer})
    def get(self, request: Request, assignment_id: int) -> Response:
        return _one(request, assignment_id)


class AssignmentReturnView(WorkerView):
    @extend_schema(
        summary="Return an accepted task", request=None, responses={200: AssignmentSerializer}
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        services.assignment_return(worker=_user(request), assignment_id=assignment_id)
        return _one(request, assignment_id)


class AssignmentNextView(WorkerView):
    @extend_schema(
        summary="Accept the next task of the same project",
        request=None,
        responses={201: AssignmentSerializer},
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        after = selectors.assignment_for(_user(request), assignment_id)
        a = services.assignment_claim_next(worker=_user(request), after=after)
        return Response(AssignmentSerializer(a).data, status=status.HTTP_201_CREATED)


class SubmitView(APIView):
    # The token is the credential: no session is read (so no CSRF), any origin may post.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    schema = None

    @extend_schema(
        summary="Submit the answers of an assignment (authenticated by its submit token)",
        request=SubmitSerializer,
        responses={
            200: OpenApiResponse(description="{id, status: submitted}"),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        body = SubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        a = services.assignment_submit(
            token=body.validated_data["token"], answers=body.validated_data["answers"]
        )
        response = Response({"id": a.pk, "status": a.status})
        response["Access-Control-Allow-Origin"] = "*"
        return response


def _not_found(message: str) -> Response:
    return Response({"error": {"code": "not_found", "message": message, "fields": {}}}, status=404)
