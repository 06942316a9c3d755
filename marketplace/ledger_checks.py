"""Ledger audit checks about batches (``payouts`` knows a batch only by its id, so the
marketplace registers these with ``payouts.audit`` from its ``AppConfig.ready()``).

Escrow follows the batch's life (docs/money.md):

* published: ``hold-batch-<id>`` moved ``escrow_held_cents`` (= the quoted total) from the
  batch owner's balance into the batch's escrow;
* live (published, paused): only settlements and the final release of a rejection
  (``release-batch-<id>-rejected-<assignment id>``, once its dispute window closed) take
  money out, so the escrow equals what was held minus what was settled (a settle
  reversed puts it back) minus those releases;
* closed (cancelled, expired, completed): the close released everything not owed to work
  in progress, so the escrow is never below what that work is still owed (reward + fee
  of accepted, submitted, approved or rejected assignments not yet settled); work
  returned or expired after the close leaves its share until the final release; once the
  batch's escrow is settled (``escrow_settled_at``) it is empty.
"""

from __future__ import annotations

from payouts import audit

_OWED = """
    SELECT tk.batch_id, sum(asg.reward_cents + asg.fee_cents) AS owed
      FROM tasks_assignment asg JOIN marketplace_task tk ON tk.id = asg.task_id
     WHERE asg.settled_at IS NULL
       AND asg.status IN ('accepted', 'submitted', 'approved', 'rejected')
     GROUP BY tk.batch_id"""

_ESCROW = """
    SELECT substring(a.ref FROM 7)::bigint AS batch_id, a.id AS account_id, a.balance_cents,
           coalesce(sum(e.amount_cents) FILTER (
               WHERE t.kind = 'settle'
                  OR (t.kind = 'reverse' AND o.kind = 'settle')), 0) AS settled,
           coalesce(sum(e.amount_cents) FILTER (WHERE t.kind = 'hold'), 0) AS held,
           coalesce(sum(e.amount_cents) FILTER (
               WHERE t.kind = 'release'
                 AND t.idempotency_key ~ '^release-batch-[0-9]+-rejected-[0-9]+$'), 0) AS rejected
      FROM payouts_ledgeraccount a
      LEFT JOIN payouts_ledgerentry e ON e.account_id = a.id
      LEFT JOIN payouts_ledgertransaction t ON t.id = e.transaction_id
      LEFT JOIN payouts_ledgertransaction o ON o.id = t.reverses_id
     WHERE a.kind = 'batch_escrow' AND a.ref ~ '^batch:[0-9]+$'
     GROUP BY a.id"""


