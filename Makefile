# Fairtask: `make run` serves the whole marketplace, `make test` runs the suite.
# Needs only Python 3.11 and make; everything else installs into .venv from the lock.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.lock | cut -d' ' -f1)
PORT ?= 8000
STRIPE_SIM_PORT ?= 12111
PYTEST_ARGS ?=

# The virtualenv alone (CI needs it before the suite, to create the database roles).
.PHONY: venv run test lint format typecheck lock bench clean-db

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $@

# With DATABASE_URL unset the embedded PostgreSQL is started here and stopped when
# this recipe ends (Ctrl-C included). It has two roles: migrate runs as the owner
# (DATABASE_OWNER_URL), the Procfile processes as the runtime role (DATABASE_URL; they
# are not given the owner's URL; see docs/operations.md). With CELERY_BROKER_URL unset
# the worker and beat use the filesystem broker under var/; without STRIPE_SECRET_KEY the Stripe
# simulator runs as a Procfile.dev process (Procfile is production's: no demo data, no
# simulator). The web process loads the demo data
# (seed_demo, which funds the demo requesters through the simulator) before serving.
venv: $(STAMP)

# DEBUG is off (Fairtask's own error pages; whitenoise serves the collected static
# files); `DEBUG=1 make run` turns Django's debug pages on.
run: $(STAMP)
	@set -e; \
	export DJANGO_SETTINGS_MODULE=marketplace.settings.dev PORT=$(PORT) FAIRTASK_WEB_PORT=$(PORT) \
		STRIPE_SIM_PORT=$(STRIPE_SIM_PORT) SITE_URL="$${SITE_URL:-http://127.0.0.1:$(PORT)}"; \
	if [ -z "$$DATABASE_URL" ]; then \
		eval "$$($(PY) -m marketplace.embedded_db env)"; \
		trap '$(PY) -m marketplace.embedded_db stop >/dev/null' EXIT INT TERM; \
	fi; \
	$(PY) manage.py migrate --noinput -v0; \
	$(PY) manage.py collectstatic --noinput -v0; \
	$(PY) manage.py demo_banner; \
	DATABASE_OWNER_URL= PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile.dev

# The whole suite: embedded PostgreSQL and filesystem broker unless DATABASE_URL and
# CELERY_BROKER_URL are set (CI sets them). An embedded server this target started is
# stopped when it ends.
test: $(STAMP)
	@set -e; \
	if [ -z "$$DATABASE_URL" ] && ! $(PY) -m marketplace.embedded_db status >/dev/null; then \
		trap '$(PY) -m marketplace.embedded_db stop >/dev/null' EXIT INT TERM; \
	fi; \
	$(PY) -m pytest $(PYTEST_ARGS)

# The django-stubs plugin imports the settings, which start the embedded PostgreSQL when
# DATABASE_URL is unset. mypy never connects, so an unset one is replaced by a placeholder.
MYPY := DJANGO_SETTINGS_MODULE=marketplace.settings.test \
	DATABASE_URL="$${DATABASE_URL:-postgresql://typecheck@127.0.0.1:1/unused}" $(VENV)/bin/mypy
TYPED := core marketplace tasks payouts reputation

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MYPY) $(TYPED)

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(STAMP)
	$(MYPY) $(TYPED)

# Re-resolve the locks after editing pyproject.toml dependencies: requirements.lock has
# everything (`make run`, tests, CI); requirements-prod.lock only the production
# dependencies (the Docker image), pinned to the same versions.
lock:
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --group local --group dev --generate-hashes -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --generate-hashes -c requirements.lock -o requirements-prod.lock

bench: $(STAMP)
	$(PY) bench/upload.py --rows 100000
	$(PY) bench/ledger.py

# The simulator's state goes with the database: Stripe's records and ours must agree.
clean-db:
	-$(PY) -m marketplace.embedded_db stop
	rm -rf var/pg var/stripe-sim
