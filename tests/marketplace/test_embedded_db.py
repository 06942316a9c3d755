"""The embedded PostgreSQL in a data directory of its own (not the suite's server)."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg


def _run(var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FAIRTASK_VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "-m", "marketplace.embedded_db", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_starts_survives_a_second_start_and_stops_cleanly(tmp_path):
    var_dir = tmp_path / "var"
    # Issue 15, defect 10: "url" (named in the module's docstring) did not exist.
    not_yet = _run(var_dir, "url")
    assert (not_yet.returncode, not_yet.stdout, not_yet.stderr.strip()) == (1, "", "not running")
    assert not (var_dir / "pg" / "postmaster.pid").exists()  # url starts nothing
    first = _run(var_dir, "start")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip().splitlines()[-1]
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW server_version").fetchone()[0].startswith("18")
            # The URL is the runtime role's: not a superuser, not the database's owner.
            assert conn.execute(
                "SELECT current_user, rolsuper, pg_get_userbyid(d.datdba) FROM pg_roles r,"
                " pg_database d WHERE r.rolname = current_user AND d.datname = current_database()"
            ).fetchone() == ("fairtask_app", False, "fairtask_owner")
        env = _run(var_dir, "env").stdout
        assert f"export DATABASE_URL='{url}';" in env
        assert "export DATABASE_OWNER_URL='postgresql://fairtask_owner@" in env
        pid = (var_dir / "pg" / "postmaster.pid").read_text().splitlines()[0]

        second = _run(var_dir, "start")
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip().splitlines()[-1] == url
        assert (var_dir / "pg" / "postmaster.pid").read_text().splitlines()[
            0
        ] == pid  # attached, not restarted
        assert _run(var_dir, "status").stdout.startswith("running")
        shown = _run(var_dir, "url")
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip() == url
    finally:
        stopped = _run(var_dir, "stop")
    assert stopped.stdout.strip() == "stopped"
    assert not (var_dir / "pg" / "postmaster.pid").exists()
    assert _run(var_dir, "status").returncode == 1
    assert _run(var_dir, "stop").stdout.strip() == "not running"
