"""Project services: create, update, clone, archive; the pay floor; DB constraints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from core.errors import ApplicationError
from marketplace import builtin_templates, selectors, services
from marketplace.models import Project
from payouts.fees import platform_settings
from tests.fixtures.users import WorkerFactory
from tests.marketplace.conftest import make_project

pytestmark = pytest.mark.django_db


def test_create_builtin_project_renders_its_template(requester):
    project = make_project(
        requester, keywords=["support", " tickets ", "Support"], gold_rate_bp=500
    )
    project.refresh_from_db()
    assert project.owner == requester
    assert project.reward_cents == 10
    assert project.estimated_seconds == 30
    assert project.time_allotted_seconds == 300  # 3 × estimate, at least 5 minutes
    assert project.assignments_per_task == 1
    assert project.auto_approval_delay == timedelta(days=3)
    assert project.batch_lifetime == timedelta(days=7)
    assert project.keywords == "support, tickets"
    assert project.gold_rate_bp == 500
    assert project.status == "active"
    assert project.template_config == {
        "question": "Which category fits this text?",
        "labels": ["Question", "Complaint", "Other"],
    }
    assert project.template_html == builtin_templates.get(
        "text_classification", project.template_config
    )


def test_create_custom_project(requester):
    project = make_project(
        requester,
        template_kind="custom",
        template_html='<p>${text}</p><input name="answer">',
        template_config={"x": 1},
    )
    assert project.template_config == {}
    assert project.template_html == '<p>${text}</p><input name="answer">'


@pytest.mark.parametrize(
    ("estimated_seconds", "reward_cents", "message"),
    [
        (60, 13, "The reward must be at least $0.14 for 60 seconds at the $8.00/h pay floor."),
        (1, 1, None),  # 1¢ for 1 s is $36/h
        (450, 99, "The reward must be at least $1.00 for 450 seconds at the $8.00/h pay floor."),
        (450, 100, None),
    ],
)
def test_pay_floor(requester, estimated_seconds, reward_cents, message):
    if message is None:
        make_project(requester, estimated_seconds=estimated_seconds, reward_cents=reward_cents)
        return
    with pytest.raises(ApplicationError) as exc:
        make_project(requester, estimated_seconds=estimated_seconds, reward_cents=reward_cents)
    assert exc.value.message == message
    assert exc.value.code == "below_pay_floor"
    assert not Project.objects.exists()


def test_pay_floor_follows_platform_settings(requester):
    settings = platform_settings()
    settings.pay_floor_cents_per_hour = 1200
    settings.save()
    with pytest.raises(
        ApplicationError, match=r"at least \$0.10 for 30 seconds at the \$12.00/h pay floor"
    ):
        make_project(requester, reward_cents=9)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reward_cents", 0, "The reward must be at least $0.01."),
        ("reward_cents", -5, "The reward must be at least $0.01."),
        ("reward_cents", "10", "The reward must be a whole number of cents."),
        ("reward_cents", 10.0, "The reward must be a whole number of cents."),
        ("reward_cents", True, "The reward must be a whole number of cents."),
        ("reward_cents", 100_001, "The reward can be at most $1,000.00."),
        ("assignments_per_task", 0, "Assignments per task must be between 1 and 100."),
        ("assignments_per_task", 101, "Assignments per task must be between 1 and 100."),
        ("estimated_seconds", 0, "The estimated time (seconds) must be between 1 and 86,400."),
        (
            "time_allotted_seconds",
            20,
            "The time allotted cannot be shorter than the estimated time.",
        ),
        (
            "auto_approval_delay",
            timedelta(days=30, seconds=1),
            "The auto-approval delay can be at most 30 days.",
        ),
        ("auto_approval_delay", 3, "The auto-approval delay must be a duration."),
        ("batch_lifetime", timedelta(minutes=5), "The batch lifetime must be at least 1:00:00."),
        ("title", "  ", "The title is required."),
        ("template_kind", "poetry", "Unknown template type 'poetry'."),
        ("gold_rate_bp", 10_001, "The gold rate (basis points) must be between 0 and 10,000."),
        ("requirements", {"min_karma": 3}, "Unknown requirement 'min_karma'."),
        (
            "requirements",
            {"qualifications": [{"name": "English", "comparator": "~"}]},
            "Unknown comparator '~': use exists, not_exists, ==, !=, >, >=, < or <=.",
        ),
    ],
)
def test_bad_input_gets_a_clear_error_and_creates_nothing(requester, field, value, message):
    with pytest.raises(ApplicationError) as exc:
        make_project(requester, **{field: value})
    assert exc.value.message == message
    assert not Project.objects.exists()


_DEEP: list = []
for _ in range(100_000):
    _DEEP = [_DEEP]


@pytest.mark.parametrize(
    ("field", "value", "error_field", "code"),
    [
        # Issue 15, defect 2: each of these was a 500 (DataError, UnicodeEncodeError,
        # TypeError, RecursionError) before the text and JSON checks in core.text.
        ("keywords", "cats,\x00dogs", "keywords", "invalid_character"),
        ("keywords", ["cats", "\ud800"], "keywords", "invalid_character"),
        ("title", "A\x00B", "title", "invalid_character"),
        ("description", "\udfff", "description", "invalid_character"),
        ("instructions", "x\x00", "instructions", "invalid_character"),
        ("template_config", {"question": "Why\x00?"}, "template_config", "invalid_template_config"),
        ("template_config", {"question": "\ud83d?"}, "template_config", "invalid_template_config"),
        (
            "template_config",
            {"labels": ["a", "b\x00"]},
            "template_config",
            "invalid_template_config",
        ),
        ("template_config", {"labels": _DEEP}, "template_config", "invalid_template_config"),
        ("requirements", {"languages": ["en\x00"]}, "requirements", "invalid_requirements"),
        ("requirements", {"min_tier": "\ud800"}, "requirements", "invalid_requirements"),
        (
            "requirements",
            {"qualifications": [{"name": "x", "comparator": [">="]}]},
            "requirements",
            "invalid_requirements",
        ),
        (
            "requirements",
            {"qualifications": [{"name": "x", "comparator": {"op": ">="}}]},
            "requirements",
            "invalid_requirements",
        ),
        (
            "requirements",
            {"qualifications": [{"name": "x\x00", "comparator": "exists"}]},
            "requirements",
            "invalid_requirements",
        ),
        (
            "requirements",
            {"qualifications": [{"name": "x", "comparator": ">=", "value": 10**20}]},
            "requirements",
            "invalid_requirements",
        ),
        ("requirements", {"languages": _DEEP}, "requirements", "invalid_requirements"),
        ("estimated_seconds", 10**15, "estimated_seconds", "out_of_range"),
        ("time_allotted_seconds", -(10**15), "time_allotted_seconds", "out_of_range"),
        ("time_allotted_seconds", 20, "time_allotted_seconds", "allotted_below_estimate"),
        ("auto_approval_delay", timedelta(days=999_999), "auto_approval_delay", "out_of_range"),
        ("batch_lifetime", 3, "batch_lifetime", "not_a_duration"),
        ("gold_rate_bp", 1.5, "gold_rate_bp", "not_a_whole_number"),
        ("title", 5, "title", "not_text"),
        ("reward_cents", 0, "reward_cents", "invalid_reward"),
        ("template_kind", ["custom"], "template_kind", "invalid_template_kind"),
    ],
)
def test_every_error_names_its_field_and_a_specific_code(
    requester, field, value, error_field, code
):
    with pytest.raises(ApplicationError) as exc:
        make_project(requester, **{field: value})
    assert (exc.value.field, exc.value.code) == (error_field, code)
    assert not Project.objects.exists()


def test_thirty_days_auto_approval_is_allowed(requester):
    assert make_project(
        requester, auto_approval_delay=timedelta(days=30)
    ).auto_approval_delay == timedelta(days=30)


def test_requirements_are_stored(requester):
    reqs = {
        "min_tier": "established",
        "qualifications": [{"name": "English", "comparator": ">=", "value": 80}],
        "languages": ["en"],
    }
    assert make_project(requester, requirements=reqs).requirements == reqs


def test_custom_template_errors(requester):
    with pytest.raises(ApplicationError, match="The template is empty."):
        make_project(requester, template_kind="custom", template_html="")
    with pytest.raises(ApplicationError, match=r"cannot use \$\{_gold_label\}"):
        make_project(requester, template_kind="custom", template_html="${_gold_label}")


def test_only_requesters_create_projects(db):
    with pytest.raises(ApplicationError) as exc:
        make_project(WorkerFactory())
    assert exc.value.status == 403


def test_update_revalidates_and_rerenders(requester):
    project = make_project(requester)
    updated = services.project_update(
        project=project,
        user=requester,
        data={"template_config": {"labels": ["Yes", "No"]}, "reward_cents": 20},
    )
    assert updated.reward_cents == 20
    assert (
        'value="Yes"' in updated.template_html and 'value="Question"' not in updated.template_html
    )
    # Switching kind drops the old kind's settings; switching to custom keeps the HTML.
    updated = services.project_update(
        project=project, user=requester, data={"template_kind": "sentiment"}
    )
    assert updated.template_config["labels"] == ["Negative", "Neutral", "Positive"]
    html = updated.template_html
    updated = services.project_update(
        project=project, user=requester, data={"template_kind": "custom"}
    )
    assert updated.template_html == html and updated.template_config == {}


def test_update_bad_input_changes_nothing(requester):
    project = make_project(requester)
    before = Project.objects.values().get(pk=project.pk)
    for data, message in [
        (
            {"reward_cents": 1},
            "The reward must be at least $0.07 for 30 seconds at the $8.00/h pay floor.",
        ),
        ({"assignments_per_task": 101}, "Assignments per task must be between 1 and 100."),
        ({"owner": requester}, "'owner' cannot be changed here."),
    ]:
        with pytest.raises(ApplicationError) as exc:
            services.project_update(project=project, user=requester, data=data)
        assert exc.value.message == message
    assert Project.objects.values().get(pk=project.pk) == before


def test_other_requester_cannot_touch_the_project(requester, other_requester):
    project = make_project(requester)
    for call in (
        lambda: services.project_update(
            project=project, user=other_requester, data={"title": "Mine"}
        ),
        lambda: services.project_clone(project=project, user=other_requester),
        lambda: services.project_archive(project=project, user=other_requester),
    ):
        with pytest.raises(ApplicationError) as exc:
            call()
        assert (exc.value.code, exc.value.status, exc.value.message) == (
            "not_found",
            404,
            "Project not found.",
        )
    project.refresh_from_db()
    assert project.title == "Classify support tickets" and project.status == "active"


def test_clone_copies_the_design(requester):
    project = make_project(requester, assignments_per_task=5, requirements={"min_tier": "expert"})
    clone = services.project_clone(project=project, user=requester)
    assert clone.pk != project.pk
    assert clone.title == "Classify support tickets (copy)"
    for name in (
        "template_html",
        "template_config",
        "reward_cents",
        "assignments_per_task",
        "requirements",
    ):
        assert getattr(clone, name) == getattr(project, name)


def test_archive_and_restore(requester):
    project = make_project(requester)
    services.project_archive(project=project, user=requester)
    services.project_archive(project=project, user=requester)  # idempotent
    project.refresh_from_db()
    assert project.status == "archived"
    assert list(selectors.projects_for(requester)) == []
    assert list(selectors.projects_for(requester, include_archived=True)) == [project]
    with pytest.raises(ApplicationError, match="archived; restore it before editing"):
        services.project_update(project=project, user=requester, data={"title": "x"})
    services.project_restore(project=project, user=requester)
    project.refresh_from_db()
    assert project.status == "active"


@pytest.mark.parametrize(
    "change",
    [
        {"reward_cents": 0},
        {"assignments_per_task": 101},
        {"assignments_per_task": 0},
        {"auto_approval_delay": timedelta(days=31)},
        {"time_allotted_seconds": 1},
        {"gold_rate_bp": 10_001},
    ],
)
def test_database_enforces_the_ranges_too(requester, change):
    project = make_project(requester)
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.filter(pk=project.pk).update(**change)


def test_pricing_selector():
    pricing = selectors.project_pricing(reward_cents=13, estimated_seconds=60)
    assert pricing.fee_cents == 3
    assert pricing.cost_per_assignment_cents == 16
    assert pricing.hourly_rate_cents == 780
    assert pricing.minimum_reward_cents == 14
    assert pricing.meets_pay_floor is False


# --- Status table (issue 15) --------------------------------------------------------------


def test_archive_and_restore_go_through_the_table_and_write_events(requester):
    from marketplace.models import PROJECT_TRANSITIONS, ProjectEvent, ProjectStatus

    project = make_project(requester)
    services.project_archive(project=project, user=requester)
    services.project_archive(project=project, user=requester)  # idempotent: no second event
    services.project_restore(project=project, user=requester)
    events = list(
        ProjectEvent.objects.filter(project=project).values_list(
            "old_status", "new_status", "actor_id"
        )
    )
    assert events == [
        ("active", "archived", requester.pk),
        ("archived", "active", requester.pk),
    ]
    assert set(PROJECT_TRANSITIONS) == set(ProjectStatus.values)


def test_a_move_the_table_does_not_list_is_refused(requester):
    from marketplace.models import ProjectEvent
    from marketplace.services.projects import project_transition

    project = make_project(requester)
    with pytest.raises(ApplicationError) as exc:
        project_transition(project=project, to="active", actor=requester)
    assert (exc.value.code, exc.value.status) == ("illegal_transition", 409)
    assert not ProjectEvent.objects.exists()