def register() -> None:
    audit.register(
        app="marketplace",
        name="escrow_without_batch",
        description="every escrow account belongs to an existing batch",
        sql="""
        SELECT format('escrow account %s (%s, %s cents) belongs to no batch', a.id, a.ref, a.balance_cents)
          FROM payouts_ledgeraccount a
          LEFT JOIN marketplace_batch b ON a.ref ~ '^batch:[0-9]+$' AND b.id = substring(a.ref FROM 7)::bigint
         WHERE a.kind = 'batch_escrow' AND b.id IS NULL
         ORDER BY a.id""",
    )
    audit.register(
        app="marketplace",
        name="escrow_hold_vs_batch",
        description="a batch was published exactly when its hold moved the quoted total from "
        "its owner's balance into its escrow",
        sql=r"""
        WITH hold AS (
            SELECT t.id, t.idempotency_key,
                   substring(t.idempotency_key FROM '^hold-batch-([0-9]+)$')::bigint AS key_batch,
                   max(substring(a.ref FROM 7)) FILTER (WHERE a.kind = 'batch_escrow') AS escrow_batch,
                   max(e.amount_cents) FILTER (WHERE a.kind = 'batch_escrow') AS amount,
                   max(a.owner_id) FILTER (WHERE a.kind = 'requester_available') AS payer
              FROM payouts_ledgertransaction t
              JOIN payouts_ledgerentry e ON e.transaction_id = t.id
              JOIN payouts_ledgeraccount a ON a.id = e.account_id
             WHERE t.kind = 'hold' GROUP BY t.id),
        published AS (
            SELECT b.* FROM marketplace_batch b
             WHERE b.published_at IS NOT NULL OR b.status IN ('published', 'paused')
                OR b.escrow_held_cents <> 0)
        SELECT format('hold %s (%s) names batch %s but moves %s cents into the escrow of batch %s',
                      h.id, h.idempotency_key, coalesce(h.key_batch::text, '?'), h.amount, h.escrow_batch)
          FROM hold h WHERE h.key_batch IS NULL OR h.key_batch::text IS DISTINCT FROM h.escrow_batch
        UNION ALL
        SELECT format('batch %s (%s) has escrow_held_cents %s and total %s but %s', b.id, b.status,
                      b.escrow_held_cents, b.total_cost_cents,
                      CASE WHEN h.id IS NULL THEN 'no hold transaction'
                           WHEN h.payer IS DISTINCT FROM b.owner_id
                           THEN format('its hold %s was paid by user %s, not its owner %s', h.id, h.payer, b.owner_id)
                           WHEN b.published_at IS NULL THEN 'no publish time'
                           ELSE format('its hold %s moved %s cents', h.id, h.amount) END)
          FROM published b LEFT JOIN hold h ON h.key_batch = b.id
         WHERE h.id IS NULL OR h.payer IS DISTINCT FROM b.owner_id OR b.published_at IS NULL
            OR h.amount IS DISTINCT FROM b.escrow_held_cents
            OR b.escrow_held_cents IS DISTINCT FROM b.total_cost_cents
        UNION ALL
        SELECT format('batch %s is %s (never published) but has hold %s of %s cents',
                      b.id, b.status, h.id, h.amount)
          FROM marketplace_batch b JOIN hold h ON h.key_batch = b.id
         WHERE b.id NOT IN (SELECT id FROM published)""",
    )
    audit.register(
        app="marketplace",
        name="escrow_live_batch",
        description="a live batch's escrow equals what was held minus what was settled and "
        "released for final rejections, and covers what its work is owed",
        sql=f"""
        WITH esc AS ({_ESCROW}), owed AS ({_OWED})
        SELECT format('batch %s (%s): escrow is %s cents; held %s − settled %s%s = %s expected; '
                      'its work is owed %s', b.id, b.status, esc.balance_cents, b.escrow_held_cents,
                      -esc.settled,
                      CASE WHEN esc.rejected <> 0
                           THEN format(' − rejections released %s', -esc.rejected) ELSE '' END,
                      b.escrow_held_cents + esc.settled + esc.rejected, coalesce(owed.owed, 0))
          FROM marketplace_batch b
          JOIN esc ON esc.batch_id = b.id
          LEFT JOIN owed ON owed.batch_id = b.id
         WHERE b.status IN ('published', 'paused')
           AND (esc.balance_cents <> b.escrow_held_cents + esc.settled + esc.rejected
                OR esc.balance_cents < coalesce(owed.owed, 0))
         ORDER BY b.id""",
    )
    audit.register(
        app="marketplace",
        name="escrow_closed_batch",
        description="a closed batch's escrow is never below what its work is still owed, and "
        "is empty once its escrow is settled",
        sql=f"""
        WITH esc AS ({_ESCROW}), owed AS ({_OWED})
        SELECT format('batch %s (%s%s): escrow is %s cents but its work is still owed %s cents',
                      b.id, b.status, CASE WHEN b.escrow_settled_at IS NULL THEN '' ELSE ', escrow settled' END,
                      esc.balance_cents, coalesce(owed.owed, 0))
          FROM marketplace_batch b
          JOIN esc ON esc.batch_id = b.id
          LEFT JOIN owed ON owed.batch_id = b.id
         WHERE b.status IN ('cancelled', 'expired', 'completed')
           AND (esc.balance_cents < coalesce(owed.owed, 0)
                OR (b.escrow_settled_at IS NOT NULL AND esc.balance_cents <> coalesce(owed.owed, 0)))
         ORDER BY b.id""",
    )
