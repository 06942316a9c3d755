"""The requester side's demo data."""

from __future__ import annotations

import pytest

from marketplace import templating
from marketplace.demo import demo_projects, seed_requester_demo
from marketplace.models import Batch, Project, Task, TemplateKind
from payouts.fees import reward_fee_cents
from tests.marketplace.conftest import balance, fund

pytestmark = pytest.mark.django_db


def test_demo_publishes_one_batch_per_builtin_type_when_funded(requester, worker):
    fund(requester, 100_000)
    batches = seed_requester_demo([requester, worker])  # a worker gets nothing
    kinds = {b.project.template_kind for b in batches}
    assert kinds == {k for k in TemplateKind.values if k != "custom"}
    assert all(b.status == "published" and b.owner == requester for b in batches)
    spent = 100_000 - balance(requester)
    expected = sum(
        len(spec.rows)
        * spec.assignments_per_task
        * (spec.reward_cents + reward_fee_cents(spec.reward_cents))
        for spec in demo_projects()
    )
    assert spent == expected
    # Every demo task renders with its project's template.
    for task in Task.objects.select_related("batch"):
        assert "${" not in templating.render(task.batch.template_html, task.data)
    assert Task.objects.filter(gold_answers__isnull=False).count() == 4

    again = seed_requester_demo([requester])
    assert [b.pk for b in again] == [b.pk for b in batches]
    assert Project.objects.count() == 6 and Batch.objects.count() == 6
    assert 100_000 - balance(requester) == spent


def test_demo_leaves_drafts_without_money_and_publishes_them_later(requester):
    batches = seed_requester_demo([requester])
    assert {b.status for b in batches} == {"draft"}
    fund(requester, 100_000)
    assert {b.status for b in seed_requester_demo([requester])} == {"published"}
    assert Batch.objects.count() == 6
