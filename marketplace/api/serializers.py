"""Serializers: the API's input parsing (types only; every rule is the services') and
its output shapes (which the OpenAPI schema is generated from)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core import limits
from core.money import format_cents
from marketplace import selectors, templating
from marketplace.models import Batch, Project, TemplateKind


class TextField(serializers.CharField):
    """A CharField that takes only JSON strings: DRF's turns 0 or true into "0" or
    "True", which the schema (type string) does not allow."""

    default_error_messages = {"invalid": "Give text (a JSON string)."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- Projects ----------------------------------------------------------------------------


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class KeywordsField(serializers.Field):
    """A list of keywords; a comma-separated string is accepted too."""

    default_error_messages = {
        "invalid": "Give keywords as a list of strings or one comma-separated string."
    }

    def to_representation(self, value: str) -> list[str]:
        return [k.strip() for k in value.split(",") if k.strip()]

    def to_internal_value(self, data: Any) -> str | list[str]:
        if isinstance(data, str):
            return data
        if isinstance(data, list) and all(isinstance(x, str) for x in data):
            return data
        self.fail("invalid")
        raise AssertionError  # unreachable: fail() raises


class PricingSerializer(serializers.Serializer):
    fee_cents = serializers.IntegerField(
        help_text="Platform fee per assignment, on top of the reward."
    )
    cost_per_assignment_cents = serializers.IntegerField(help_text="Reward + fee.")
    hourly_rate_cents = serializers.IntegerField(
        help_text="Reward per estimated hour (rounded down)."
    )
    minimum_reward_cents = serializers.IntegerField(
        help_text="The least reward that meets the pay floor."
    )
    meets_pay_floor = serializers.BooleanField()
    pay_floor_cents_per_hour = serializers.IntegerField()
    fee_rate_bp = serializers.IntegerField(help_text="Fee rate in basis points (2000 = 20%).")
    fee_minimum_cents = serializers.IntegerField(help_text="The least fee per assignment.")
    fee_is_minimum = serializers.BooleanField(
        help_text="True when the minimum fee applies instead of the rate."
    )


class ProjectSerializer(serializers.ModelSerializer):
    keywords = KeywordsField()
    required_columns = serializers.SerializerMethodField(
        help_text="The ${placeholders} of the template: the columns every batch file must have."
    )
    auto_approval_delay_seconds = serializers.SerializerMethodField()
    batch_lifetime_seconds = serializers.SerializerMethodField()
    pricing = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "title",
            "description",
            "keywords",
            "instructions",
            "template_kind",
            "template_config",
            "template_html",
            "required_columns",
            "reward_cents",
            "estimated_seconds",
            "time_allotted_seconds",
            "assignments_per_task",
            "auto_approval_delay_seconds",
            "batch_lifetime_seconds",
            "requirements",
            "gold_rate_bp",
            "status",
            "pricing",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_required_columns(self, project: Project) -> list[str]:
        return templating.placeholders(project.template_html)

    def get_auto_approval_delay_seconds(self, project: Project) -> int:
        return int(project.auto_approval_delay.total_seconds())

    def get_batch_lifetime_seconds(self, project: Project) -> int:
        return int(project.batch_lifetime.total_seconds())

    @extend_schema_field(PricingSerializer)
    def get_pricing(self, project: Project) -> dict[str, Any]:
        # The same selector the project form's live pricing asks.
        pricing = selectors.project_pricing(
            reward_cents=project.reward_cents,
            estimated_seconds=project.estimated_seconds,
            terms=self.context.get("terms"),
        )
        out = asdict(pricing)
        del out["reward_cents"]
        return out


# Required on create; optional on update (PATCH and PUT both change only what is sent).
_REQUIRED_ON_CREATE = ("title", "template_kind", "reward_cents", "estimated_seconds")


class ProjectWriteSerializer(serializers.Serializer):
    """What a project is created or changed with. Types are checked here; the rules
    (reward at least 1¢ and at the pay floor, 1–100 assignments, auto-approval at most
    30 days, a valid template...) by the same service the pages use."""

    title = TextField(allow_blank=True, trim_whitespace=False, max_length=limits.TITLE_CHARS)
    description = TextField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=limits.TEXT_CHARS
    )
    keywords = KeywordsField(required=False)
    instructions = TextField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=limits.TEXT_CHARS
    )
    template_kind = serializers.ChoiceField(choices=TemplateKind.choices)
    template_html = TextField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=limits.TEMPLATE_CHARS,
        help_text="For template_kind=custom: HTML form fields with ${column} placeholders.",
    )
    template_config = serializers.DictField(
        required=False,
        allow_null=True,
        help_text='For built-in kinds: e.g. {"labels": [...], "question": "..."}; defaults are filled in.',
    )
    reward_cents = serializers.IntegerField(
        min_value=limits.MIN_REWARD_CENTS,
        max_value=limits.MAX_REWARD_CENTS,
        error_messages={
            "min_value": "The reward must be at least $0.01.",
            "max_value": f"The reward can be at most {format_cents(limits.MAX_REWARD_CENTS)}.",
        },
        help_text="Reward per assignment in cents.",
    )
    estimated_seconds = serializers.IntegerField(
        min_value=1, max_value=limits.MAX_ESTIMATED_SECONDS
    )
    time_allotted_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=limits.MAX_TIME_ALLOTTED_SECONDS,
        help_text="Default: three times the estimate, at least 5 minutes.",
    )
    assignments_per_task = serializers.IntegerField(
        required=False,
        min_value=limits.MIN_ASSIGNMENTS_PER_TASK,
        max_value=limits.MAX_ASSIGNMENTS_PER_TASK,
        error_messages={
            k: "Assignments per task must be between "
            f"{limits.MIN_ASSIGNMENTS_PER_TASK} and {limits.MAX_ASSIGNMENTS_PER_TASK}."
            for k in ("min_value", "max_value")
        },
    )
    auto_approval_delay_seconds = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=limits.MAX_AUTO_APPROVAL_DELAY_SECONDS,
        error_messages={
            "max_value": "The auto-approval delay can be at most 30 days.",
            "min_value": "The auto-approval delay cannot be negative.",
        },
    )
    batch_lifetime_seconds = serializers.IntegerField(
        required=False,
        min_value=limits.MIN_BATCH_LIFETIME_SECONDS,
        max_value=limits.MAX_BATCH_LIFETIME_SECONDS,
    )
    requirements = serializers.DictField(required=False, allow_null=True)
    gold_rate_bp = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=limits.MAX_GOLD_RATE_BP,
        help_text="Share of gold tasks in basis points.",
    )

    def __init__(self, *args: Any, creating: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not creating:
            for name in _REQUIRED_ON_CREATE:
                self.fields[name].required = False

    def service_values(self) -> dict[str, Any]:
        """The validated data as the services take it (only the keys that were sent)."""
        data = dict(self.validated_data)
        for api_name, name in (
            ("auto_approval_delay_seconds", "auto_approval_delay"),
            ("batch_lifetime_seconds", "batch_lifetime"),
        ):
            if api_name in data:
                data[name] = timedelta(seconds=data.pop(api_name))
        return data


class ProjectCloneSerializer(serializers.Serializer):
    title = TextField(
        required=False, max_length=limits.TITLE_CHARS, help_text="Default: “<title> (copy)”."
    )


# --- Batches -----------------------------------------------------------------------------


class BatchProgressSerializer(serializers.Serializer):
    total_assignments = serializers.IntegerField()
    by_state = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Assignments by state: accepted, submitted, approved, rejected, "
        "returned, expired.",
    )
    in_progress = serializers.IntegerField()
    pending_review = serializers.IntegerField()
    completed = serializers.IntegerField()
    remaining = serializers.IntegerField()
    percent_complete = serializers.FloatField()
    spend_cents = serializers.IntegerField(help_text="Reward + fee of approved assignments.")
    median_seconds = serializers.FloatField(
        allow_null=True, help_text="Measured; null until work is handed in."
    )
    hourly_rate_cents = serializers.IntegerField(
        allow_null=True, help_text="Reward per measured median hour."
    )
    escrow_cents = serializers.IntegerField(
        allow_null=True, help_text="Escrow balance (detail views only)."
    )
    rows_processed = serializers.IntegerField()
    bytes_processed = serializers.IntegerField()
    upload_size = serializers.IntegerField()


class BatchQuoteSerializer(serializers.Serializer):
    reward_cents = serializers.IntegerField()
    fee_cents = serializers.IntegerField()
    assignments_per_task = serializers.IntegerField()
    task_count = serializers.IntegerField()
    assignment_count = serializers.IntegerField()
    cost_per_assignment_cents = serializers.IntegerField()
    total_cost_cents = serializers.IntegerField(help_text="What publishing holds in escrow.")
    balance_cents = serializers.IntegerField()
    shortfall_cents = serializers.IntegerField()
    meets_pay_floor = serializers.BooleanField()
    minimum_reward_cents = serializers.IntegerField()
    published_terms = serializers.BooleanField(help_text="True: the terms snapshotted at publish.")


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True)
    line = serializers.IntegerField(allow_null=True)
    column = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class BatchSerializer(serializers.ModelSerializer):
    """A batch with its progress (``api_progress``) and, in detail views, its quote
    (``api_quote``); the view sets both attributes."""

    project_title = serializers.CharField(source="project.title")
    assignment_count = serializers.IntegerField()
    import_errors = ImportErrorSerializer(many=True)
    progress = BatchProgressSerializer(source="api_progress")
    quote = BatchQuoteSerializer(source="api_quote", allow_null=True, default=None)

    class Meta:
        model = Batch
        fields = [
            "id",
            "project",
            "project_title",
            "name",
            "status",
            "task_count",
            "gold_task_count",
            "assignments_per_task",
            "assignment_count",
            "reward_cents",
            "fee_cents",
            "total_cost_cents",
            "escrow_held_cents",
            "escrow_released_cents",
            "published_at",
            "expires_at",
            "closed_at",
            "original_filename",
            "upload_format",
            "upload_size",
            "upload_sha256",
            "import_errors",
            "import_error_count",
            "created_at",
            "updated_at",
            "progress",
            "quote",
        ]
        read_only_fields = fields


class BatchUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,  # "The file is empty." comes from the upload rules
        help_text="CSV (UTF-8, header row covering the template's placeholders) or JSON Lines (.jsonl).",
    )
    name = TextField(required=False, allow_blank=True, max_length=limits.BATCH_NAME_CHARS)


class PublishSerializer(serializers.Serializer):
    expected_total_cents = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=limits.MAX_JSON_INT,
        help_text="The total you were quoted; if the cost changed since, publishing is refused (quote_changed).",
    )


class CancelSerializer(serializers.Serializer):
    reason = TextField(required=False, allow_blank=True, max_length=limits.CANCEL_REASON_CHARS)


class BalanceSerializer(serializers.Serializer):
    balance_cents = serializers.IntegerField(help_text="Available to publish batches with.")
    currency = serializers.CharField()


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    # A declared field named "fields": DRF's metaclass takes it out of the class
    # attributes, so Serializer.fields still works; mypy cannot know that.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField())
    )
    details = serializers.DictField(required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
