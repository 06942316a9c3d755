"""Fixtures of the requester-side tests (projects, batches, uploads)."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from marketplace import services
from marketplace.models import Batch, Project, User
from payouts import ledger

_deposits = itertools.count(1)


@pytest.fixture(autouse=True)
def _upload_dir(settings, tmp_path):
    """Uploads of each test go to its own directory (and are checked to be cleaned up)."""
    settings.FAIRTASK_UPLOAD_DIR = tmp_path / "uploads"
    return settings.FAIRTASK_UPLOAD_DIR


def fund(user: User, amount_cents: int) -> None:
    """Money on a requester's balance (the Stripe funding path is another issue's)."""
    ledger.deposit(
        key=f"test-deposit-{next(_deposits)}-{user.pk}", user=user, amount_cents=amount_cents
    )


def balance(user: User) -> int:
    return ledger.balance_cents(ledger.requester_account(user))


def escrow(batch: Batch) -> int:
    return ledger.balance_cents(ledger.batch_escrow_account(batch.pk))


def make_project(owner: User, **overrides: Any) -> Project:
    """A text-classification project: reward 10¢ (fee 2¢), 30 s, 1 assignment per task."""
    fields: dict[str, Any] = {
        "title": "Classify support tickets",
        "template_kind": "text_classification",
        "template_config": {"labels": ["Question", "Complaint", "Other"]},
        "reward_cents": 10,
        "estimated_seconds": 30,
        "assignments_per_task": 1,
    }
    fields.update(overrides)
    return services.project_create(owner=owner, **fields)


def csv_bytes(rows: int, *, header: str = "text,source", start: int = 1) -> bytes:
    lines = [header] + [
        f'"Ticket number {i}, please help",email' for i in range(start, start + rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def upload(
    project: Project, user: User, content: bytes | str, filename: str = "batch.csv", **kw: Any
) -> Batch:
    if isinstance(content, str):
        content = content.encode()
    return services.batch_upload(
        project=project, user=user, fileobj=io.BytesIO(content), filename=filename, **kw
    )


@pytest.fixture
def project(requester) -> Project:
    return make_project(requester)


@pytest.fixture
def draft(project, requester) -> Batch:
    """A draft batch of 10 tasks: 10 × (10¢ + 2¢) = $1.20 to publish."""
    return upload(project, requester, csv_bytes(10))


@pytest.fixture
def funded(requester) -> User:
    fund(requester, 10_000)
    return requester


@pytest.fixture
def make_upload() -> Callable[..., Batch]:
    return upload
