#!/bin/sh
# The image's build steps that need no database, broker or daemon: collect the static
# files and run Django's deployment checks on the production settings. The Dockerfile
# runs this at build time and CI (.ci/run) runs the same script, so what CI checks is
# what the image builds.
#
# Every value here is a build-only stand-in: the key is random and thrown away, the
# database is never connected to (port 1), Stripe is never called.
set -eu
python="${PYTHON:-python}"
key="$("$python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
export DJANGO_SETTINGS_MODULE=marketplace.settings.prod
export SECRET_KEY="$key"
export DATABASE_URL="postgresql://build@127.0.0.1:1/build"
# Two roles, as production runs (nothing connects at build time).
export DATABASE_OWNER_URL="postgresql://build_owner@127.0.0.1:1/build"
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-fairtask.example}"
export STRIPE_SECRET_KEY="sk_test_build_only"
export STRIPE_WEBHOOK_SECRET="whsec_build_only"
export STRIPE_CONNECT_WEBHOOK_SECRET="whsec_connect_build_only"
"$python" manage.py collectstatic --noinput -v0
"$python" manage.py check --deploy --fail-level WARNING
