# GridCity: `make run` and `make test` are all a fresh machine needs (Python ≥ 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/gridcity_ci
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-sqlite test-postgres lint check-deploy demo bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/gridcity migrate --noinput
	$(BIN)/gridcity demo --if-empty
	$(BIN)/gridcity collectstatic --noinput -v0
	@echo "GridCity: http://$(HOST):$(PORT)/"
	$(BIN)/gridcity runserver $(HOST):$(PORT) --noreload

lint: $(STAMP)
	$(BIN)/ruff check gridcity bench conftest.py
	$(BIN)/ruff format --check gridcity bench conftest.py
	$(BIN)/gridcity makemigrations --check --dry-run
	GRIDCITY_ENV=production GRIDCITY_SECRET_KEY=ci-$$(head -c 48 /dev/urandom | base64 | tr -d '/+=') \
		GRIDCITY_ALLOWED_HOSTS=gridcity.example.org \
		$(BIN)/gridcity check --deploy --fail-level WARNING

test-sqlite: $(STAMP)
	$(BIN)/pytest -n 2 -p no:cacheprovider

test-postgres: $(STAMP)
	GRIDCITY_DATABASE_URL=$(PG_URL) $(BIN)/pytest -n 2 -p no:cacheprovider

test: lint test-sqlite test-postgres

demo: $(STAMP)
	$(BIN)/gridcity migrate --noinput
	$(BIN)/gridcity demo

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache
