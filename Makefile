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

# Embedded defaults: SQLite file, filesystem broker, moto as the SES stand-in on loopback.
run: export LOCAL_WEB_PORT ?= 8000
run: export LOCAL_SES_PORT ?= 5005
run: export DJANGO_DEBUG ?= true
run: export PUBLIC_BASE_URL ?= http://127.0.0.1:$(LOCAL_WEB_PORT)
run: export AWS_ENDPOINT_URL ?= http://127.0.0.1:$(LOCAL_SES_PORT)
run: export AWS_ACCESS_KEY_ID ?= local
run: export AWS_SECRET_ACCESS_KEY ?= local
# moto's account allows 1 email a second; a real account starts at 14.
run: export SES_MAX_SEND_RATE ?= 14
run: export PATH := $(BIN):$(PATH)
run: install
	python manage.py migrate --noinput
	python manage.py collectstatic --noinput --verbosity 0
	python manage.py demo
	honcho --procfile Procfile.local start

test: export PATH := $(BIN):$(PATH)
test: install
	python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var db.sqlite3 db.sqlite3-* staticfiles .pytest_cache .ruff_cache
