"""Helpers shared by the ledger tests (imported, not fixtures)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from marketplace import services
from marketplace.models import Task
from payouts import ledger
from payouts.models import Deposit, LedgerAccount, LedgerTransaction
from tasks.models import Assignment


def balances() -> dict[int, int]:
    """Every account's balance_cents, by pk, read from the database."""
    return dict(LedgerAccount.objects.values_list("pk", "balance_cents"))


def run_deferred_checks() -> None:
    """Fire the deferred constraint triggers now (as COMMIT would), then defer again."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def nonzero_balances() -> dict[int, int]:
    """Like ``balances()`` without accounts at 0 (creating an empty account moves nothing)."""
    return {pk: cents for pk, cents in balances().items() if cents}


@contextmanager
def owner_connection() -> Iterator:
    """A separate connection to the test database as the owner role (who may disable
    triggers and drop constraints), in one transaction committed at the end of the block
    (rolled back on an exception). It sees only what the test has committed: use it from
    transactional tests. Triggers it disables must be re-enabled before the block ends."""
    import psycopg
    from django.conf import settings

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    owner = settings.DATABASE_OWNER or {}
    for key, param in (
        ("USER", "user"),
        ("PASSWORD", "password"),
        ("HOST", "host"),
        ("PORT", "port"),
    ):
        if owner.get(key):
            params[param] = owner[key]
    with psycopg.connect(**params) as conn:
        yield conn


@contextmanager
def corrupt_as_owner(*, disable: tuple[tuple[str, str], ...] = ()) -> Iterator:
    """A cursor of the owner role with the given ledger triggers disabled; at the end of
    the block they are enabled again (ALWAYS) and the corruption committed: what only
    the owner could do (the runtime role may not disable a trigger), for ledger_check to
    find."""
    with owner_connection() as conn, conn.cursor() as cursor:
        for table, trigger in disable:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        yield cursor
        # Deferred events (foreign keys) must fire before a table's triggers can change.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, trigger in disable:
            cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")


def violations_seen_by(cursor) -> tuple[set[str], str]:
    """Run every audit check's query on ``cursor`` (e.g. the owner's, inside a
    corruption it will roll back): the check names that found something, and the text."""
    from payouts import audit

    names, lines = set(), []
    for check in audit.registered():
        cursor.execute(check.sql)
        for (detail,) in cursor.fetchall():
            names.add(check.name)
            lines.append(f"{check.name}: {detail}")
    return names, "\n".join(lines)


# --- Records behind the ledger, as the services write them ---------------------------------


def deposit_through_stripe_records(user, amount_cents: int, session: str) -> LedgerTransaction:
    """A completed Deposit and its ledger credit, as the Checkout webhook writes them."""
    txn = ledger.deposit(
        key=f"deposit-{session}", user=user, amount_cents=amount_cents, external_ref=session
    )
    Deposit.objects.create(
        user=user,
        amount_cents=amount_cents,
        credited_cents=amount_cents,
        status=Deposit.Status.COMPLETED,
        checkout_session_id=session,
        ledger_transaction=txn,
        completed_at=timezone.now(),
    )
    return txn


def published_batch(requester, tmp_path, settings, rows: int = 10):
    """A batch of ``rows`` tasks (10¢ reward + 2¢ fee each) published: held in escrow."""
    settings.FAIRTASK_UPLOAD_DIR = tmp_path / "uploads"
    project = services.project_create(
        owner=requester,
        title="Classify support tickets",
        template_kind="text_classification",
        template_config={"labels": ["Question", "Complaint", "Other"]},
        reward_cents=10,
        estimated_seconds=30,
        assignments_per_task=1,
    )
    content = "text,source\n" + "".join(f"Ticket {i},email\n" for i in range(rows))
    batch = services.batch_upload(
        project=project, user=requester, fileobj=io.BytesIO(content.encode()), filename="b.csv"
    )
    return services.batch_publish(batch=batch, user=requester)


def approve_and_settle(batch, worker, row: int) -> tuple[Assignment, LedgerTransaction]:
    task = Task.objects.filter(batch=batch).order_by("row_number")[row]
    now = timezone.now()
    assignment = Assignment.objects.create(
        task=task,
        batch=batch,
        worker=worker,
        status="approved",
        accepted_at=now,
        deadline=now + timedelta(hours=1),
        submitted_at=now,
        auto_approve_at=now,
        reward_cents=batch.reward_cents,
        fee_cents=batch.fee_cents,
    )
    txn = ledger.settle(
        key=f"settle-{assignment.pk}",
        batch_id=batch.pk,
        worker=worker,
        reward_cents=assignment.reward_cents,
        fee_cents=assignment.fee_cents,
    )
    Assignment.objects.filter(pk=assignment.pk).update(settled_at=now)
    return assignment, txn
