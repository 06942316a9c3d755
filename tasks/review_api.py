"""Review and results in the REST API (``/api/v1/``, namespace ``review_api``; mounted by
the project URLconf before the requester API's catch-all). Same services as the pages;
another requester's batch or assignment is a 404 in the API's error shape."""

from __future__ import annotations

import json
from typing import Any, cast

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError
from marketplace import selectors
from marketplace.api.pagination import Pagination
from marketplace.api.views import error_responses
from marketplace.models import User
from tasks import exports, review
from tasks.models import Assignment, RejectReason, WorkerBlock
from tasks.review_selectors import ReviewFilters, blocks_of, pseudonym, review_rows
from tasks.review_views import export_response


def _user(request: Request) -> User:
    return cast(User, request.user)


def _batch(request: Request, batch_id: int) -> Any:
    try:
        return selectors.batch_for(_user(request), batch_id)
    except Http404:
        raise ApplicationError("Batch not found.", code="not_found", status=404) from None


class ReviewRowSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    task_id = serializers.IntegerField()
    row_number = serializers.IntegerField(source="task.row_number")
    worker = serializers.SerializerMethodField()
    status = serializers.CharField()
    answers = serializers.JSONField()
    seconds = serializers.SerializerMethodField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    agreement = serializers.FloatField(allow_null=True)
    submitted_at = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    reject_reason = serializers.CharField()
    reject_note = serializers.CharField()

    def get_worker(self, obj: Assignment) -> str:
        return pseudonym(requester_id=self.context["owner_id"], worker_id=obj.worker_id)

    def get_seconds(self, obj: Assignment) -> float | None:
        taken = getattr(obj, "time_taken", None)
        return round(taken.total_seconds(), 3) if taken is not None else None


class BatchAssignmentsView(APIView):
    @extend_schema(
        summary="A batch's handed-in assignments, for review (filters as the page)",
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404)},
    )
    def get(self, request: Request, batch_id: int) -> Response:
        batch = _batch(request, batch_id)
        paginator = Pagination()
        page = paginator.paginate_queryset(
            review_rows(batch, ReviewFilters.parse(request.query_params)), request, view=self
        )
        data = ReviewRowSerializer(page, many=True, context={"owner_id": batch.owner_id}).data
        return paginator.get_paginated_response(data)


class IdsSerializer(serializers.Serializer):
    assignment_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=review.MAX_BULK,
    )


class RejectSerializer(IdsSerializer):
    reason = serializers.ChoiceField(choices=RejectReason.choices)
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=review.MAX_NOTE_CHARS
    )


class ApproveView(APIView):
    @extend_schema(
        summary="Approve submitted assignments (one or thousands)",
        request=IdsSerializer,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        data = IdsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = review.assignments_approve(
            requester=_user(request), assignment_ids=data.validated_data["assignment_ids"]
        )
        return Response({"status": result.status, "count": len(result.ids), "ids": result.ids})


class RejectView(APIView):
    @extend_schema(
        summary="Reject submitted assignments with a reason",
        request=RejectSerializer,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        data = RejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = review.assignments_reject(
            requester=_user(request),
            assignment_ids=data.validated_data["assignment_ids"],
            reason=data.validated_data["reason"],
            note=data.validated_data["note"],
        )
        return Response({"status": result.status, "count": len(result.ids), "ids": result.ids})


class ReverseView(APIView):
    @extend_schema(
        summary="Reverse a rejection (within 30 days): the worker is paid",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, 409)},
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        a = review.assignment_reverse_rejection(
            requester=_user(request), assignment_id=assignment_id
        )
        return Response({"id": a.pk, "status": a.status})


class BonusSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField(min_value=1, max_value=review.MAX_BONUS_CENTS)
    reason = serializers.CharField(max_length=review.MAX_NOTE_CHARS)


class BonusView(APIView):
    @extend_schema(
        summary="Pay the worker of an assignment a bonus",
        request=BonusSerializer,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        data = BonusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        bonus = review.assignment_bonus(
            requester=_user(request),
            assignment_id=assignment_id,
            amount_cents=data.validated_data["amount_cents"],
            reason=data.validated_data["reason"],
        )
        return Response(
            {"id": bonus.pk, "amount_cents": bonus.amount_cents, "fee_cents": bonus.fee_cents},
            status=201,
        )


class BlockSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=review.MAX_NOTE_CHARS)


class BlockView(APIView):
    @extend_schema(
        summary="Block the worker of an assignment",
        request=BlockSerializer,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        data = BlockSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review.worker_block(
            requester=_user(request),
            assignment_id=assignment_id,
            reason=data.validated_data["reason"],
        )
        return Response({"blocked": True})


class UnblockView(APIView):
    @extend_schema(
        summary="Unblock the worker of an assignment",
        description="409 `not_blocked` when the worker is not blocked (e.g. unblocked twice).",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, 409)},
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        review.worker_unblock(requester=_user(request), assignment_id=assignment_id)
        return Response({"blocked": False})


class WorkerBlockSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    worker = serializers.SerializerMethodField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_worker(self, obj: WorkerBlock) -> str:
        return pseudonym(requester_id=obj.requester_id, worker_id=obj.worker_id)


class BlocksView(generics.ListAPIView):
    serializer_class = WorkerBlockSerializer
    pagination_class = Pagination

    def get_queryset(self) -> Any:
        return blocks_of(_user(self.request).pk)

    @extend_schema(
        summary="The workers you have blocked, newest first (pseudonymous worker ids)",
        responses={200: WorkerBlockSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class BlockDetailView(APIView):
    @extend_schema(
        summary="Lift a block: the worker sees your projects again",
        description="404 `not_found` for a block that is not yours, or was lifted already.",
        request=None,
        responses={204: None, **error_responses(404)},
    )
    def delete(self, request: Request, block_id: int) -> Response:
        review.block_lift(requester=_user(request), block_id=block_id)
        return Response(status=204)


class ResultsView(APIView):
    @extend_schema(
        summary="A batch's results: download links and the provenance card",
        responses={200: OpenApiTypes.OBJECT, **error_responses(404)},
    )
    def get(self, request: Request, batch_id: int) -> Response:
        batch = _batch(request, batch_id)
        base = request.build_absolute_uri()
        return Response(
            {
                "files": {name: f"{base}{name}" for name in [*exports.EXPORTS, *exports.CARDS]},
                "provenance": json.loads(json.dumps(exports.provenance(batch))),
            }
        )


class ResultFileView(APIView):
    @extend_schema(
        summary="One results file (streamed)",
        operation_id="batches_results_file_retrieve",
        responses={
            200: OpenApiResponse(description="The file (CSV, JSONL, Markdown or JSON)."),
            **error_responses(404),
        },
    )
    def get(self, request: Request, batch_id: int, name: str) -> HttpResponse:
        batch = _batch(request, batch_id)
        if name not in exports.EXPORTS and name not in exports.CARDS:
            raise ApplicationError("No such results file.", code="not_found", status=404)
        return export_response(batch, name)
