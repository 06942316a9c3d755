"""Batch services: upload and import, publish, pause, resume, cancel, expire.

Locking protocol (read this before touching a batch from another app):

* Every status change locks the batch row with ``SELECT ... FOR NO KEY UPDATE``
  (``_lock``), re-reads it and checks the move against ``BATCH_TRANSITIONS``.
  ``FOR NO KEY UPDATE`` rather than ``FOR UPDATE`` because inserting tasks (the import's
  COPY) takes ``FOR KEY SHARE`` on the batch through the foreign key, and those two do
  not conflict: a cancel of another batch, or a progress read, never waits on an import.
* Whatever binds or frees escrow of a batch outside these services (the worker side's
  claim, settlement of an approval or a final rejection) must first take ``FOR SHARE``
  on the batch row (``marketplace.locking.lock_batches(shared=...)``) and check its
  status under that lock. That conflicts with ``FOR NO KEY UPDATE``, so a cancel/expiry
  computes "escrow still owed to work in progress" (``BatchCounter.owed_cents``, after
  locking the counter rows) from a state nobody can change under it, while claims and
  settlements of one batch still run concurrently with each other. The figures that
  chose ``FOR SHARE`` over a lock-free protocol: docs/performance.md, "Claim protocol".
* Ledger accounts are locked by ``payouts.ledger`` after the batch row (batch first,
  then accounts, always), inside the same transaction, so the money and the status
  move together or not at all.

Idempotency keys (``payouts.ledger``): ``hold-batch-<id>``,
``release-batch-<id>-cancel``, ``release-batch-<id>-expire``, ``release-batch-<id>-final``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import DataError, connection, transaction
from django.utils import timezone

from core import limits
from core.errors import ApplicationError, require_transition
from core.money import format_cents
from core.text import clean_text
from marketplace import counters, templating, uploads
from marketplace.locking import lock_batches
from marketplace.models import (
    BATCH_CLOSED_STATUSES,
    BATCH_LIVE_STATUSES,
    BATCH_TRANSITIONS,
    Batch,
    BatchEvent,
    BatchStatus,
    Project,
    Task,
    User,
)
from marketplace.selectors import batch_quote, escrow_owed_cents
from marketplace.services.listings import listing_refresh_on_commit
from marketplace.services.projects import pay_floor_error
from payouts import fees, ledger

log = logging.getLogger(__name__)

# Namespace of the advisory lock that makes one import of a batch run at a time.
IMPORT_LOCK_NAMESPACE = 0x46540004

# "This batch <state> and cannot be <verb>."
_STATE: dict[str, str] = {
    BatchStatus.IMPORTING: "is still importing",
    BatchStatus.FAILED: "failed to import",
    BatchStatus.DRAFT: "is a draft",
    BatchStatus.PUBLISHED: "is published",
    BatchStatus.PAUSED: "is paused",
    BatchStatus.CANCELLED: "is cancelled",
    BatchStatus.EXPIRED: "has expired",
    BatchStatus.COMPLETED: "is completed",
}
_VERB: dict[str, str] = {
    BatchStatus.IMPORTING: "imported",
    BatchStatus.FAILED: "marked as failed",
    BatchStatus.DRAFT: "made a draft",
    BatchStatus.PUBLISHED: "published",
    BatchStatus.PAUSED: "paused",
    BatchStatus.CANCELLED: "cancelled",
    BatchStatus.EXPIRED: "expired",
    BatchStatus.COMPLETED: "completed",
}


# --- Status moves ------------------------------------------------------------------------


def _lock(batch_id: int) -> Batch:
    """The batch row, locked ``FOR NO KEY UPDATE`` until the transaction ends
    (``marketplace.locking``: lock timeout mapped to ``busy``), then read."""
    lock_batches(exclusive=[batch_id])
    return Batch.objects.select_related("project").get(pk=batch_id)


def _require_owner(batch: Batch, user: User) -> None:
    if batch.owner_id != user.pk:
        raise ApplicationError("Batch not found.", code="not_found", status=404)


def batch_transition(
    *,
    batch: Batch,
    to: str,
    actor: User | None,
    reason: str = "",
    update_fields: tuple[str, ...] = (),
) -> BatchEvent:
    """Move ``batch`` to status ``to`` and record a ``BatchEvent`` (old, new, actor, time,
    reason). Saves ``status``, ``updated_at`` and ``update_fields`` in one UPDATE.

    The caller must hold the batch row lock (``_lock``) inside ``transaction.atomic``,
    so the check and the write see the same status. Raises ApplicationError
    (``illegal_transition``, 409) for a move not in ``BATCH_TRANSITIONS``, e.g. "This
    batch is cancelled and cannot be published."
    """
    if not connection.in_atomic_block:
        raise RuntimeError(
            "batch_transition must run inside transaction.atomic with the batch locked"
        )
    old = batch.status
    require_transition(
        BATCH_TRANSITIONS, old, to, lambda: f"This batch {_STATE[old]} and cannot be {_VERB[to]}."
    )
    now = timezone.now()
    batch.status = to
    batch.updated_at = now
    batch.save(update_fields=["status", "updated_at", *update_fields])
    # The task browser's card shows or hides this batch's work as soon as this commits.
    listing_refresh_on_commit(project_id=batch.project_id)
    return BatchEvent.objects.create(
        batch=batch, old_status=old, new_status=to, actor=actor, reason=reason, created_at=now
    )


# --- Upload and import -------------------------------------------------------------------


def _enqueue_import(batch_id: int) -> None:
    from marketplace.jobs import import_batch  # the jobs module imports these services

    import_batch.delay(batch_id)


def batch_upload(
    *, project: Project, user: User, fileobj: IO[bytes], filename: str, name: str = ""
) -> Batch:
    """Create a batch of ``project`` from an uploaded CSV or JSONL file (binary file
    object, e.g. Django's ``UploadedFile``; format from ``filename``).

    The file is streamed to ``FAIRTASK_UPLOAD_DIR`` (hashing it) and its header / first
    object checked at once. Up to ``FAIRTASK_UPLOAD_SYNC_MAX_BYTES`` it is imported
    right here and the batch returned as a ``draft``; above that the batch is returned
    in ``importing`` and the ``import_batch`` job, enqueued on commit, imports it
    (``batch_import``), ending in ``draft`` or in ``failed`` with its errors stored.

    Errors found here (before any batch exists) raise and create nothing: no batch, no
    task, no file left. Raises ApplicationError: not the owner (404), archived project
    (409), ``UploadInvalid`` (code ``invalid_upload``; ``extra`` has the first 50
    errors with row/column and the total count) for a bad file name, an empty file, one
    over ``FAIRTASK_UPLOAD_MAX_BYTES``, a header missing a placeholder's column, invalid
    UTF-8, rows with too many or too few fields, bad JSON... Locks: none beyond the
    new batch's own rows.
    """
    if project.owner_id != user.pk:
        raise ApplicationError("Project not found.", code="not_found", status=404)
    # The project's current template and status, not the caller's copy of them.
    project = Project.objects.get(pk=project.pk)
    if project.is_archived:
        raise ApplicationError(
            "This project is archived; restore it before uploading a batch.",
            code="project_archived",
            status=409,
        )
    name = clean_text(
        name or "", label="The batch name", maximum=limits.BATCH_NAME_CHARS, field="name"
    )
    stored = uploads.store_upload(fileobj=fileobj, filename=filename)
    handed_off = False
    shared_name = ""
    try:
        required = templating.placeholders(project.template_html)
        uploads.precheck(path=stored.path, fmt=stored.format, required=required)
        now = timezone.now()
        asynchronous = stored.size > settings.FAIRTASK_UPLOAD_SYNC_MAX_BYTES
        if asynchronous:
            # Into the storage the worker hosts read (S3 in production) before the batch
            # row that names it exists.
            shared_name = uploads.share_upload(stored)
        with transaction.atomic():
            batch = Batch.objects.create(
                project=project,
                owner=user,
                name=name or stored.original_filename,
                status=BatchStatus.IMPORTING,
                template_html=project.template_html,
                assignments_per_task=project.assignments_per_task,
                original_filename=stored.original_filename,
                upload_format=stored.format,
                upload_size=stored.size,
                upload_sha256=stored.sha256,
                upload_path=shared_name,
                created_at=now,
                updated_at=now,
            )
            BatchEvent.objects.create(
                batch=batch,
                old_status="",
                new_status=BatchStatus.IMPORTING,
                actor=user,
                reason="uploaded",
                created_at=now,
            )
            if asynchronous:
                # robust: a broker outage must not turn a stored upload into a 500;
                # the expiry job re-enqueues imports that have not started.
                transaction.on_commit(lambda: _enqueue_import(batch.pk), robust=True)
                handed_off = True
            else:
                # The batch is not committed yet, so nobody could read progress: none.
                batch = _import(
                    batch=batch, path=stored.path, actor=user, progress=None, started_at=now
                )
        return batch
    except BaseException:
        handed_off = False
        raise
    finally:
        if not handed_off:
            stored.path.unlink(missing_ok=True)
            uploads.remove_upload(shared_name)


def _import(
    *,
    batch: Batch,
    path: Path,
    actor: User | None,
    progress: uploads.ProgressWriter | None,
    started_at: datetime,
) -> Batch:
    """COPY the file's rows and move the batch importing → draft. Runs inside the
    caller's atomic block; raises UploadInvalid (caller rolls back)."""
    try:
        result = uploads.import_rows(
            batch_id=batch.pk,
            path=path,
            fmt=batch.upload_format,
            required=templating.placeholders(batch.template_html),
            assignments_needed=batch.assignments_per_task,
            progress=progress,
        )
    except DataError as exc:  # a value PostgreSQL refuses that validation let through
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise uploads.UploadInvalid.single(f"A row could not be stored: {detail}") from exc
    locked = _lock(batch.pk)
    locked.task_count = result.task_count
    locked.gold_task_count = result.gold_task_count
    locked.rows_processed = result.task_count
    locked.bytes_processed = locked.upload_size
    locked.import_started_at = started_at
    locked.import_finished_at = timezone.now()
    locked.upload_path = ""
    batch_transition(
        batch=locked,
        to=BatchStatus.DRAFT,
        actor=actor,
        reason=f"{result.task_count:,} row{'' if result.task_count == 1 else 's'} imported",
        update_fields=(
            "task_count",
            "gold_task_count",
            "rows_processed",
            "bytes_processed",
            "import_started_at",
            "import_finished_at",
            "upload_path",
        ),
    )
    return locked


def _try_import_lock(batch_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)",
            [IMPORT_LOCK_NAMESPACE, batch_id % 2_147_483_647],
        )
        return bool(cursor.fetchone()[0])


