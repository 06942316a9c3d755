"""Project services: create, update, clone, archive, restore.

Every write validates the whole project (the same rules for create and update) and
raises ``ApplicationError`` with a message a form or the API can show as is. Forms and
serializers parse input (text to int, "3 days" to a timedelta); these functions still
refuse anything that is not of the right type, so a caller cannot bypass the rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.money import format_cents
from marketplace import builtin_templates, templating
from marketplace.models import (
    DEFAULT_AUTO_APPROVAL_DELAY,
    DEFAULT_BATCH_LIFETIME,
    MAX_ASSIGNMENTS_PER_TASK,
    MAX_AUTO_APPROVAL_DELAY,
    Project,
    ProjectStatus,
    TemplateKind,
    User,
)
from payouts import fees

MAX_REWARD_CENTS = 100_000  # $1,000 per assignment: above that it is a typo, not a task
MAX_ESTIMATED_SECONDS = 24 * 3600
MAX_TIME_ALLOTTED_SECONDS = 7 * 24 * 3600
MIN_BATCH_LIFETIME = timedelta(hours=1)
MAX_BATCH_LIFETIME = timedelta(days=365)
MAX_TEMPLATE_CHARS = 200_000
MAX_TEXT_CHARS = 50_000
MAX_KEYWORDS_CHARS = 500

# What project_update accepts; owner, status and timestamps change only through the
# dedicated services.
EDITABLE_FIELDS = frozenset(
    {
        "title",
        "description",
        "keywords",
        "instructions",
        "template_kind",
        "template_html",
        "template_config",
        "reward_cents",
        "estimated_seconds",
        "time_allotted_seconds",
        "assignments_per_task",
        "auto_approval_delay",
        "batch_lifetime",
        "requirements",
        "gold_rate_bp",
    }
)
REQUIREMENT_KEYS = frozenset(
    {"min_tier", "qualifications", "min_approval_rate", "min_completed", "languages"}
)
QUALIFICATION_COMPARATORS = frozenset({"exists", "not_exists", "==", "!=", ">", ">=", "<", "<="})


def _seconds_text(seconds: int) -> str:
    return "1 second" if seconds == 1 else f"{seconds:,} seconds"


def _int(value: object, *, label: str, minimum: int, maximum: int, code: str = "invalid") -> int:
    """A whole number in [minimum, maximum]; bools, floats and text are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApplicationError(f"{label} must be a whole number.", code=code)
    if not minimum <= value <= maximum:
        raise ApplicationError(f"{label} must be between {minimum:,} and {maximum:,}.", code=code)
    return value


def _text(value: object, *, label: str, maximum: int, required: bool = False) -> str:
    if not isinstance(value, str):
        raise ApplicationError(f"{label} must be text.", code="invalid")
    value = value.strip()
    if required and not value:
        raise ApplicationError(f"{label} is required.", code="required")
    if len(value) > maximum:
        raise ApplicationError(f"{label} can be at most {maximum:,} characters.", code="too_long")
    return value


def _duration(
    value: object, *, label: str, minimum: timedelta, maximum: timedelta, maximum_text: str
) -> timedelta:
    if not isinstance(value, timedelta):
        raise ApplicationError(f"{label} must be a duration.", code="invalid")
    if value < minimum:
        raise ApplicationError(f"{label} must be at least {minimum}.", code="invalid")
    if value > maximum:
        raise ApplicationError(f"{label} can be at most {maximum_text}.", code="invalid")
    return value


def _keywords(value: object) -> str:
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Sequence):
        items = [str(v) for v in value]
    else:
        raise ApplicationError("Keywords must be text or a list of texts.", code="invalid")
    unique: dict[str, None] = {}
    for item in items:
        item = " ".join(item.split())
        if item and item.casefold() not in {k.casefold() for k in unique}:
            unique[item] = None
    joined = ", ".join(unique)
    if len(joined) > MAX_KEYWORDS_CHARS:
        raise ApplicationError(
            f"Keywords can be at most {MAX_KEYWORDS_CHARS} characters in all.", code="too_long"
        )
    return joined


