"""The ledger audit: named checks an auditor can read, run by ``manage.py ledger_check``
and by the ``payouts.jobs.ledger_audit`` beat job (which stores each run and emails staff
on a violation).

Each check is one SQL query returning one text row per violation (``detail``), reading
the tables directly rather than through the ORM, so rows written by anything that
bypassed ``payouts.ledger`` are judged the same way. ``payouts`` registers the ledger's
own checks below; other apps register checks about their own records from their
``AppConfig.ready()`` (``marketplace`` registers escrow against batches), so ``payouts``
never imports them. A check is a query, not a function, so that the whole audit runs in
one REPEATABLE READ snapshot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LedgerCheck:
    name: str
    description: str
    sql: str
    app: str = "payouts"
    # "ledger": the ledger's tables alone; "records": the ledger against other records
    # (deposits, batches), which tests that post directly through payouts.ledger skip.
    scope: str = "ledger"


@dataclass(frozen=True)
class Violation:
    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}"


@dataclass
class AuditResult:
    checks: list[LedgerCheck]
    violations: list[Violation]
    accounts: int = 0
    transactions: int = 0
    entries: int = 0
    started_at: Any = None
    finished_at: Any = None
    by_check: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


_REGISTRY: dict[str, LedgerCheck] = {}


def register(
    *, name: str, description: str, sql: str, app: str = "payouts", scope: str = "records"
) -> None:
    """Add a check (idempotent by name: registering the same name again replaces it,
    so a reloaded app does not run its check twice)."""
    if scope not in ("ledger", "records"):
        raise ValueError(f"scope is 'ledger' or 'records', not {scope!r}")
    _REGISTRY[name] = LedgerCheck(name=name, description=description, sql=sql, app=app, scope=scope)


def registered() -> list[LedgerCheck]:
    """Every check, ledger checks first, then other apps' in registration order."""
    return list(_REGISTRY.values())


def run(*, scope: str | None = None) -> AuditResult:
    """Run every registered check (or those of one ``scope``) and count the ledger's
    rows. Read-only; one snapshot when called outside a transaction (REPEATABLE READ
    READ ONLY), else the caller's."""
    checks = [c for c in registered() if scope is None or c.scope == scope]
    result = AuditResult(checks=checks, violations=[], started_at=timezone.now())
    fresh = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if fresh:
            # One snapshot for every check, so a post committing between two queries
            # cannot look like a mismatch; only possible as the transaction's first
            # statement.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for check in checks:
            cursor.execute(check.sql)
            rows = cursor.fetchall()
            result.by_check[check.name] = len(rows)
            result.violations.extend(Violation(check.name, detail) for (detail,) in rows)
        cursor.execute(
            "SELECT (SELECT count(*) FROM payouts_ledgeraccount),"
            " (SELECT count(*) FROM payouts_ledgertransaction),"
            " (SELECT count(*) FROM payouts_ledgerentry)"
        )
        result.accounts, result.transactions, result.entries = cursor.fetchone()
    result.finished_at = timezone.now()
    return result


def run_and_record(*, source: str) -> Any:
    """Run the audit, store it as a ``LedgerCheckRun`` and, on a violation, email every
    active staff member (and log an error). Returns the stored run."""
    from payouts.models import LedgerCheckRun

    result = run()
    run_row = LedgerCheckRun.objects.create(
        source=source,
        started_at=result.started_at,
        finished_at=result.finished_at,
        ok=result.ok,
        check_count=len(result.checks),
        violation_count=len(result.violations),
        violations=[{"check": v.name, "detail": v.detail} for v in result.violations[:500]],
        accounts=result.accounts,
        transactions=result.transactions,
        entries=result.entries,
    )
    if not result.ok:
        logger.error(
            "ledger audit %s found %s violation(s): %s",
            run_row.pk,
            len(result.violations),
            "; ".join(str(v) for v in result.violations[:20]),
        )
        _email_staff(run_row, result)
    return run_row


def last_run() -> Any:
    """The most recent stored audit run (``LedgerCheckRun``), or None."""
    from payouts.models import LedgerCheckRun

    return LedgerCheckRun.objects.order_by("-started_at", "-pk").first()


