import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.management import call_command

from marketplace.models import Batch, Project, Task, User
from payouts import ledger
from payouts.models import Deposit, LedgerAccount, LedgerTransaction


def _snapshot():
    users = list(
        User.objects.order_by("email").values_list(
            "email",
            "display_name",
            "is_worker",
            "is_requester",
            "is_staff",
            "is_superuser",
            "active_role",
            "password",
        )
    )
    emails = list(
        EmailAddress.objects.order_by("email").values_list("email", "verified", "primary")
    )
    groups = list(Group.objects.order_by("name").values_list("name", "user__email"))
    money = (
        list(
            LedgerAccount.objects.order_by("kind", "ref", "owner__email").values_list(
                "kind", "ref", "balance_cents"
            )
        ),
        LedgerTransaction.objects.count(),
        list(Deposit.objects.order_by("pk").values_list("user__email", "amount_cents", "status")),
    )
    work = (
        list(
            Project.objects.order_by("owner__email", "title").values_list(
                "owner__email", "title", "template_kind"
            )
        ),
        list(Batch.objects.order_by("pk").values_list("project__title", "status", "task_count")),
        Task.objects.count(),
    )
    return users, emails, groups, money, work


@pytest.fixture
def simulated_stripe(settings, stripe_sim):
    from payouts.stripe_sim.testing import WEBHOOK_SECRET

    settings.STRIPE_API_BASE = stripe_sim.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return stripe_sim


@pytest.mark.django_db
def test_seed_demo_twice_gives_the_same_data(simulated_stripe):
    call_command("seed_demo", quiet=True)
    first = _snapshot()
    call_command("seed_demo", quiet=True)
    assert _snapshot() == first

    users, emails, _, money, work = first
    assert len(users) == 8
    assert sum(1 for u in users if u[3]) == 2  # two requesters
    assert sum(1 for u in users if u[2]) == 6  # five workers (+ requester2 who is both)
    assert User.objects.get(email="admin@example.com").is_moderator
    assert all(verified for _, verified, _ in emails)

    # Funded through Checkout on the simulator, not by writing balances.
    assert [d[1:] for d in money[2]] == [(50_000, "completed"), (50_000, "completed")]
    assert len(simulated_stripe.objects("checkout.session")) == 2
    # Every built-in template has a published demo batch, paid into escrow.
    kinds = {kind for _, _, kind in work[0]}
    assert {
        "image_classification",
        "text_classification",
        "sentiment",
        "relevance",
        "response_rating",
        "transcription",
    } <= kinds
    assert work[1] and all(status == "published" for _, status, _ in work[1])
    from tasks.models import Assignment, Bonus

    for requester in User.objects.filter(is_requester=True):
        held = sum(b.total_cost_cents for b in Batch.objects.filter(owner=requester))
        bonused = sum(
            b.amount_cents + b.fee_cents for b in Bonus.objects.filter(requester=requester)
        )
        assert ledger.requester_account(requester).balance_cents == 50_000 - held - bonused
    # The review demo: approved (and settled), rejected with a reason, bonused work.
    statuses = sorted(Assignment.objects.values_list("status", flat=True))
    assert statuses.count("approved") == 3 and statuses.count("rejected") == 1
    assert Assignment.objects.filter(status="approved", settled_at__isnull=False).count() == 3
    assert Assignment.objects.get(status="rejected").reject_note
    assert Bonus.objects.count() == 1
    call_command("ledger_check")


@pytest.mark.django_db
def test_seed_demo_without_the_simulator_still_creates_accounts(settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    call_command("seed_demo", quiet=True, stripe_timeout=0.3)
    assert User.objects.count() == 8
    assert not Deposit.objects.exists()
    # Unfunded requesters get their demo projects as drafts, never a negative balance.
    assert not Batch.objects.filter(status="published").exists()