def _requirements(value: object) -> dict[str, Any]:
    """Stored for the reputation side, which enforces them; checked here only for shape."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ApplicationError("Requirements must be an object.", code="invalid_requirements")
    unknown = sorted(set(value) - REQUIREMENT_KEYS)
    if unknown:
        raise ApplicationError(f"Unknown requirement {unknown[0]!r}.", code="invalid_requirements")
    out = dict(value)
    if "min_tier" in out and not isinstance(out["min_tier"], str):
        raise ApplicationError("The minimum tier must be a tier name.", code="invalid_requirements")
    if "min_approval_rate" in out:
        _int(
            out["min_approval_rate"],
            label="The minimum approval rate (%)",
            minimum=0,
            maximum=100,
            code="invalid_requirements",
        )
    if "min_completed" in out:
        _int(
            out["min_completed"],
            label="The minimum completed count",
            minimum=0,
            maximum=10**9,
            code="invalid_requirements",
        )
    if "languages" in out and (
        not isinstance(out["languages"], list)
        or not all(isinstance(x, str) and x for x in out["languages"])
    ):
        raise ApplicationError(
            "Languages must be a list of language codes.", code="invalid_requirements"
        )
    qualifications = out.get("qualifications", [])
    if not isinstance(qualifications, list):
        raise ApplicationError("Qualifications must be a list.", code="invalid_requirements")
    for q in qualifications:
        if not isinstance(q, Mapping) or not isinstance(q.get("name"), str) or not q.get("name"):
            raise ApplicationError("Each qualification needs a name.", code="invalid_requirements")
        if q.get("comparator", "exists") not in QUALIFICATION_COMPARATORS:
            raise ApplicationError(
                f"Unknown comparator {q.get('comparator')!r}.", code="invalid_requirements"
            )
    return out


def pay_floor_error(
    *, reward_cents: int, estimated_seconds: int, terms: fees.Terms
) -> ApplicationError | None:
    """The error for a reward below the pay floor (None if it meets it)."""
    floor = terms.pay_floor_cents_per_hour
    if fees.meets_pay_floor(
        reward_cents=reward_cents, estimated_seconds=estimated_seconds, floor_cents_per_hour=floor
    ):
        return None
    minimum = fees.minimum_reward_cents(
        estimated_seconds=estimated_seconds, floor_cents_per_hour=floor
    )
    return ApplicationError(
        f"The reward must be at least {format_cents(minimum)} for {_seconds_text(estimated_seconds)} "
        f"at the {format_cents(floor)}/h pay floor.",
        code="below_pay_floor",
        extra={"minimum_reward_cents": minimum, "pay_floor_cents_per_hour": floor},
    )


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise every field of a project (create and update alike)."""
    out: dict[str, Any] = {}
    out["title"] = _text(fields["title"], label="The title", maximum=200, required=True)
    out["description"] = _text(
        fields["description"], label="The description", maximum=MAX_TEXT_CHARS
    )
    out["instructions"] = _text(
        fields["instructions"], label="The instructions", maximum=MAX_TEXT_CHARS
    )
    out["keywords"] = _keywords(fields["keywords"])

    reward = fields["reward_cents"]
    if isinstance(reward, bool) or not isinstance(reward, int):
        raise ApplicationError("The reward must be a whole number of cents.", code="invalid_reward")
    if reward < fees.MIN_REWARD_CENTS:
        raise ApplicationError("The reward must be at least $0.01.", code="invalid_reward")
    if reward > MAX_REWARD_CENTS:
        raise ApplicationError(
            f"The reward can be at most {format_cents(MAX_REWARD_CENTS)}.", code="invalid_reward"
        )
    out["reward_cents"] = reward
    out["estimated_seconds"] = _int(
        fields["estimated_seconds"],
        label="The estimated time (seconds)",
        minimum=1,
        maximum=MAX_ESTIMATED_SECONDS,
    )
    allotted = fields["time_allotted_seconds"]
    if allotted is None:
        allotted = min(max(3 * out["estimated_seconds"], 300), MAX_TIME_ALLOTTED_SECONDS)
    out["time_allotted_seconds"] = _int(
        allotted, label="The time allotted (seconds)", minimum=1, maximum=MAX_TIME_ALLOTTED_SECONDS
    )
    if out["time_allotted_seconds"] < out["estimated_seconds"]:
        raise ApplicationError(
            "The time allotted cannot be shorter than the estimated time.", code="invalid"
        )
    out["assignments_per_task"] = _int(
        fields["assignments_per_task"],
        label="Assignments per task",
        minimum=1,
        maximum=MAX_ASSIGNMENTS_PER_TASK,
        code="invalid_assignments",
    )
    out["auto_approval_delay"] = _duration(
        fields["auto_approval_delay"],
        label="The auto-approval delay",
        minimum=timedelta(0),
        maximum=MAX_AUTO_APPROVAL_DELAY,
        maximum_text="30 days",
    )
    out["batch_lifetime"] = _duration(
        fields["batch_lifetime"],
        label="The batch lifetime",
        minimum=MIN_BATCH_LIFETIME,
        maximum=MAX_BATCH_LIFETIME,
        maximum_text="365 days",
    )
    out["requirements"] = _requirements(fields["requirements"])
    out["gold_rate_bp"] = _int(
        fields["gold_rate_bp"],
        label="The gold rate (basis points)",
        minimum=0,
        maximum=fees.BASIS_POINTS,
    )

    kind = fields["template_kind"]
    if kind not in TemplateKind.values:
        raise ApplicationError(f"Unknown template type {kind!r}.", code="invalid_template_kind")
    out["template_kind"] = kind
    if kind == TemplateKind.CUSTOM:
        html = fields["template_html"]
        if not isinstance(html, str):
            raise ApplicationError("The template must be text.", code="invalid_template")
        if len(html) > MAX_TEMPLATE_CHARS:
            raise ApplicationError(
                f"The template can be at most {MAX_TEMPLATE_CHARS:,} characters.",
                code="invalid_template",
            )
        templating.check_template(html)
        out["template_html"] = html
        out["template_config"] = {}
    else:
        config = builtin_templates.normalize_config(kind, fields["template_config"])
        out["template_config"] = config
        out["template_html"] = builtin_templates.get(kind, config)

    error = pay_floor_error(
        reward_cents=out["reward_cents"],
        estimated_seconds=out["estimated_seconds"],
        terms=fees.current_terms(),
    )
    if error:
        raise error
    return out