def _fail_import(batch_id: int, errors: list[dict], error_count: int) -> Batch | None:
    with transaction.atomic():
        batch = _lock(batch_id)
        if batch.status != BatchStatus.IMPORTING:
            return batch
        path = batch.upload_path
        batch.import_errors = errors
        batch.import_error_count = error_count
        batch.import_finished_at = timezone.now()
        batch.upload_path = ""
        batch_transition(
            batch=batch,
            to=BatchStatus.FAILED,
            actor=None,
            reason=f"{error_count:,} error(s) in the file",
            update_fields=(
                "import_errors",
                "import_error_count",
                "import_finished_at",
                "upload_path",
            ),
        )
        transaction.on_commit(lambda: uploads.remove_upload(path))
        return batch


def batch_import(*, batch_id: int) -> Batch | None:
    """Import the stored file of an ``importing`` batch (the ``import_batch`` job body).

    One transaction: COPY every row, then move the batch to ``draft``. A bad file rolls
    it back and a second transaction moves the batch to ``failed`` with the first 50
    errors and their count. Progress (``rows_processed``, ``bytes_processed``) is
    committed meanwhile through a second connection (``uploads.ProgressWriter``).

    Idempotent: a batch that is no longer ``importing`` (a retry after success or
    failure) is returned untouched; after a crash mid-import the rollback left nothing,
    so a rerun starts clean. Locks: a transaction-level advisory lock per batch (a
    duplicate delivery running at the same time returns at once), then the batch row
    (``FOR NO KEY UPDATE``) for the final status change only. Returns the batch (None if
    it does not exist). Database errors other than refused data propagate, so the job
    retries.
    """
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None or batch.status != BatchStatus.IMPORTING:
        return batch
    progress: uploads.ProgressWriter | None = None
    started_at = timezone.now()
    try:
        with transaction.atomic():
            if not _try_import_lock(batch_id):
                log.info("batch %s: another import is running; this one stops", batch_id)
                return batch
            # Re-read under the lock: a run that finished just before us has committed.
            batch = Batch.objects.select_related("project").get(pk=batch_id)
            if batch.status != BatchStatus.IMPORTING:
                return batch
            relative = batch.upload_path
            with uploads.local_copy(relative) as path:
                if path is None:
                    raise uploads.UploadInvalid.single(
                        "The uploaded file is no longer available; please upload it again."
                    )
                progress = uploads.ProgressWriter(batch_id)
                imported = _import(
                    batch=batch, path=path, actor=None, progress=progress, started_at=started_at
                )
            transaction.on_commit(lambda: uploads.remove_upload(relative))
            return imported
    except uploads.UploadInvalid as exc:
        return _fail_import(batch_id, exc.extra["errors"], exc.extra["error_count"])
    finally:
        if progress is not None:
            progress.close()


