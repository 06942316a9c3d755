from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from marketplace.demo_accounts import DEMO_USERS, DemoRefused, ensure_demo_user
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

    settings.DEMO_DATA = True  # seed_demo runs only in development

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
    # The review demo (on the first requester's text-classification batch): approved
    # (and settled), rejected with a reason, bonused work; the workers' history beside it
    # is approved through the same payables, so every approval is settled.
    review_demo = Assignment.objects.exclude(batch__project__title__startswith="Demo: past work")
    statuses = sorted(review_demo.values_list("status", flat=True))
    assert statuses.count("approved") == 3 and statuses.count("rejected") == 1
    assert not Assignment.objects.filter(status="approved", settled_at__isnull=True).exists()
    assert review_demo.get(status="rejected").reject_note
    # Its work took as long as a person takes: the card's measured time is not 0 s.
    measured = {a.batch.project.measured_median_seconds for a in review_demo}
    assert measured and all(m is not None and 20 <= m <= 40 for m in measured), measured
    assert Bonus.objects.count() == 1
    # Withdrawn money: worker1 connected a payout account on the simulator's onboarding
    # page and withdrew $1.00 out of their balance (the transfer job pays it).
    from payouts.models import PayoutAccount, Withdrawal

    withdrawal = Withdrawal.objects.get()
    assert (withdrawal.worker.email, withdrawal.amount_cents) == ("worker1@example.com", 100)
    assert PayoutAccount.objects.get(worker=withdrawal.worker).payouts_enabled
    from payouts.withdrawals import withdrawal_in_flight_account

    assert ledger.balance_cents(withdrawal_in_flight_account(withdrawal.worker)) == 100
    call_command("ledger_check")

    # The demo workers have two weeks of history, made through the services.
    from tasks import earnings
    from tasks.models import Assignment, AssignmentEvent

    worker = User.objects.get(email="worker1@example.com")
    summary = earnings.summary(user=worker)
    assert summary.approved > 0 and summary.submitted > 0 and summary.hourly_cents
    assert sum(1 for d in summary.daily if d.earned_cents) >= 5
    assert AssignmentEvent.objects.filter(assignment__worker=worker).count() >= (
        2 * Assignment.objects.filter(worker=worker).count()
    )
    assert all(
        Assignment.objects.filter(worker=u).exists() for u in User.objects.filter(is_worker=True)
    )


@pytest.mark.django_db
def test_seed_demo_without_the_simulator_still_creates_accounts(settings):
    settings.DEMO_DATA = True
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    call_command("seed_demo", quiet=True, stripe_timeout=0.3)
    assert User.objects.count() == 8
    assert not Deposit.objects.exists()
    # Unfunded requesters get their demo projects as drafts, never a negative balance.
    assert not Batch.objects.filter(status="published").exists()


@pytest.mark.django_db
def test_seed_demo_refuses_outside_development(settings):
    """Only the development settings allow demo data: no admin with the README's
    password anywhere else, whatever DEBUG says."""
    settings.DEMO_DATA = False
    settings.DEBUG = True
    with pytest.raises(CommandError, match="seed_demo refused: Demo accounts use a published"):
        call_command("seed_demo", quiet=True, stripe_timeout=0.1)
    assert not User.objects.exists()
    with pytest.raises(DemoRefused):
        ensure_demo_user(DEMO_USERS[0])
    assert not User.objects.filter(email="admin@example.com").exists()


def test_seed_demo_refuses_under_the_production_settings(tmp_path):
    """The real thing: ``manage.py seed_demo`` in a process on the production settings
    (as a Procfile or a release step would run it) exits non-zero and creates nothing."""
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    db = django_settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.prod",
        "SECRET_KEY": "x" * 20 + "production-like-secret-key-for-this-test-only-0123456789",
        "ALLOWED_HOSTS": "fairtask.example",
        "STRIPE_SECRET_KEY": "sk_test_refusal",
        "STRIPE_WEBHOOK_SECRET": "whsec_refusal",
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_refusal_connect",
        # A database that must never be touched: the refusal comes first.
        "DATABASE_URL": f"postgresql://nobody@127.0.0.1:1/{db['NAME']}",
        "FAIRTASK_VAR_DIR": str(tmp_path),
    }
    env.pop("DEBUG", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "seed_demo refused" in done.stderr
