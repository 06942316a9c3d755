#!/bin/bash
# Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d):
# the database `fairtask` owned by `fairtask_owner` (runs migrations), and `fairtask_app`,
# the runtime role web, worker and beat connect as: it owns nothing and receives its
# grants from the owner after every migrate (marketplace/db_roles.py). Same statements as
# `python -m marketplace.db_roles setup` and docs/operations.md.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_pw="$FAIRTASK_OWNER_PASSWORD" -v app_pw="$FAIRTASK_APP_PASSWORD" <<'SQL'
CREATE ROLE fairtask_owner LOGIN CREATEDB NOSUPERUSER NOCREATEROLE PASSWORD :'owner_pw';
CREATE ROLE fairtask_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_pw';
CREATE DATABASE fairtask OWNER fairtask_owner;
GRANT CONNECT, TEMPORARY ON DATABASE fairtask TO fairtask_app;
\connect fairtask
ALTER SCHEMA public OWNER TO fairtask_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