def batch_import_abandon(*, batch_id: int, message: str) -> Batch | None:
    """Move an ``importing`` batch to ``failed`` with ``message`` (the job calls this
    when an import cannot be completed, e.g. retries exhausted). Idempotent."""
    return _fail_import(
        batch_id, [{"row": None, "line": None, "column": None, "message": message}], 1
    )


# --- Publish, pause, resume --------------------------------------------------------------


def batch_publish(*, batch: Batch, user: User, expected_total_cents: int | None = None) -> Batch:
    """Publish a draft: hold rewards + fees for all its assignments in the batch's
    escrow (``ledger.hold``, key ``hold-batch-<id>``) and make its tasks visible (the
    status change), atomically.

    Terms are the project's and the platform's current ones and are snapshotted on the
    batch (``reward_cents``, ``fee_cents``, ``assignments_per_task``,
    ``total_cost_cents``); ``expires_at`` is now + the project's batch lifetime. With
    ``expected_total_cents`` (the total the requester was shown) a changed cost refuses
    instead of charging a different amount (``quote_changed``).

    Locks the batch row (``FOR NO KEY UPDATE``), then the ledger accounts. Raises
    ApplicationError: not the owner (404); ``already_published`` (409: published or
    paused; no second hold); ``illegal_transition`` (409: cancelled, expired, failed,
    ...); ``still_importing`` (409); ``project_archived`` (409); ``below_pay_floor``;
    ``quote_changed`` (409); ``insufficient_funds`` (409, ``extra`` has
    ``total_cost_cents``, ``balance_cents``, ``shortfall_cents``). Nothing changes on error.
    """
    with transaction.atomic():
        locked = _lock(batch.pk)
        _require_owner(locked, user)
        if locked.status in BATCH_LIVE_STATUSES:
            raise ApplicationError(
                "This batch is already published.", code="already_published", status=409
            )
        if locked.status == BatchStatus.IMPORTING:
            raise ApplicationError(
                "This batch is still importing; publish it once the import has finished.",
                code="still_importing",
                status=409,
            )
        if locked.status != BatchStatus.DRAFT:
            batch_transition(
                batch=locked, to=BatchStatus.PUBLISHED, actor=user
            )  # raises: names the status
        project = locked.project
        if project.is_archived:
            raise ApplicationError(
                "This batch's project is archived; restore it before publishing.",
                code="project_archived",
                status=409,
            )
        terms = fees.current_terms()
        floor_error = pay_floor_error(
            reward_cents=project.reward_cents,
            estimated_seconds=project.estimated_seconds,
            terms=terms,
        )
        if floor_error:
            raise floor_error
        if locked.assignments_per_task != project.assignments_per_task:
            # The project was edited after the upload: a draft takes the current terms.
            Task.objects.filter(batch_id=locked.pk).update(
                assignments_needed=project.assignments_per_task
            )
            locked.assignments_per_task = project.assignments_per_task
        quote = batch_quote(locked, terms=terms)
        total = quote.total_cost_cents
        if expected_total_cents is not None and expected_total_cents != total:
            raise ApplicationError(
                f"The cost of this batch changed from {format_cents(expected_total_cents)} to "
                f"{format_cents(total)} since the page was loaded; check the new total and publish again.",
                code="quote_changed",
                status=409,
                extra={"expected_total_cents": expected_total_cents, "total_cost_cents": total},
            )
        if quote.balance_cents < total:
            raise _insufficient(total=total, balance=quote.balance_cents)
        try:
            ledger.hold(
                key=f"hold-batch-{locked.pk}",
                user=locked.owner,
                batch_id=locked.pk,
                amount_cents=total,
                memo=f"Publish batch {locked.pk} ({quote.assignment_count:,} assignment{'' if quote.assignment_count == 1 else 's'})",
            )
        except ledger.InsufficientFunds as exc:  # the balance moved since we read it
            raise _insufficient(total=total, balance=exc.available_cents) from exc
        now = timezone.now()
        locked.reward_cents = quote.reward_cents
        locked.fee_cents = quote.fee_cents
        locked.total_cost_cents = total
        # The work terms are frozen with the money terms: a later project edit does not
        # change what this batch's workers were promised.
        locked.time_allotted_seconds = project.time_allotted_seconds
        locked.auto_approval_delay = project.auto_approval_delay
        locked.requirements = dict(project.requirements or {})
        locked.escrow_held_cents = total
        counters.counters_create(batch_id=locked.pk)
        locked.published_at = now
        locked.expires_at = now + project.batch_lifetime
        batch_transition(
            batch=locked,
            to=BatchStatus.PUBLISHED,
            actor=user,
            reason=f"{format_cents(total)} held in escrow",
            update_fields=(
                "assignments_per_task",
                "reward_cents",
                "fee_cents",
                "total_cost_cents",
                "time_allotted_seconds",
                "auto_approval_delay",
                "requirements",
                "escrow_held_cents",
                "published_at",
                "expires_at",
            ),
        )
        return locked


