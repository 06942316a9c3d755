# syntax=docker/dockerfile:1
# Fairtask's production image: gunicorn (web), Celery worker and beat, migrations and
# the backup/restore scripts all run from it (docker-compose.yml). Two stages: the
# first installs the production dependencies (requirements-prod.lock: hash-pinned,
# without the dev and local groups) into a virtualenv, the second copies that
# virtualenv and the code, collects static files and runs the deployment checks, and
# runs as an unprivileged user.

ARG PYTHON_IMAGE=python:3.11-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements-prod.lock /tmp/requirements-prod.lock
# --require-hashes: every package, direct or not, must match the lock's hash.
RUN /opt/venv/bin/pip install --no-deps --require-hashes -r /tmp/requirements-prod.lock

FROM ${PYTHON_IMAGE} AS runtime
# postgresql-client: pg_dump/pg_restore/psql for deploy/backup.sh and deploy/restore.sh.
# Debian trixie's is PostgreSQL 17, the server major in docker-compose.yml (pg_dump must
# be at least the server's major version: change both together).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 fairtask \
    && useradd --system --uid 10001 --gid fairtask --home-dir /app --shell /usr/sbin/nologin fairtask
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=marketplace.settings.prod \
    FAIRTASK_VAR_DIR=/var/lib/fairtask \
    PORT=8000
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# .dockerignore keeps .env, .git, .venv, var/, tests and caches out of this copy.
COPY . /app
RUN sh deploy/build-steps.sh \
    && install -d -o fairtask -g fairtask /var/lib/fairtask/uploads /backups
USER fairtask
EXPOSE 8000
CMD ["gunicorn", "marketplace.wsgi"]
