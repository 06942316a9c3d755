#!/usr/bin/env python
"""Ledger posting benchmark: how many ledger transactions per second ``payouts.ledger``
writes, each in its own database transaction, as the application's database role.

    .venv/bin/python bench/ledger.py --postings 2800

What is timed: a loop of the flows the marketplace posts, in the proportions a busy
marketplace has (per cycle: 1 deposit, 1 hold, 8 settles with a fee, 1 bonus, 1
withdrawal, 1 release, 1 reversal of a settle): 14 postings, each committed on its own
(autocommit; ``post()`` opens the transaction, locks the accounts in pk order, checks the
balances, inserts the transaction and its entries, and the database triggers apply the
balances and check the balance and the seal at COMMIT). Setup (users, their accounts, a
first deposit) is not timed. Two modes: ``durable`` (each COMMIT waits for its WAL
flush, as in production) and ``no_wait`` (``synchronous_commit`` off for the session:
the posting's own work without the disk's flush time, which otherwise dominates and
hides what the ledger code costs); and ``sql``: the database's share alone, a DO block
writing 5 × ``--postings`` deposit-shaped postings (a transaction and two entries each,
100 per database transaction) with no Python in the loop, so what the triggers and
checks cost per posting shows undiluted. Each figure is the median of ``--repeats``
runs (default 3) of each mode, the modes alternating.

Database: a dedicated database ``<name>_bench_ledger`` on the server of
``DATABASE_URL`` (or the embedded one), created, migrated and dropped at the end (the
ledger is append-only: its rows cannot be cleaned out of a shared database). The loop
runs in a child process whose ``DATABASE_URL`` is that database, as the same role the
application uses (the runtime role when the owner/runtime split is configured, see
docs/operations.md).

Prints one line per run and, as the last line, one JSON object (postings_per_s, the
runs, the machine). Unless ``--no-docs``, records the figure in ``docs/performance.md``
under "Ledger postings" with a label (``--label``, e.g. ``before`` / ``after``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = ROOT / "docs" / "performance.md"
SUFFIX = "_bench_ledger"
CYCLE = 14  # postings per cycle of the loop below
# durable: each COMMIT waits for its WAL flush (the default, what production does);
# no_wait: synchronous_commit off for the session, so the figure is the posting's own
# work (locks, inserts, triggers) without the disk's flush time, which dominates the
# durable figure on a slow disk and hides what the ledger code costs.
MODES = ("durable", "no_wait", "sql")
# sql: the same database work without Python: a DO block inserts a deposit-shaped
# transaction and its two entries per posting, 100 postings per database transaction,
# so the figure isolates what the database (triggers, checks, indexes) costs per posting.
SQL_CHUNK = 100
SQL_POSTINGS = """
DO $$ DECLARE t bigint; BEGIN
  FOR i IN 1..CHUNK LOOP
    INSERT INTO payouts_ledgertransaction (idempotency_key, kind, memo, external_ref, created_at)
         VALUES ('sql-' || STAMP || '-' || i, 'deposit', '', '', now()) RETURNING id INTO t;
    INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents, created_at)
         VALUES (t, CREDIT, 100, now()), (t, DEBIT, -100, now());
  END LOOP;