def _require_requester(user: User) -> None:
    if not user.is_requester:
        raise ApplicationError(
            "Only requesters can manage projects.", code="not_requester", status=403
        )


def _require_owner(project: Project, user: User) -> None:
    # Same answer as for a project that does not exist: ids of others are not disclosed.
    if project.owner_id != user.pk:
        raise ApplicationError("Project not found.", code="not_found", status=404)


def project_create(
    *,
    owner: User,
    title: str,
    template_kind: str,
    reward_cents: int,
    estimated_seconds: int,
    time_allotted_seconds: int | None = None,
    assignments_per_task: int = 1,
    description: str = "",
    keywords: str | Sequence[str] = "",
    instructions: str = "",
    template_html: str = "",
    template_config: Mapping[str, Any] | None = None,
    auto_approval_delay: timedelta = DEFAULT_AUTO_APPROVAL_DELAY,
    batch_lifetime: timedelta = DEFAULT_BATCH_LIFETIME,
    requirements: Mapping[str, Any] | None = None,
    gold_rate_bp: int = 0,
) -> Project:
    """Create a project for ``owner``.

    ``template_kind`` is a built-in key (``template_config`` configures it; defaults
    filled in) or ``"custom"`` (``template_html`` with ``${field}`` placeholders).
    ``time_allotted_seconds`` defaults to three times the estimate (at least 5 minutes).

    Raises ApplicationError: not a requester (403), any invalid field (codes
    ``invalid_reward``, ``invalid_assignments``, ``invalid_template``,
    ``invalid_template_config``, ...), a reward below the pay floor (``below_pay_floor``,
    the message names the minimum). Takes no locks.
    """
    _require_requester(owner)
    cleaned = _clean(
        {
            "title": title,
            "description": description,
            "keywords": keywords,
            "instructions": instructions,
            "template_kind": template_kind,
            "template_html": template_html,
            "template_config": template_config,
            "reward_cents": reward_cents,
            "estimated_seconds": estimated_seconds,
            "time_allotted_seconds": time_allotted_seconds,
            "assignments_per_task": assignments_per_task,
            "auto_approval_delay": auto_approval_delay,
            "batch_lifetime": batch_lifetime,
            "requirements": requirements,
            "gold_rate_bp": gold_rate_bp,
        }
    )
    now = timezone.now()
    return Project.objects.create(owner=owner, created_at=now, updated_at=now, **cleaned)


