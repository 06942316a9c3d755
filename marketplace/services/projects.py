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

from core import limits
from core.errors import ApplicationError, require_transition
from core.money import format_cents
from core.text import check_json_value, clean_text
from marketplace import builtin_templates, templating
from marketplace.models import (
    PROJECT_TRANSITIONS,
    Project,
    ProjectEvent,
    ProjectStatus,
    TemplateKind,
    User,
)
from payouts import fees

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
# Comparators that compare a score and so need a "value".
SCORE_COMPARATORS = QUALIFICATION_COMPARATORS - {"exists", "not_exists"}


def _seconds_text(seconds: int) -> str:
    return "1 second" if seconds == 1 else f"{seconds:,} seconds"


def _int(
    value: object,
    *,
    label: str,
    minimum: int,
    maximum: int,
    field: str,
    code: str | None = None,
) -> int:
    """A whole number in [minimum, maximum]; bools, floats and text are refused
    (codes ``not_a_whole_number`` and ``out_of_range`` unless ``code`` is given)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApplicationError(
            f"{label} must be a whole number.", code=code or "not_a_whole_number", field=field
        )
    if not minimum <= value <= maximum:
        raise ApplicationError(
            f"{label} must be between {minimum:,} and {maximum:,}.",
            code=code or "out_of_range",
            field=field,
        )
    return value


def _duration(
    value: object,
    *,
    label: str,
    minimum: timedelta,
    maximum: timedelta,
    maximum_text: str,
    field: str,
) -> timedelta:
    if not isinstance(value, timedelta):
        raise ApplicationError(f"{label} must be a duration.", code="not_a_duration", field=field)
    if value < minimum:
        raise ApplicationError(
            f"{label} must be at least {minimum}.", code="out_of_range", field=field
        )
    if value > maximum:
        raise ApplicationError(
            f"{label} can be at most {maximum_text}.", code="out_of_range", field=field
        )
    return value


def _keywords(value: object) -> str:
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ApplicationError(
            "Keywords must be text or a list of texts.", code="not_text", field="keywords"
        )
    unique: dict[str, None] = {}
    for item in items:
        item = clean_text(item, label="A keyword", maximum=limits.KEYWORDS_CHARS, field="keywords")
        item = " ".join(item.split())
        if item and item.casefold() not in {k.casefold() for k in unique}:
            unique[item] = None
    joined = ", ".join(unique)
    if len(joined) > limits.KEYWORDS_CHARS:
        raise ApplicationError(
            f"Keywords can be at most {limits.KEYWORDS_CHARS} characters in all.",
            code="too_long",
            field="keywords",
        )
    return joined


def _requirement_error(message: str, sub_field: str) -> ApplicationError:
    # field "requirements" for the API; extra["requirement"] says which one, so that
    # the page can put the message next to its own input.
    return ApplicationError(
        message,
        code="invalid_requirements",
        field="requirements",
        extra={"requirement": sub_field},
    )


def _requirement_text(value: object, *, label: str, maximum: int, sub_field: str) -> str:
    try:
        return clean_text(value, label=label, maximum=maximum, required=True)
    except ApplicationError as exc:
        raise _requirement_error(exc.message, sub_field) from None


def _requirement_int(value: object, *, label: str, maximum: int, sub_field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _requirement_error(f"{label} must be a whole number.", sub_field)
    if not 0 <= value <= maximum:
        raise _requirement_error(f"{label} must be between 0 and {maximum:,}.", sub_field)
    return value


def _requirements(value: object) -> dict[str, Any]:
    """Stored for the reputation side, which enforces them; checked here for shape and
    bounds (every string storable, every number bounded)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _requirement_error("Requirements must be an object.", "requirements")
    check_json_value(
        value, label="The requirements", field="requirements", code="invalid_requirements"
    )
    unknown = sorted(str(k) for k in set(value) - REQUIREMENT_KEYS)
    if unknown:
        raise _requirement_error(f"Unknown requirement {unknown[0][:50]!r}.", "requirements")
    out: dict[str, Any] = {}
    if "min_tier" in value:
        out["min_tier"] = _requirement_text(
            value["min_tier"],
            label="The minimum tier",
            maximum=limits.TIER_NAME_CHARS,
            sub_field="min_tier",
        )
    if "min_approval_rate" in value:
        out["min_approval_rate"] = _requirement_int(
            value["min_approval_rate"],
            label="The minimum approval rate (%)",
            maximum=100,
            sub_field="min_approval_rate",
        )
    if "min_completed" in value:
        out["min_completed"] = _requirement_int(
            value["min_completed"],
            label="The minimum completed count",
            maximum=limits.MAX_MIN_COMPLETED,
            sub_field="min_completed",
        )
    if "languages" in value:
        languages = value["languages"]
        if not isinstance(languages, list) or len(languages) > limits.MAX_LANGUAGES:
            raise _requirement_error(
                f"Languages must be a list of at most {limits.MAX_LANGUAGES} language codes.",
                "languages",
            )
        out["languages"] = [
            _requirement_text(
                x,
                label="A language code",
                maximum=limits.LANGUAGE_CODE_CHARS,
                sub_field="languages",
            )
            for x in languages
        ]
    if "qualifications" in value:
        qualifications = value["qualifications"]
        if not isinstance(qualifications, list):
            raise _requirement_error("Qualifications must be a list.", "qualifications")
        if len(qualifications) > limits.MAX_QUALIFICATIONS:
            raise _requirement_error(
                f"At most {limits.MAX_QUALIFICATIONS} qualifications.", "qualifications"
            )
        out["qualifications"] = [_qualification(q) for q in qualifications]
    return out


