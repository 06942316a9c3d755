"""API views: parse, call the selector or service the requester pages call, serialize.

Every object is fetched through ``selectors.project_for`` / ``batch_for``: another
requester's id is a 404 in the error shape, the same answer as an id that does not
exist.
"""

from __future__ import annotations

from typing import Any, cast

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from core.errors import ApplicationError
from marketplace import selectors, services
from marketplace.api import serializers as s
from marketplace.api.pagination import Pagination
from marketplace.api.throttling import UploadRateThrottle
from marketplace.models import Batch, BatchStatus, Project, ProjectStatus, User
from marketplace.paging import BatchSummaries
from payouts import fees, ledger

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="Invalid input (see error.fields)."),
    401: OpenApiResponse(s.ErrorSerializer, description="No, a wrong or a revoked API key."),
    403: OpenApiResponse(s.ErrorSerializer, description="Not a requester."),
    404: OpenApiResponse(s.ErrorSerializer, description="Not found, or not yours."),
    409: OpenApiResponse(
        s.ErrorSerializer, description="Not possible in the object's current state."
    ),
    415: OpenApiResponse(
        s.ErrorSerializer,
        description="A body that is not JSON (multipart/form-data for uploads).",
    ),
    429: OpenApiResponse(s.ErrorSerializer, description="Rate limit reached; see Retry-After."),
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    # An operation that takes input (400) also refuses a body of the wrong type (415).
    extra = (415,) if 400 in codes else ()
    return {code: ERRORS[code] for code in (401, 403, 429, *codes, *extra)}


def _user(request: Request) -> User:
    """The requester making the request (``IsRequester`` has checked there is one)."""
    return cast(User, request.user)


# API field names of the Project fields a service error can be about.
_API_FIELD = {
    "auto_approval_delay": "auto_approval_delay_seconds",
    "batch_lifetime": "batch_lifetime_seconds",
}


def _with_progress(batch: Batch, *, detail: bool) -> Batch:
    """Attach what ``BatchSerializer`` reads besides the row: progress, and in detail
    views the quote (not for a batch still importing or failed: it has no tasks)."""
    quoted = detail and batch.status not in (BatchStatus.IMPORTING, BatchStatus.FAILED)
    batch.api_progress = selectors.batch_progress(batch)  # type: ignore[attr-defined]
    batch.api_quote = selectors.batch_quote(batch) if quoted else None  # type: ignore[attr-defined]
    return batch


class _Paged:
    pagination_class = Pagination

    @property
    def paginator(self) -> Pagination:
        if not hasattr(self, "_paginator"):
            self._paginator = self.pagination_class()
        return self._paginator