@transaction.atomic
def project_update(*, project: Project, user: User, data: Mapping[str, Any]) -> Project:
    """Change the fields in ``data`` (keys from ``EDITABLE_FIELDS``) and revalidate.

    Batches already published keep the terms they were published with; drafts are
    quoted with the new ones. Changing to a built-in kind without ``template_config``
    uses that kind's defaults; changing to ``custom`` without ``template_html`` starts
    from the current HTML.

    Locks the project row (``FOR UPDATE``) so two concurrent edits apply one after the
    other. Raises ApplicationError: not the owner (404), archived project, unknown
    field, any rule of ``project_create``.
    """
    locked = Project.objects.select_for_update().get(pk=project.pk)
    _require_owner(locked, user)
    if locked.is_archived:
        raise ApplicationError(
            "This project is archived; restore it before editing.",
            code="project_archived",
            status=409,
        )
    unknown = sorted(set(data) - EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(f"{unknown[0]!r} cannot be changed here.", code="invalid_field")
    fields = {name: getattr(locked, name) for name in EDITABLE_FIELDS}
    new_kind = data.get("template_kind", locked.template_kind)
    if new_kind != locked.template_kind:
        fields["template_config"] = None  # the old kind's settings do not apply
    fields.update(data)
    cleaned = _clean(fields)
    for name, value in cleaned.items():
        setattr(locked, name, value)
    locked.updated_at = timezone.now()
    locked.save()
    return locked


def project_clone(*, project: Project, user: User, title: str | None = None) -> Project:
    """A new active project with the same design as ``project`` (no batches).

    Raises ApplicationError: not the owner (404), a design that no longer passes the
    rules (e.g. the pay floor was raised since). Takes no locks.
    """
    _require_owner(project, user)
    fields = {name: getattr(project, name) for name in EDITABLE_FIELDS}
    fields["title"] = title if title is not None else f"{project.title} (copy)"[:200]
    return project_create(owner=user, **fields)


@transaction.atomic
def project_archive(*, project: Project, user: User) -> Project:
    """Archive: no new batches can be uploaded or published; batches already published
    run on. Idempotent. Locks the project row. Raises ApplicationError (404 not owner)."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    _require_owner(locked, user)
    if not locked.is_archived:
        locked.status = ProjectStatus.ARCHIVED
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "updated_at"])
    return locked


@transaction.atomic
def project_restore(*, project: Project, user: User) -> Project:
    """Undo ``project_archive``. Idempotent. Locks the project row. Raises
    ApplicationError (404 not owner)."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    _require_owner(locked, user)
    if locked.is_archived:
        locked.status = ProjectStatus.ACTIVE
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "updated_at"])
    return locked