def _insufficient(*, total: int, balance: int) -> ApplicationError:
    shortfall = total - balance
    return ApplicationError(
        f"Publishing this batch costs {format_cents(total)} but your balance is {format_cents(balance)}. "
        f"Add at least {format_cents(shortfall)} to publish it.",
        code="insufficient_funds",
        status=409,
        extra={"total_cost_cents": total, "balance_cents": balance, "shortfall_cents": shortfall},
    )


def batch_pause(*, batch: Batch, user: User, reason: str = "") -> Batch:
    """Stop workers from taking more tasks; work already accepted carries on.
    Idempotent (already paused: returned as is). Locks the batch row. Raises
    ApplicationError: not the owner (404), ``illegal_transition`` (409) unless published."""
    with transaction.atomic():
        locked = _lock(batch.pk)
        _require_owner(locked, user)
        if locked.status != BatchStatus.PAUSED:
            batch_transition(batch=locked, to=BatchStatus.PAUSED, actor=user, reason=reason)
        return locked


def batch_resume(*, batch: Batch, user: User, reason: str = "") -> Batch:
    """Make a paused batch's tasks available again. Idempotent (already published:
    returned as is). Locks the batch row. Raises ApplicationError: not the owner (404),
    ``batch_expired`` (409) once its lifetime is over (the expiry job closes it),
    ``illegal_transition`` (409) unless paused."""
    with transaction.atomic():
        locked = _lock(batch.pk)
        _require_owner(locked, user)
        if locked.status == BatchStatus.PUBLISHED:
            return locked
        if (
            locked.status == BatchStatus.PAUSED
            and locked.expires_at is not None
            and locked.expires_at <= timezone.now()
        ):
            raise ApplicationError(
                "This batch's lifetime is over, so it cannot be resumed; its unused escrow will be returned.",
                code="batch_expired",
                status=409,
            )
        if locked.status != BatchStatus.PAUSED:
            # Without this a draft would go draft -> published (an allowed move for
            # batch_publish) with no escrow held; the database then refuses it (a 500).
            raise ApplicationError(
                f"This batch {_STATE[locked.status]} and cannot be resumed.",
                code="illegal_transition",
                status=409,
                extra={"status": locked.status, "requested": BatchStatus.PUBLISHED},
            )
        batch_transition(batch=locked, to=BatchStatus.PUBLISHED, actor=user, reason=reason)
        return locked


