#!/bin/sh
# Fairtask: restore a backup into a FRESH database and check it before use.
#
#   deploy/restore.sh DUMP NEW_DATABASE_NAME
#
# Server and credentials from libpq's variables (PGHOST, PGPORT, PGUSER, PGPASSWORD);
# run as the role that should own the schema (the migration/owner role). Steps:
#   1. create NEW_DATABASE_NAME (refuses an existing one: never restore over live data);
#   2. pg_restore the dump into it in one transaction (no owners/grants from the dump);
#   3. move every sequence past what it was at backup time by RESTORE_SEQUENCE_GAP
#      (default 1,000,000), so ids handed out after the backup (and sent to Stripe in
#      idempotency keys, in e-mails, in URLs) are never handed out again;
#   4. check it with the code: `manage.py migrate --check` (schema matches this release),
#      `ledger_check` (every ledger invariant) and `reconcile_stripe` (deposits against
#      Stripe; RESTORE_SKIP_STRIPE=1 skips it when Stripe cannot be reached).
# Then point the application at it (PGDATABASE / DATABASE_URL) and start it. Exit
# status non-zero at the first failing step; the new database is left for inspection.
# PG_BIN: directory of createdb/pg_restore/psql; PYTHON: the interpreter with Fairtask
# installed (default: python); DJANGO_SETTINGS_MODULE as for the application.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 DUMP NEW_DATABASE_NAME" >&2
  exit 2
fi
dump="$1"
db="$2"
gap="${RESTORE_SEQUENCE_GAP:-1000000}"
bin="${PG_BIN:+${PG_BIN%/}/}"
python="${PYTHON:-python}"
here="$(cd "$(dirname "$0")/.." && pwd)"

case "$db" in
  *[!A-Za-z0-9_]*|"") echo "restore: database name must be letters, digits and _" >&2; exit 2 ;;
esac
[ -r "$dump" ] || { echo "restore: cannot read $dump" >&2; exit 2; }
[ -n "${PGHOST:-}" ] || { echo "restore: set PGHOST (and PGPORT, PGUSER, PGPASSWORD)" >&2; exit 2; }
case "$gap" in *[!0-9]*|"") echo "restore: RESTORE_SEQUENCE_GAP must be a number" >&2; exit 2 ;; esac

echo "restore: 1/4 creating database $db"
if [ "$("${bin}psql" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'")" = "1" ]; then
  echo "restore: database $db already exists; restore into a new one" >&2
  exit 1
fi
"${bin}createdb" "$db"

echo "restore: 2/4 pg_restore $dump"
"${bin}pg_restore" --exit-on-error --single-transaction --no-owner --no-acl --dbname="$db" "$dump"

echo "restore: 3/4 moving every sequence $gap past its backed-up value"
"${bin}psql" -d "$db" -v ON_ERROR_STOP=1 -q <<SQL
DO \$\$
DECLARE
  s record;
BEGIN
  FOR s IN SELECT c.oid::regclass AS seq FROM pg_class c WHERE c.relkind = 'S' LOOP
    EXECUTE format(
      'SELECT setval(%L, (SELECT last_value FROM %s) + $gap, true)', s.seq, s.seq
    );
  END LOOP;
END
\$\$;
SQL

echo "restore: 4/4 checking it with this release's code"
cd "$here"
export PGDATABASE="$db"
run() { env -u DATABASE_URL PGDATABASE="$db" "$python" manage.py "$@"; }
run migrate --check --noinput
run ledger_check
if [ "${RESTORE_SKIP_STRIPE:-0}" = "1" ]; then
  echo "restore: reconcile_stripe skipped (RESTORE_SKIP_STRIPE=1): run it before taking payments"
else
  run reconcile_stripe
fi
echo "restore: OK: $db is restored and checked; point the application at it"