def _email_staff(run_row: Any, result: AuditResult) -> None:
    recipients = list(
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if not recipients:
        return
    names = sorted({v.name for v in result.violations})
    lines = [str(v) for v in result.violations[:100]]
    more = len(result.violations) - len(lines)
    send_mail(
        subject=f"[Fairtask] Ledger audit {run_row.pk}: {len(result.violations)} violation(s) "
        f"({', '.join(names)})",
        message="The scheduled ledger audit found violations. Run `manage.py ledger_check` "
        "for the full list and see docs/operations.md (Ledger audit).\n\n"
        + "\n".join(lines)
        + (f"\n… and {more} more" if more > 0 else ""),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )


# --- The ledger's own checks ----------------------------------------------------------------

# Allowed shapes: for each transaction kind, the sorted list of (account kind, sign) of its
# entries. ``stripe_fees`` (Stripe's processing fee, booked as the platform's cost) may
# appear on a deposit; a fee of 0 writes no entry. A reversal's shape is its original's
# negated (checked by ``reversal_mismatch``), so ``reverse`` is not listed here.
TRANSACTION_SHAPES: dict[str, tuple[str, ...]] = {
    "deposit": (
        "requester_available+,stripe_clearing-",
        "requester_available+,stripe_clearing-,stripe_fees-",
    ),
    "hold": ("batch_escrow+,requester_available-",),
    "release": ("batch_escrow-,requester_available+",),
    "settle": (
        "batch_escrow-,worker_available+",
        "batch_escrow-,platform_revenue+,worker_available+",
    ),
    "bonus": (
        "requester_available-,worker_available+",
        "platform_revenue+,requester_available-,worker_available+",
    ),
    # The request (balance → in flight) and the payment (in flight → Stripe clearing); a
    # failed withdrawal is the request's reversal. Money never goes from a balance
    # straight to clearing: it would skip the in-flight account the checks below count.
    "withdrawal": (
        "withdrawal_in_flight+,worker_available-",
        "stripe_clearing+,withdrawal_in_flight-",
    ),
    # A generic move between two user balances (no caller yet moves platform money so).
    "transfer": (
        "requester_available+,requester_available-",
        "worker_available+,worker_available-",
        "requester_available-,worker_available+",
        "requester_available+,worker_available-",
    ),
}


def _shapes_values() -> str:
    rows = [
        f"('{kind}', '{shape}')" for kind, shapes in TRANSACTION_SHAPES.items() for shape in shapes
    ]
    return ", ".join(rows)


def _shape_sql() -> str:
    return f"""
        WITH sig AS (
            SELECT t.id, t.idempotency_key, t.kind, t.reverses_id,
                   string_agg(a.kind || CASE WHEN e.amount_cents > 0 THEN '+' ELSE '-' END, ','
                              ORDER BY a.kind, e.amount_cents > 0 DESC) AS shape
              FROM payouts_ledgertransaction t
              JOIN payouts_ledgerentry e ON e.transaction_id = t.id
              JOIN payouts_ledgeraccount a ON a.id = e.account_id
             GROUP BY t.id)
        SELECT format('transaction %s (%s, kind %s) has entries %s; allowed: %s', s.id,
                      s.idempotency_key, s.kind, s.shape,
                      coalesce((SELECT string_agg(v.shape, ' | ') FROM (VALUES {_shapes_values()})
                                 AS v(kind, shape) WHERE v.kind = s.kind), 'a reversal of another transaction'))
          FROM sig s
         WHERE CASE
                 WHEN s.kind = 'reverse' THEN s.reverses_id IS NULL
                 ELSE s.reverses_id IS NOT NULL OR NOT EXISTS (
                        SELECT 1 FROM (VALUES {_shapes_values()}) AS v(kind, shape)
                         WHERE v.kind = s.kind AND v.shape = s.shape)
               END
         ORDER BY s.id"""


def _register_ledger_checks() -> None:
    register(
        name="unbalanced_transaction",
        scope="ledger",
        description="every transaction's entries sum to 0",
        sql="""
        SELECT format('transaction %s (%s) entries sum to %s cents', t.id, t.idempotency_key, s.total)
          FROM payouts_ledgertransaction t
          JOIN (SELECT transaction_id, sum(amount_cents) AS total FROM payouts_ledgerentry
                 GROUP BY transaction_id) s ON s.transaction_id = t.id
         WHERE s.total <> 0 ORDER BY t.id""",
    )
    register(
        name="too_few_entries",
        scope="ledger",
        description="every transaction has at least 2 entries",
        sql="""
        SELECT format('transaction %s (%s) has %s entr%s', t.id, t.idempotency_key, count(e.id),
                      CASE WHEN count(e.id) = 1 THEN 'y' ELSE 'ies' END)
          FROM payouts_ledgertransaction t LEFT JOIN payouts_ledgerentry e ON e.transaction_id = t.id
         GROUP BY t.id, t.idempotency_key HAVING count(e.id) < 2 ORDER BY t.id""",
    )
    register(
        name="balance_mismatch",
        scope="ledger",
        description="every account's balance_cents equals the sum of its entries",
        sql="""
        SELECT format('account %s (%s %s) balance_cents is %s but its entries sum to %s',
                      a.id, a.kind, coalesce(a.owner_id::text, a.ref), a.balance_cents, coalesce(s.total, 0))
          FROM payouts_ledgeraccount a
          LEFT JOIN (SELECT account_id, sum(amount_cents) AS total FROM payouts_ledgerentry
                      GROUP BY account_id) s ON s.account_id = a.id
         WHERE a.balance_cents <> coalesce(s.total, 0) ORDER BY a.id""",
    )
    register(
        name="balance_after_mismatch",
        scope="ledger",
        description="every entry's balance_after_cents is its account's balance just after it "
        "(the running sum of the account's entries up to it)",
        sql="""
        SELECT format('entry %s (account %s) says the balance after it is %s but the running sum is %s',
                      r.id, r.account_id, r.balance_after_cents, r.running)
          FROM (SELECT id, account_id, balance_after_cents,
                       sum(amount_cents) OVER (PARTITION BY account_id ORDER BY id) AS running
                  FROM payouts_ledgerentry) r
         WHERE r.running <> r.balance_after_cents ORDER BY r.id""",
    )
    register(
        name="forbidden_negative_balance",
        scope="ledger",
        description="no account below 0 except stripe_clearing (and stripe_fees, a cost)",
        sql="""
        SELECT format('account %s (%s %s) is at %s cents and may not go below 0',
                      a.id, a.kind, coalesce(a.owner_id::text, a.ref), a.balance_cents)
          FROM payouts_ledgeraccount a
         WHERE a.balance_cents < 0 AND (NOT a.allow_negative OR a.kind NOT IN ('stripe_clearing', 'stripe_fees'))
         ORDER BY a.id""",
    )
    register(
        name="negative_allowed_on_wrong_kind",
        scope="ledger",
        description="allow_negative only (and always) on stripe_clearing and stripe_fees",
        sql="""
        SELECT format('account %s (%s) has allow_negative=%s', a.id, a.kind, a.allow_negative)
          FROM payouts_ledgeraccount a
         WHERE a.allow_negative <> (a.kind IN ('stripe_clearing', 'stripe_fees')) ORDER BY a.id""",
    )
    register(
        name="duplicate_idempotency_key",
        scope="ledger",
        description="idempotency keys are unique",
        sql="""
        SELECT format('idempotency key %s is used by %s transactions', idempotency_key, count(*))
          FROM payouts_ledgertransaction GROUP BY idempotency_key HAVING count(*) > 1
         ORDER BY idempotency_key""",
    )
    register(
        name="zero_amount_entry",
        scope="ledger",
        description="no entry of 0 cents",
        sql="""
        SELECT format('entry %s of transaction %s is 0 cents', e.id, e.transaction_id)
          FROM payouts_ledgerentry e WHERE e.amount_cents = 0 ORDER BY e.id""",
    )
    register(
        name="reversal_mismatch",
        scope="ledger",
        description="each reversal's entries are exactly its original's negated",
        sql="""
        SELECT format('transaction %s reverses %s but its entries are not their negation', r.id, r.reverses_id)
          FROM payouts_ledgertransaction r
         WHERE r.reverses_id IS NOT NULL AND EXISTS (
               (SELECT account_id, -amount_cents FROM payouts_ledgerentry WHERE transaction_id = r.reverses_id
                EXCEPT ALL
                SELECT account_id, amount_cents FROM payouts_ledgerentry WHERE transaction_id = r.id)
               UNION ALL
               (SELECT account_id, amount_cents FROM payouts_ledgerentry WHERE transaction_id = r.id
                EXCEPT ALL
                SELECT account_id, -amount_cents FROM payouts_ledgerentry WHERE transaction_id = r.reverses_id))
         ORDER BY r.id""",
    )
    register(
        name="ledger_total_not_zero",
        scope="ledger",
        description="all balances together sum to 0",
        sql="""
        SELECT format('all balances together sum to %s cents, not 0', total)
          FROM (SELECT coalesce(sum(balance_cents), 0) AS total FROM payouts_ledgeraccount) t
         WHERE total <> 0""",
    )
    register(
        name="transaction_shape",
        scope="ledger",
        description="each transaction's entries have its kind's shape (deposit: requester +, "
        "clearing − [, stripe fees −]; hold: requester −, escrow +; release: escrow −, "
        "requester +; settle: escrow −, worker + [, revenue +]; bonus: requester −, worker + "
        "[, revenue +]; withdrawal: worker −, in flight + then in flight −, clearing +; "
        "reverse: reverses another)",
        sql=_shape_sql(),
    )
    register(
        name="deposit_not_backed",
        description="every deposit transaction belongs to a completed Deposit of the same "
        "requester, amount, currency and Checkout Session",
        sql="""
        WITH credit AS (
            SELECT t.id, t.idempotency_key, t.external_ref, e.amount_cents, a.owner_id, a.currency
              FROM payouts_ledgertransaction t
              JOIN payouts_ledgerentry e ON e.transaction_id = t.id
              JOIN payouts_ledgeraccount a ON a.id = e.account_id AND a.kind = 'requester_available'
             WHERE t.kind = 'deposit')
        SELECT CASE WHEN d.id IS NULL
                    THEN format('deposit transaction %s (%s) of %s cents has no Deposit behind it',
                                c.id, c.idempotency_key, c.amount_cents)
                    ELSE format('deposit transaction %s (%s): Deposit %s is %s, %s %s cents to user %s'
                                ' (session %s); the ledger credits %s %s cents to user %s (session %s)',
                                c.id, c.idempotency_key, d.id, d.status, d.currency,
                                coalesce(d.credited_cents, d.amount_cents), d.user_id,
                                d.checkout_session_id, c.currency, c.amount_cents, c.owner_id,
                                c.external_ref)
               END
          FROM credit c LEFT JOIN payouts_deposit d ON d.ledger_transaction_id = c.id
         WHERE d.id IS NULL
            OR d.status <> 'completed'
            OR coalesce(d.credited_cents, d.amount_cents) <> c.amount_cents
            OR lower(d.currency) <> c.currency
            OR d.user_id IS DISTINCT FROM c.owner_id
            OR d.checkout_session_id IS DISTINCT FROM c.external_ref
         ORDER BY c.id""",
    )
    register(
        name="completed_deposit_not_credited",
        description="every completed Deposit is credited by a deposit transaction",
        sql="""
        SELECT format('Deposit %s is completed but its ledger transaction %s is %s',
                      d.id, d.ledger_transaction_id, coalesce('of kind ' || t.kind, 'missing'))
          FROM payouts_deposit d LEFT JOIN payouts_ledgertransaction t ON t.id = d.ledger_transaction_id
         WHERE d.status = 'completed' AND (t.id IS NULL OR t.kind <> 'deposit')
         ORDER BY d.id""",
    )
    register(
        name="clearing_vs_deposits",
        description="what deposit transactions took from Stripe clearing (and Stripe fees) "
        "equals what completed Deposits credited",
        sql="""
        WITH ledger AS (
            SELECT coalesce(-sum(e.amount_cents), 0) AS took
              FROM payouts_ledgerentry e
              JOIN payouts_ledgertransaction t ON t.id = e.transaction_id AND t.kind = 'deposit'
              JOIN payouts_ledgeraccount a ON a.id = e.account_id
             WHERE a.kind IN ('stripe_clearing', 'stripe_fees')),
        deposits AS (
            SELECT coalesce(sum(coalesce(credited_cents, amount_cents)), 0) AS credited
              FROM payouts_deposit WHERE status = 'completed')
        SELECT format('deposit transactions took %s cents from Stripe clearing and fees, but '
                      'completed Deposits credited %s cents', l.took, d.credited)
          FROM ledger l, deposits d WHERE l.took <> d.credited""",
    )
    register(
        name="withdrawal_in_flight_vs_withdrawals",
        description="each worker's withdrawal-in-flight balance equals their requested or "
        "processing withdrawals, and each paid withdrawal was posted paid once",
        sql="""
        WITH flight AS (
            SELECT a.owner_id, a.balance_cents FROM payouts_ledgeraccount a
             WHERE a.kind = 'withdrawal_in_flight'),
        open AS (
            SELECT worker_id, sum(amount_cents) AS total FROM payouts_withdrawal
             WHERE status IN ('requested', 'processing') GROUP BY worker_id)
        SELECT format('worker %s: withdrawal in flight holds %s cents, open withdrawals total %s',
                      coalesce(f.owner_id, o.worker_id), coalesce(f.balance_cents, 0), coalesce(o.total, 0))
          FROM flight f FULL JOIN open o ON o.worker_id = f.owner_id
         WHERE coalesce(f.balance_cents, 0) <> coalesce(o.total, 0)
        UNION ALL
        SELECT format('withdrawal %s is paid but has no withdrawal-paid transaction', w.id)
          FROM payouts_withdrawal w
         WHERE w.status = 'paid' AND NOT EXISTS (
               SELECT 1 FROM payouts_ledgertransaction t
                WHERE t.idempotency_key = 'withdrawal-paid-' || w.id)""",
    )
    register(
        name="ledger_triggers_enabled",
        scope="ledger",
        description="every ledger trigger exists and is ENABLE ALWAYS",
        sql=f"""
        SELECT format('trigger %s on %s is %s', x.tgname, x.tbl,
                      coalesce(CASE t.tgenabled WHEN 'D' THEN 'disabled' WHEN 'O' THEN 'enabled only '
                               'for origin sessions (not ALWAYS)' WHEN 'R' THEN 'enabled only for '
                               'replica sessions' END, 'missing'))
          FROM (VALUES {", ".join(f"('{t}', '{n}')" for t, n in LEDGER_TRIGGERS)}) AS x(tbl, tgname)
          LEFT JOIN pg_trigger t ON t.tgname = x.tgname AND t.tgrelid = to_regclass(x.tbl)
         WHERE t.oid IS NULL OR t.tgenabled <> 'A'
         ORDER BY x.tbl, x.tgname""",
    )


# Every trigger the ledger relies on (migrations 0003, 0005, 0006, 0009 and 0010), all
# ENABLE ALWAYS.
LEDGER_TRIGGERS: tuple[tuple[str, str], ...] = (
    ("payouts_ledgeraccount", "ledger_account_guard"),
    ("payouts_ledgeraccount", "ledger_account_no_truncate"),
    ("payouts_ledgertransaction", "ledger_transaction_append_only"),
    ("payouts_ledgertransaction", "ledger_transaction_balanced"),
    ("payouts_ledgertransaction", "ledger_transaction_stamp"),
    ("payouts_ledgertransaction", "ledger_transaction_no_truncate"),
    ("payouts_ledgerentry", "ledger_entry_append_only"),
    ("payouts_ledgerentry", "ledger_entry_balanced"),
    ("payouts_ledgerentry", "ledger_entry_apply"),
    ("payouts_ledgerentry", "ledger_entry_apply_balances"),
    ("payouts_ledgerentry", "ledger_entry_sealed"),
    ("payouts_ledgerentry", "ledger_entry_no_truncate"),
)

_register_ledger_checks()