class ProjectViewSet(_Paged, viewsets.ViewSet):
    # Projects: reusable task designs (template, reward, terms). (A comment, not a
    # docstring: drf-spectacular would repeat a docstring as every operation's description.)

    queryset = Project.objects.none()  # for the schema's path parameter type only
    lookup_value_converter = "int"

    def field_for_error(self, exc: ApplicationError) -> str | None:
        if exc.code == "invalid_upload":
            return "file"
        return _API_FIELD.get(exc.field, exc.field) if exc.field else None

    def get_throttles(self) -> list[BaseThrottle]:
        throttles = super().get_throttles()
        if getattr(self, "action", None) == "batches" and self.request.method == "POST":
            throttles.append(UploadRateThrottle())
        return throttles

    def _context(self) -> dict[str, Any]:
        return {"request": self.request, "terms": fees.current_terms()}

    @extend_schema(
        summary="List your projects",
        parameters=[
            OpenApiParameter(
                "status", str, enum=["active", "archived", "all"], description="Default: active."
            )
        ],
        responses={200: s.ProjectSerializer(many=True), **error_responses(400, 404)},
    )
    def list(self, request: Request) -> Response:
        wanted = request.query_params.get("status", "active")
        if wanted not in ("active", "archived", "all"):
            raise ApplicationError(
                "status must be active, archived or all.", code="invalid_filter", field="status"
            )
        qs = selectors.projects_for(_user(request), include_archived=wanted != "active")
        if wanted == "archived":
            qs = qs.filter(status=ProjectStatus.ARCHIVED)
        paginator = self.paginator
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(
            s.ProjectSerializer(page, many=True, context=self._context()).data
        )

    @extend_schema(
        summary="Create a project",
        request=s.ProjectWriteSerializer,
        responses={201: s.ProjectSerializer, **error_responses(400)},
    )
    def create(self, request: Request) -> Response:
        data = s.ProjectWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(owner=_user(request), **data.service_values())
        return Response(
            s.ProjectSerializer(project, context=self._context()).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:project-detail", args=[project.pk])},
        )

    @extend_schema(
        summary="Get a project", responses={200: s.ProjectSerializer, **error_responses(404)}
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        project = selectors.project_for(_user(request), pk)
        return Response(s.ProjectSerializer(project, context=self._context()).data)

    @extend_schema(
        summary="Change a project (only the fields sent)",
        request=s.ProjectWriteSerializer,
        responses={200: s.ProjectSerializer, **error_responses(400, 404, 409)},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        project = selectors.project_for(_user(request), pk)
        data = s.ProjectWriteSerializer(data=request.data, creating=False)
        data.is_valid(raise_exception=True)
        values = data.service_values()
        if not values:
            raise ApplicationError("Send at least one field to change.", code="nothing_to_change")
        project = services.project_update(project=project, user=_user(request), data=values)
        return Response(s.ProjectSerializer(project, context=self._context()).data)

    @extend_schema(
        summary="Change a project (same as PATCH: only the fields sent)",
        request=s.ProjectWriteSerializer,
        responses={200: s.ProjectSerializer, **error_responses(400, 404, 409)},
    )
    def update(self, request: Request, pk: str) -> Response:
        return self.partial_update(request, pk)

    @extend_schema(
        summary="Clone a project",
        request=s.ProjectCloneSerializer,
        responses={201: s.ProjectSerializer, **error_responses(400, 404)},
    )
    @action(detail=True, methods=["post"])
    def clone(self, request: Request, pk: str) -> Response:
        project = selectors.project_for(_user(request), pk)
        data = s.ProjectCloneSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        clone = services.project_clone(
            project=project, user=_user(request), title=data.validated_data.get("title")
        )
        return Response(
            s.ProjectSerializer(clone, context=self._context()).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:project-detail", args=[clone.pk])},
        )

    @extend_schema(
        summary="Archive a project (no new batches; idempotent)",
        request=None,
        responses={200: s.ProjectSerializer, **error_responses(404)},
    )
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str) -> Response:
        project = selectors.project_for(_user(request), pk)
        project = services.project_archive(project=project, user=_user(request))
        return Response(s.ProjectSerializer(project, context=self._context()).data)

    @extend_schema(
        summary="Restore an archived project (idempotent)",
        request=None,
        responses={200: s.ProjectSerializer, **error_responses(404)},
    )
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str) -> Response:
        project = selectors.project_for(_user(request), pk)
        project = services.project_restore(project=project, user=_user(request))
        return Response(s.ProjectSerializer(project, context=self._context()).data)

    @extend_schema(
        methods=["GET"],
        summary="List a project's batches",
        responses={200: s.BatchSerializer(many=True), **error_responses(400, 404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Upload a batch (multipart: file, name)",
        description="CSV or JSON Lines. A bad file is refused whole (400, code invalid_upload; "
        "error.details.errors has the first 50 problems with row and column, error.details.more how many "
        "more) and nothing is created. Small files are imported at once (201, status draft); large ones in the "
        "background (202, status importing: poll the batch).",
        request={"multipart/form-data": s.BatchUploadSerializer},
        responses={
            201: s.BatchSerializer,
            202: s.BatchSerializer,
            **error_responses(400, 404, 409),
        },
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser])
    def batches(self, request: Request, pk: str) -> Response:
        project = selectors.project_for(_user(request), pk)
        if request.method == "GET":
            return _batch_page(self, request, project_id=project.pk)
        data = s.BatchUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        batch = services.batch_upload(
            project=project,
            user=_user(request),
            fileobj=upload,
            filename=upload.name,
            name=data.validated_data.get("name", ""),
        )
        code = (
            status.HTTP_202_ACCEPTED
            if batch.status == BatchStatus.IMPORTING
            else status.HTTP_201_CREATED
        )
        batch = selectors.batch_for(_user(request), batch.pk)
        return Response(
            s.BatchSerializer(_with_progress(batch, detail=True)).data,
            status=code,
            headers={"Location": reverse("api:batch-detail", args=[batch.pk])},
        )


def _batch_page(view: Any, request: Request, *, project_id: int | None) -> Response:
    wanted = request.query_params.get("status")
    if wanted and wanted not in BatchStatus.values:
        raise ApplicationError(
            f"status must be one of {', '.join(BatchStatus.values)}.",
            code="invalid_filter",
            field="status",
        )
    paginator = view.paginator
    page = paginator.paginate_queryset(
        BatchSummaries(
            _user(request), project_id=project_id, statuses=[wanted] if wanted else None
        ),
        request,
        view=view,
    )
    batches = []
    for summary in page:
        batch = summary.batch
        batch.api_progress = summary.progress  # type: ignore[attr-defined]
        batch.api_quote = None  # type: ignore[attr-defined]
        batches.append(batch)
    return paginator.get_paginated_response(s.BatchSerializer(batches, many=True).data)


class BatchViewSet(_Paged, viewsets.ViewSet):
    # Batches: uploaded rows of a project; publishing holds their cost in escrow.

    queryset = Batch.objects.none()  # for the schema's path parameter type only
    lookup_value_converter = "int"

    @extend_schema(
        summary="List your batches (newest first, with progress)",
        parameters=[
            OpenApiParameter("project", int),
            OpenApiParameter("status", str, enum=BatchStatus.values),
        ],
        responses={200: s.BatchSerializer(many=True), **error_responses(400, 404)},
    )
    def list(self, request: Request) -> Response:
        project = request.query_params.get("project")
        project_id = None
        if project:
            project_id = selectors.project_for(_user(request), project).pk
        return _batch_page(self, request, project_id=project_id)

    @extend_schema(
        summary="Get a batch (with progress and quote)",
        responses={200: s.BatchSerializer, **error_responses(404)},
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        batch = selectors.batch_for(_user(request), pk)
        return Response(s.BatchSerializer(_with_progress(batch, detail=True)).data)

    @extend_schema(
        summary="Progress of a batch",
        responses={200: s.BatchProgressSerializer, **error_responses(404)},
    )
    @action(detail=True, methods=["get"])
    def progress(self, request: Request, pk: str) -> Response:
        batch = selectors.batch_for(_user(request), pk)
        return Response(s.BatchProgressSerializer(selectors.batch_progress(batch)).data)

    @extend_schema(
        summary="What publishing costs (rewards + fees) and your balance",
        responses={200: s.BatchQuoteSerializer, **error_responses(404)},
    )
    @action(detail=True, methods=["get"])
    def quote(self, request: Request, pk: str) -> Response:
        batch = selectors.batch_for(_user(request), pk)
        return Response(s.BatchQuoteSerializer(selectors.batch_quote(batch)).data)

    def _act(self, request: Request, pk: str, fn: Any, **kwargs: Any) -> Response:
        batch = selectors.batch_for(_user(request), pk)
        fn(batch=batch, user=_user(request), **kwargs)
        batch = selectors.batch_for(_user(request), pk)
        return Response(s.BatchSerializer(_with_progress(batch, detail=True)).data)

    @extend_schema(
        summary="Publish: hold rewards + fees of every assignment in escrow",
        description="Refused with 409: already_published (no second hold), illegal_transition (e.g. cancelled), "
        "still_importing, project_archived, quote_changed, insufficient_funds (details: total_cost_cents, "
        "balance_cents, shortfall_cents).",
        request=s.PublishSerializer,
        responses={200: s.BatchSerializer, **error_responses(400, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        data = s.PublishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(
            request,
            pk,
            services.batch_publish,
            expected_total_cents=data.validated_data.get("expected_total_cents"),
        )

    @extend_schema(
        summary="Pause (idempotent)",
        request=None,
        responses={200: s.BatchSerializer, **error_responses(404, 409)},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        return self._act(request, pk, services.batch_pause)

    @extend_schema(
        summary="Resume (idempotent)",
        request=None,
        responses={200: s.BatchSerializer, **error_responses(404, 409)},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        return self._act(request, pk, services.batch_resume)

    @extend_schema(
        summary="Cancel: unused escrow returns to your balance",
        description="Tasks nobody holds close at once; work in progress finishes under the old terms. A second "
        "cancel is refused (409 already_cancelled) and releases nothing.",
        request=s.CancelSerializer,
        responses={200: s.BatchSerializer, **error_responses(400, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        data = s.CancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(
            request, pk, services.batch_cancel, reason=data.validated_data.get("reason", "")
        )


class BalanceView(APIView):
    @extend_schema(
        summary="Your available balance", responses={200: s.BalanceSerializer, **error_responses()}
    )
    def get(self, request: Request) -> Response:
        balance = ledger.requester_balance_cents(_user(request))  # a read: creates nothing
        return Response({"balance_cents": balance, "currency": "usd"})
