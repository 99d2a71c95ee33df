# GridCity: `make run` and `make test` are all a fresh machine needs (Python ≥ 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/gridcity_ci
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: translations run dev test test-sqlite test-postgres lint check-deploy demo bench clean venv cluster-test

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The compiled catalogues (.mo) are made from the .po files, never committed.
translations: $(STAMP)
	$(BIN)/gridcity compile-translations

# The whole system in the foreground: web server (gunicorn), task worker, periodic jobs and
# MQTT ingest, supervised by honcho from the Procfile. Ctrl-C stops them all.
run: translations
	$(BIN)/gridcity migrate --noinput
	$(BIN)/gridcity demo --if-empty
	$(BIN)/gridcity collectstatic --noinput -v0
	$(BIN)/gridcity clear-metrics
	@echo "GridCity: http://$(HOST):$(PORT)/  (Ctrl-C stops every process)"
	PATH="$(CURDIR)/$(BIN):$$PATH" GRIDCITY_BIND=$(HOST):$(PORT) $(BIN)/honcho start -f Procfile -d $(CURDIR)

# Development: Django's own server with autoreload and debug pages (no worker, no scheduler).
dev: translations
	$(BIN)/gridcity migrate --noinput
	$(BIN)/gridcity demo --if-empty
	GRIDCITY_DEBUG=1 $(BIN)/gridcity runserver $(HOST):$(PORT)

lint: $(STAMP)
	$(BIN)/ruff check gridcity bench cluster conftest.py
	$(BIN)/ruff format --check gridcity bench cluster conftest.py
	$(BIN)/lint-imports --no-cache
	$(BIN)/gridcity makemigrations --check --dry-run
	GRIDCITY_ENV=production GRIDCITY_SECRET_KEY=ci-$$(head -c 48 /dev/urandom | base64 | tr -d '/+=') \
		GRIDCITY_ALLOWED_HOSTS=gridcity.example.org \
		$(BIN)/gridcity check --deploy --fail-level WARNING

test-sqlite: translations
	$(BIN)/pytest -n 2 -p no:cacheprovider

test-postgres: translations
	GRIDCITY_DATABASE_URL=$(PG_URL) $(BIN)/pytest -n 2 -p no:cacheprovider

test: lint test-sqlite test-postgres

demo: $(STAMP)
	$(BIN)/gridcity migrate --noinput
	$(BIN)/gridcity demo

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache

cluster-test: $(STAMP)
	$(BIN)/python -m cluster
