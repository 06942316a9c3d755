#!/bin/sh
# Fairtask: one logical backup of the database (pg_dump, custom format).
#
#   deploy/backup.sh [DIR]
#
# Connection from libpq's variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) or
# BACKUP_DATABASE_URL. Writes DIR/fairtask-<UTC time>.dump (DIR: $BACKUP_DIR, default
# /backups) through a temporary name, checks that pg_restore can read it, then keeps the
# newest $BACKUP_KEEP (default 14) dumps. PG_BIN: directory of pg_dump/pg_restore when
# they are not on PATH; their major version must be at least the server's.
# docker-compose.yml runs it daily (service "backup"); docs/operations.md has the cron
# line and the restore runbook (deploy/restore.sh).
set -eu

dir="${1:-${BACKUP_DIR:-/backups}}"
keep="${BACKUP_KEEP:-14}"
bin="${PG_BIN:+${PG_BIN%/}/}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
final="$dir/fairtask-$stamp.dump"
partial="$dir/.fairtask-$stamp.dump.partial"

mkdir -p "$dir"
trap 'rm -f "$partial"' EXIT INT TERM
if [ -n "${BACKUP_DATABASE_URL:-}" ]; then
  "${bin}pg_dump" --format=custom --compress=6 --file="$partial" --dbname="$BACKUP_DATABASE_URL"
else
  "${bin}pg_dump" --format=custom --compress=6 --file="$partial"
fi
"${bin}pg_restore" --list "$partial" >/dev/null
mv "$partial" "$final"
trap - EXIT INT TERM

# Keep the newest $keep dumps (names sort by time).
ls -1 "$dir"/fairtask-*.dump 2>/dev/null | sort -r | tail -n +"$((keep + 1))" | while read -r old; do
  rm -f "$old"
done
echo "backup: $final ($(wc -c <"$final") bytes)"