def _qualification(q: object) -> dict[str, Any]:
    if not isinstance(q, Mapping):
        raise _requirement_error("Each qualification needs a name.", "qualifications")
    unknown = sorted(str(k) for k in set(q) - {"name", "comparator", "value"})
    if unknown:
        raise _requirement_error(
            f"Unknown qualification setting {unknown[0][:50]!r}.", "qualifications"
        )
    name = _requirement_text(
        q.get("name"),
        label="A qualification name",
        maximum=limits.QUALIFICATION_NAME_CHARS,
        sub_field="qualifications",
    )
    comparator = q.get("comparator", "exists")
    # isinstance first: a list or an object is unhashable and cannot be looked up.
    if not isinstance(comparator, str) or comparator not in QUALIFICATION_COMPARATORS:
        shown = comparator[:20] if isinstance(comparator, str) else type(comparator).__name__
        raise _requirement_error(
            f"Unknown comparator {shown!r}: use exists, not_exists, ==, !=, >, >=, < or <=.",
            "qualifications",
        )
    out: dict[str, Any] = {"name": name, "comparator": comparator}
    if comparator in SCORE_COMPARATORS:
        if "value" not in q:
            raise _requirement_error(
                f"The qualification {name!r} compares a score: give a value.", "qualifications"
            )
        score = q["value"]
        if (
            isinstance(score, bool)
            or not isinstance(score, int)
            or not -limits.MAX_QUALIFICATION_VALUE <= score <= limits.MAX_QUALIFICATION_VALUE
        ):
            raise _requirement_error(
                f"The value of {name!r} must be a whole number between "
                f"{-limits.MAX_QUALIFICATION_VALUE:,} and {limits.MAX_QUALIFICATION_VALUE:,}.",
                "qualifications",
            )
        out["value"] = score
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
        field="reward_cents",
        extra={"minimum_reward_cents": minimum, "pay_floor_cents_per_hour": floor},
    )


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise every field of a project (create and update alike). Every
    error names its field (``ApplicationError.field``, a ``Project`` field name)."""
    out: dict[str, Any] = {}
    out["title"] = clean_text(
        fields["title"], label="The title", maximum=limits.TITLE_CHARS, required=True, field="title"
    )
    out["description"] = clean_text(
        fields["description"],
        label="The description",
        maximum=limits.TEXT_CHARS,
        field="description",
    )
    out["instructions"] = clean_text(
        fields["instructions"],
        label="The instructions",
        maximum=limits.TEXT_CHARS,
        field="instructions",
    )
    out["keywords"] = _keywords(fields["keywords"])

    reward = fields["reward_cents"]
    if isinstance(reward, bool) or not isinstance(reward, int):
        raise ApplicationError(
            "The reward must be a whole number of cents.",
            code="invalid_reward",
            field="reward_cents",
        )
    if reward < limits.MIN_REWARD_CENTS:
        raise ApplicationError(
            "The reward must be at least $0.01.", code="invalid_reward", field="reward_cents"
        )
    if reward > limits.MAX_REWARD_CENTS:
        raise ApplicationError(
            f"The reward can be at most {format_cents(limits.MAX_REWARD_CENTS)}.",
            code="invalid_reward",
            field="reward_cents",
        )
    out["reward_cents"] = reward
    out["estimated_seconds"] = _int(
        fields["estimated_seconds"],
        label="The estimated time (seconds)",
        minimum=1,
        maximum=limits.MAX_ESTIMATED_SECONDS,
        field="estimated_seconds",
    )
    allotted = fields["time_allotted_seconds"]
    if allotted is None:
        allotted = min(max(3 * out["estimated_seconds"], 300), limits.MAX_TIME_ALLOTTED_SECONDS)
    out["time_allotted_seconds"] = _int(
        allotted,
        label="The time allotted (seconds)",
        minimum=1,
        maximum=limits.MAX_TIME_ALLOTTED_SECONDS,
        field="time_allotted_seconds",
    )
    if out["time_allotted_seconds"] < out["estimated_seconds"]:
        raise ApplicationError(
            "The time allotted cannot be shorter than the estimated time.",
            code="allotted_below_estimate",
            field="time_allotted_seconds",
        )
    out["assignments_per_task"] = _int(
        fields["assignments_per_task"],
        label="Assignments per task",
        minimum=limits.MIN_ASSIGNMENTS_PER_TASK,
        maximum=limits.MAX_ASSIGNMENTS_PER_TASK,
        field="assignments_per_task",
        code="invalid_assignments",
    )
    out["auto_approval_delay"] = _duration(
        fields["auto_approval_delay"],
        label="The auto-approval delay",
        minimum=timedelta(0),
        maximum=limits.MAX_AUTO_APPROVAL_DELAY,
        maximum_text="30 days",
        field="auto_approval_delay",
    )
    out["batch_lifetime"] = _duration(
        fields["batch_lifetime"],
        label="The batch lifetime",
        minimum=limits.MIN_BATCH_LIFETIME,
        maximum=limits.MAX_BATCH_LIFETIME,
        maximum_text="365 days",
        field="batch_lifetime",
    )
    out["requirements"] = _requirements(fields["requirements"])
    out["gold_rate_bp"] = _int(
        fields["gold_rate_bp"],
        label="The gold rate (basis points)",
        minimum=0,
        maximum=limits.MAX_GOLD_RATE_BP,
        field="gold_rate_bp",
    )

    kind = fields["template_kind"]
    if not isinstance(kind, str) or kind not in TemplateKind.values:
        shown = kind[:40] if isinstance(kind, str) else type(kind).__name__
        raise ApplicationError(
            f"Unknown template type {shown!r}.", code="invalid_template_kind", field="template_kind"
        )
    out["template_kind"] = kind
    if kind == TemplateKind.CUSTOM:
        html = clean_text(
            fields["template_html"],
            label="The template",
            maximum=limits.TEMPLATE_CHARS,
            field="template_html",
            code="invalid_template",
            strip=False,
        )
        templating.check_template(html)
        out["template_html"] = html
        out["template_config"] = {}
    else:
        check_json_value(
            fields["template_config"],
            label="The template settings",
            field="template_config",
            code="invalid_template_config",
        )
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
    auto_approval_delay: timedelta = limits.DEFAULT_AUTO_APPROVAL_DELAY,
    batch_lifetime: timedelta = limits.DEFAULT_BATCH_LIFETIME,
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
        raise ApplicationError(
            f"{unknown[0][:50]!r} cannot be changed here.", code="not_editable", field=unknown[0]
        )
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


def project_transition(
    *, project: Project, to: str, actor: User | None, reason: str = ""
) -> ProjectEvent:
    """Move a project (whose row the caller has locked) to ``to`` if
    ``PROJECT_TRANSITIONS`` allows it, saving the status and writing a ``ProjectEvent``
    (old, new, actor, reason) in the caller's transaction. Raises ApplicationError
    ``illegal_transition`` (409) for a move the table does not list."""
    old = project.status
    require_transition(
        PROJECT_TRANSITIONS,
        old,
        to,
        lambda: (
            f"A project that is {ProjectStatus(old).label.lower()} cannot become "
            f"{ProjectStatus(to).label.lower()}."
        ),
    )
    now = timezone.now()
    project.status = to
    project.updated_at = now
    project.save(update_fields=["status", "updated_at"])
    return ProjectEvent.objects.create(
        project=project, old_status=old, new_status=to, actor=actor, reason=reason, created_at=now
    )


@transaction.atomic
def project_archive(*, project: Project, user: User) -> Project:
    """Archive: no new batches can be uploaded or published; batches already published
    run on. Idempotent. Locks the project row. Raises ApplicationError (404 not owner)."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    _require_owner(locked, user)
    if not locked.is_archived:
        project_transition(project=locked, to=ProjectStatus.ARCHIVED, actor=user)
    return locked


@transaction.atomic
def project_restore(*, project: Project, user: User) -> Project:
    """Undo ``project_archive``. Idempotent. Locks the project row. Raises
    ApplicationError (404 not owner)."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    _require_owner(locked, user)
    if locked.is_archived:
        project_transition(project=locked, to=ProjectStatus.ACTIVE, actor=user)
    return locked