# --- Cancel, expire, final release -------------------------------------------------------


def _close(*, batch: Batch, to: str, key_suffix: str, actor: User | None, reason: str) -> Batch:
    """Close a live batch (locked by the caller) and return its unused escrow: the
    escrow balance minus what work in progress is still owed."""
    release = 0
    now = timezone.now()
    if batch.published_at is None:
        batch.escrow_settled_at = now  # a draft never held anything
    else:
        # Claims and settlements wait on our batch lock; returns and expiries in flight
        # on these rows, so the amount owed is exact.
        counters.counters_lock(batch_id=batch.pk)
        balance = ledger.batch_escrow_balance_cents(batch.pk)
        owed = escrow_owed_cents(batch_id=batch.pk)
        if owed == 0:
            batch.escrow_settled_at = now
        release = balance - owed
        if release < 0:  # cannot happen while the ledger and the protocol hold; never release then
            log.error(
                "batch %s: escrow %s is below what work in progress is owed (%s)",
                batch.pk,
                balance,
                owed,
            )
            release = 0
        if release > 0:
            ledger.release(
                key=f"release-batch-{batch.pk}-{key_suffix}",
                user=batch.owner,
                batch_id=batch.pk,
                amount_cents=release,
                memo=f"Batch {batch.pk} {_VERB[to]}: unused escrow returned",
            )
    batch.escrow_released_cents += release
    batch.closed_at = now
    if batch.published_at is not None:
        returned = f"{format_cents(release)} returned"
        reason = f"{reason} ({returned})" if reason else returned
    batch_transition(
        batch=batch,
        to=to,
        actor=actor,
        reason=reason,
        update_fields=("escrow_released_cents", "closed_at", "escrow_settled_at"),
    )
    return batch


