"""The scheduled ledger audit: beat runs ``payouts.jobs.ledger_audit``, which stores each
run and emails staff on a violation; the staff money overview shows the last run."""

from __future__ import annotations

from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse

from marketplace.celery import app
from payouts import audit, jobs, ledger
from payouts.models import LedgerCheckRun
from tests.fixtures.users import UserFactory
from tests.payouts.ledger_helpers import deposit_through_stripe_records


def staff_member(**extra):
    user = UserFactory(is_staff=True, **extra)
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "x"})
    return user


def forge_deposit(user, cents: int) -> None:
    """A well-formed deposit with no Deposit behind it, by raw SQL as the runtime role."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, created_at)"
            " VALUES ('deposit-cs_forged', 'deposit', '', 'cs_forged', now()) RETURNING id"
        )
        (txn,) = cursor.fetchone()
        for account, amount in (
            (ledger.requester_account(user), cents),
            (ledger.stripe_clearing_account(), -cents),
        ):
            cursor.execute(
                "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, created_at)"
                " VALUES (%s, %s, %s, now())",
                [txn, account.pk, amount],
            )


def test_beat_schedules_the_audit():
    entry = django_settings.CELERY_BEAT_SCHEDULE["ledger-audit"]
    assert entry["task"] == "payouts.jobs.ledger_audit"
    assert entry["schedule"] == float(django_settings.LEDGER_AUDIT_INTERVAL) == 3600.0
    assert "payouts.jobs.ledger_audit" in app.tasks


@pytest.mark.django_db
def test_a_clean_run_is_stored_and_emails_nobody(requester):
    staff_member(email="ops@example.com")
    deposit_through_stripe_records(requester, 5000, "cs_1")
    run_id = jobs.ledger_audit()
    run = LedgerCheckRun.objects.get(pk=run_id)
    assert (run.ok, run.source, run.violation_count, run.violations) == (True, "schedule", 0, [])
    assert run.check_count == len(audit.registered())
    assert (run.accounts, run.transactions, run.entries) == (2, 1, 2)
    assert run.finished_at >= run.started_at
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_violation_is_stored_and_emailed_to_active_staff(requester):
    staff_member(email="ops@example.com")
    staff_member(email="gone@example.com", is_active=False)
    UserFactory(email="worker@example.com")
    forge_deposit(requester, 100_000)
    run = LedgerCheckRun.objects.get(pk=jobs.ledger_audit())
    assert not run.ok
    assert run.violation_count == 2
    assert {v["check"] for v in run.violations} == {"deposit_not_backed", "clearing_vs_deposits"}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@example.com"]
    assert message.subject == (
        f"[Fairtask] Ledger audit {run.pk}: 2 violation(s) (clearing_vs_deposits, deposit_not_backed)"
    )
    assert "deposit_not_backed: deposit transaction" in message.body
    assert "has no Deposit behind it" in message.body


@pytest.mark.django_db
def test_ledger_check_record_stores_the_run_too(requester):
    forge_deposit(requester, 500)
    with pytest.raises(CommandError):
        call_command("ledger_check", "--record", stdout=StringIO(), stderr=StringIO())
    run = LedgerCheckRun.objects.get()
    assert (run.source, run.ok, run.violation_count) == ("command", False, 2)


@pytest.mark.django_db
def test_the_runtime_role_cannot_rewrite_an_audit_run(requester):
    run = LedgerCheckRun.objects.get(pk=jobs.ledger_audit())
    for statement in (
        "UPDATE payouts_ledgercheckrun SET ok = true",
        "DELETE FROM payouts_ledgercheckrun",
    ):
        with pytest.raises(Exception, match="permission denied"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert LedgerCheckRun.objects.get(pk=run.pk).ok is True


@pytest.mark.django_db
def test_the_staff_money_overview_shows_the_last_run(client, requester):
    client.force_login(staff_member())
    page = client.get(reverse("payouts:money_overview")).content.decode()
    assert "The ledger audit has not run yet" in page
    jobs.ledger_audit()
    forge_deposit(requester, 100_000)
    bad = LedgerCheckRun.objects.get(pk=jobs.ledger_audit())
    before = LedgerCheckRun.objects.count()
    page = client.get(reverse("payouts:money_overview")).content.decode()
    assert "2 violations" in page and "Staff were emailed" in page
    assert "<code>deposit_not_backed</code>" in page
    assert bad.violations[0]["detail"] in page
    assert LedgerCheckRun.objects.count() == before  # a GET runs nothing


@pytest.mark.celery_worker
def test_the_job_runs_in_a_real_worker_as_the_runtime_role(celery_worker, requester):
    deposit_through_stripe_records(requester, 5000, "cs_1")
    jobs.ledger_audit.delay()
    celery_worker.wait_for(lambda: LedgerCheckRun.objects.exists(), timeout=60)
    run = LedgerCheckRun.objects.get()
    assert (run.ok, run.source) == (True, "schedule")