END $$"""


def with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def dbname_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def database_env() -> dict[str, str]:
    """DATABASE_URL (and DATABASE_OWNER_URL when set) of the environment, or of the
    embedded server."""
    env = {k: os.environ[k] for k in ("DATABASE_URL", "DATABASE_OWNER_URL") if os.environ.get(k)}
    if env.get("DATABASE_URL"):
        return env
    warnings.filterwarnings("ignore")
    from marketplace import embedded_db

    return embedded_db.urls()


def admin(url: str, statement: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_dbname(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(db=sql.Identifier(dbname_of(url))))


def bench_env(base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    for name, url in base.items():
        env[name] = with_dbname(url, f"{dbname_of(url)}{SUFFIX}"[:63])
    return env


def creator_url(env: dict[str, str]) -> str:
    return env.get("DATABASE_OWNER_URL") or env["DATABASE_URL"]


def backend_cpu_s(cursor) -> float | None:
    """CPU seconds (user + system) the database backend of ``cursor`` has used, from
    /proc (the server runs on this machine); None if not readable (a remote server)."""
    cursor.execute("SELECT pg_backend_pid()")
    (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_figures(done: int, client_s: float, backend_s: float | None) -> dict:
    """CPU per posting: unlike wall time, hardly moved by other jobs on a busy machine."""
    out = {"client_cpu_ms": round(client_s * 1000 / done, 3)}
    if backend_s is not None:
        out["db_cpu_ms"] = round(backend_s * 1000 / done, 3)
        out["postings_per_cpu_s"] = round(done / (client_s + backend_s), 1)
    return out


def sql_child(postings: int) -> dict:
    """The ``sql`` mode: postings written by a DO block, as the application's role."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.dev")
    import django

    django.setup()
    from django.db import connection, transaction

    from marketplace.models import User
    from payouts import ledger

    stamp = time.time_ns()
    user = User.objects.create_user(f"bench-sql-{stamp}@example.com", is_requester=True)
    credit, debit = ledger.requester_account(user).pk, ledger.stripe_clearing_account().pk
    chunks = max(1, postings // SQL_CHUNK)
    with connection.cursor() as cur:
        db_before = backend_cpu_s(cur)
        cpu_before = time.process_time()
        started = time.perf_counter()
        for c in range(chunks):
            statement = (
                SQL_POSTINGS.replace("CHUNK", str(SQL_CHUNK))
                .replace("STAMP", f"'{stamp}-{c}'")
                .replace("CREDIT", str(credit))
                .replace("DEBIT", str(debit))
            )
            with transaction.atomic():
                cur.execute(statement)
        seconds = time.perf_counter() - started
        client_s = time.process_time() - cpu_before
        db_after = backend_cpu_s(cur)
        cur.execute("SELECT current_user, current_setting('server_version')")
        role, version = cur.fetchone()
    done = chunks * SQL_CHUNK
    return {
        **cpu_figures(done, client_s, None if db_before is None else db_after - db_before),
        "postings": done,
        "seconds": round(seconds, 3),
        "postings_per_s": round(done / seconds, 1),
        "role": role,
        "postgresql": version,
    }


def child(postings: int, no_wait: bool) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings.dev")
    import django

    django.setup()
    from django.db import connection

    from marketplace.models import User
    from payouts import ledger
    from payouts.withdrawals import withdrawal_in_flight_account

    if no_wait:
        with connection.cursor() as cur:
            cur.execute("SET synchronous_commit TO off")
    stamp = time.time_ns()
    requesters = [
        User.objects.create_user(f"bench-r{i}-{stamp}@example.com", is_requester=True)
        for i in range(8)
    ]
    workers = [
        User.objects.create_user(f"bench-w{i}-{stamp}@example.com", is_worker=True)
        for i in range(32)
    ]
    for r in requesters:
        ledger.requester_account(r)
    for w in workers:
        ledger.worker_account(w)
    ledger.platform_revenue_account()
    ledger.stripe_clearing_account()

    cycles = max(1, postings // CYCLE)
    done = 0
    with connection.cursor() as cur:
        db_before = backend_cpu_s(cur)
    cpu_before = time.process_time()
    started = time.perf_counter()
    for c in range(cycles):
        tag = f"{stamp}-{c}"
        r = requesters[c % len(requesters)]
        batch_id = c + 1
        ledger.deposit(key=f"dep-{tag}", user=r, amount_cents=2000, external_ref=f"cs_{tag}")
        ledger.hold(key=f"hold-{tag}", user=r, batch_id=batch_id, amount_cents=1500)
        settles = []
        for i in range(8):
            w = workers[(c * 8 + i) % len(workers)]
            settles.append(
                ledger.settle(
                    key=f"settle-{tag}-{i}",
                    batch_id=batch_id,
                    worker=w,
                    reward_cents=100,
                    fee_cents=20,
                )
            )
        w = workers[c % len(workers)]
        ledger.post(
            key=f"bonus-{tag}",
            kind="bonus",
            lines=[
                (ledger.requester_account(r), -60),
                (ledger.worker_account(w), 50),
                (ledger.platform_revenue_account(), 10),
            ],
        )
        ledger.transfer(  # a withdrawal's request leg (payouts.withdrawals)
            key=f"wd-{tag}",
            source=ledger.worker_account(w),
            destination=withdrawal_in_flight_account(w),
            amount_cents=50,
            kind="withdrawal",
        )
        ledger.release(key=f"rel-{tag}", user=r, batch_id=batch_id, amount_cents=540)
        ledger.reverse(key=f"rev-{tag}", transaction=settles[0])
        done += CYCLE
    seconds = time.perf_counter() - started
    client_s = time.process_time() - cpu_before
    with connection.cursor() as cur:
        db_after = backend_cpu_s(cur)
        cur.execute("SELECT current_user, current_setting('server_version')")
        role, version = cur.fetchone()
    return {
        **cpu_figures(done, client_s, None if db_before is None else db_after - db_before),
        "postings": done,
        "seconds": round(seconds, 3),
        "postings_per_s": round(done / seconds, 1),
        "role": role,
        "postgresql": version,
    }


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor() or "unknown",
        "memory_gb": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }


def write_docs(label: str, result: dict, server: str) -> None:
    text = DOCS.read_text()
    heading = "## Ledger postings"
    info = result["machine"]
    line = (
        f"| {label} | {result['commit']} | **{result['durable_per_s']:,.0f}** "
        f"({', '.join(f'{r:,.0f}' for r in result['runs']['durable'])}) | "
        f"**{result['no_wait_per_s']:,.0f}** "
        f"({', '.join(f'{r:,.0f}' for r in result['runs']['no_wait'])}) | "
        f"**{result['sql_per_s']:,.0f}** "
        f"({', '.join(f'{r:,.0f}' for r in result['runs']['sql'])}) | {result['role']} | "
        f"PostgreSQL {result['postgresql']} at {server} | {result['date']} |"
    )
    runs_heading = "### Runs recorded by bench/ledger.py"
    if heading not in text:
        text = text.rstrip("\n") + f"\n\n{heading}\n\nSee `bench/ledger.py`.\n"
    if runs_heading not in text:
        text = text.rstrip("\n") + (
            f"\n\n{runs_heading}\n\n"
            f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gb']} GB RAM, "
            f"{info['os']}, Python {info['python']}. Medians (each run in brackets).\n\n"
            "| label | commit | durable postings/s | no_wait postings/s | sql postings/s | role | database | date |\n"
            "|---|---|---:|---:|---:|---|---|---|\n"
        )
    text = text.rstrip("\n") + "\n" + line + "\n"
    DOCS.write_text(text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=2800)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="run")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-wait", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sql", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.sql:
            print(json.dumps(sql_child(args.postings)))
        else:
            print(json.dumps(child(args.postings, args.no_wait)))
        return 0

    base = database_env()
    env_db = bench_env(base)
    url = creator_url(env_db)
    admin(url, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    admin(url, "CREATE DATABASE {db}")
    env = {
        **os.environ,
        **env_db,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings.dev",
        "DEBUG": "0",
    }
    runs = []
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "--skip-checks", "-v", "0"],
            env=env,
            check=True,
            cwd=ROOT,
        )
        for mode in MODES * args.repeats:
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--postings", str(args.postings)]
                + (["--no-wait"] if mode == "no_wait" else [])
                + (["--sql", "--postings", str(args.postings * 5)] if mode == "sql" else []),
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                sys.stderr.write(out.stdout[-4000:] + out.stderr[-8000:])
                raise SystemExit("the benchmark run failed")
            run = json.loads(out.stdout.strip().splitlines()[-1])
            run["mode"] = mode
            runs.append(run)
            print(
                f"{mode}: {run['postings']} postings in {run['seconds']} s: "
                f"{run['postings_per_s']:,.0f} postings/s as {run['role']}; CPU per posting "
                f"{run['client_cpu_ms']} ms client, {run.get('db_cpu_ms', '?')} ms database",
                flush=True,
            )
    finally:
        admin(url, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    parts = urlsplit(base["DATABASE_URL"])
    server = (
        "the embedded server"
        if not os.environ.get("DATABASE_URL")
        else f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    )
    result = {
        "label": args.label,
        "commit": commit,
        **{
            f"{mode}_per_s": statistics.median(
                r["postings_per_s"] for r in runs if r["mode"] == mode
            )
            for mode in MODES
        },
        "runs": {mode: [r["postings_per_s"] for r in runs if r["mode"] == mode] for mode in MODES},
        "cpu": {
            mode: {
                key: statistics.median(r[key] for r in runs if r["mode"] == mode and key in r)
                for key in ("client_cpu_ms", "db_cpu_ms", "postings_per_cpu_s")
                if any(key in r for r in runs if r["mode"] == mode)
            }
            for mode in MODES
        },
        "role": runs[-1]["role"],
        "postgresql": runs[-1]["postgresql"],
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
    }
    if not args.no_docs:
        write_docs(args.label, result, server)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