def batch_cancel(*, batch: Batch, user: User, reason: str = "") -> Batch:
    """Cancel a draft, published or paused batch. Tasks nobody holds close at once
    (visibility derives from the batch status); the escrow not owed to work in progress
    returns to the requester (``ledger.release``, key ``release-batch-<id>-cancel``);
    assignments in progress keep their reward + fee in escrow and finish under the
    terms they were accepted with (``batch_release_remaining`` returns what they leave).

    Locks the batch row (``FOR NO KEY UPDATE``), then the ledger accounts. Raises
    ApplicationError: not the owner (404), ``already_cancelled`` (409; nothing is
    released twice), ``illegal_transition`` (409: importing, failed, expired, completed).
    """
    with transaction.atomic():
        locked = _lock(batch.pk)
        _require_owner(locked, user)
        if locked.status == BatchStatus.CANCELLED:
            raise ApplicationError(
                "This batch is already cancelled.", code="already_cancelled", status=409
            )
        if BatchStatus.CANCELLED not in BATCH_TRANSITIONS[locked.status]:
            batch_transition(
                batch=locked, to=BatchStatus.CANCELLED, actor=user
            )  # raises: names the status
        return _close(
            batch=locked,
            to=BatchStatus.CANCELLED,
            key_suffix="cancel",
            actor=user,
            reason=clean_text(
                reason,
                label="The reason",
                maximum=limits.CANCEL_REASON_CHARS,
                field="reason",
            ),
        )


def batch_expire(*, batch_id: int, now: datetime | None = None) -> Batch | None:
    """Expire a published or paused batch whose ``expires_at`` has passed, like a cancel
    (key ``release-batch-<id>-expire``). Safe to run twice and concurrently: under the
    row lock a batch already closed, or not yet due, is returned untouched. Returns the
    batch, or None if it does not exist. Locks the batch row, then ledger accounts."""
    now = now or timezone.now()
    with transaction.atomic():
        try:
            locked = _lock(batch_id)
        except Batch.DoesNotExist:
            return None
        if (
            locked.status not in BATCH_LIVE_STATUSES
            or locked.expires_at is None
            or locked.expires_at > now
        ):
            return locked
        return _close(
            batch=locked,
            to=BatchStatus.EXPIRED,
            key_suffix="expire",
            actor=None,
            reason="lifetime over",
        )


def batch_release_remaining(*, batch_id: int) -> int:
    """Return to the requester what is left in a closed (cancelled, expired, completed)
    batch's escrow once no assignment is owed anything (work that was in progress at
    the cancel and was then returned, expired or finally rejected leaves its money
    there). Key ``release-batch-<id>-final``: a closed batch cannot bind new escrow, so
    this happens at most once; then ``escrow_settled_at`` is set and the expiry job
    stops checking the batch. Returns the cents released (0 if work is still owed or
    nothing is left). Locks the batch row, then ledger accounts."""
    with transaction.atomic():
        try:
            locked = _lock(batch_id)
        except Batch.DoesNotExist:
            return 0
        if locked.status not in BATCH_CLOSED_STATUSES or locked.escrow_settled_at is not None:
            return 0
        if escrow_owed_cents(batch_id=batch_id) > 0:
            return 0
        balance = ledger.batch_escrow_balance_cents(batch_id) if locked.published_at else 0
        if balance > 0:
            ledger.release(
                key=f"release-batch-{batch_id}-final",
                user=locked.owner,
                batch_id=batch_id,
                amount_cents=balance,
                memo=f"Batch {batch_id}: remaining escrow returned",
            )
            locked.escrow_released_cents += balance
        locked.escrow_settled_at = locked.updated_at = timezone.now()
        locked.save(update_fields=["escrow_released_cents", "escrow_settled_at", "updated_at"])
        return max(balance, 0)


def run_for_each(ids: list[int], action: Callable[[int], object], *, what: str) -> int:
    """Run ``action`` for each id in its own transaction; one failure is logged and
    does not stop the others. Returns how many succeeded."""
    done = 0
    for pk in ids:
        try:
            action(pk)
            done += 1
        except Exception:
            log.exception("%s failed for batch %s", what, pk)
    return done


__all__ = [
    "batch_cancel",
    "batch_expire",
    "batch_import",
    "batch_import_abandon",
    "batch_pause",
    "batch_publish",
    "batch_release_remaining",
    "batch_resume",
    "batch_transition",
    "batch_upload",
]
