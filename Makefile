# Two commands for a newcomer: `make demo` and `make test`. Both create the virtualenv and install
# what they need; the database is an embedded PostgreSQL + pgvector unless DATABASE_URL is set.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8765
# collectstatic's manifest (default STATIC_ROOT): built once, again only after a reinstall.
STATIC_MANIFEST := staticfiles/staticfiles.json

.PHONY: demo test serve worker web migrate stop-db clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

## Database schema and the django-q2 heartbeat cache table.
migrate: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable

## Static files (admin, Swagger UI), collected when missing or after a reinstall.
$(STATIC_MANIFEST): $(STAMP)
	$(PY) manage.py collectstatic --noinput --verbosity 0

## The main job end to end on the embedded default: demo tenant, worker, web server, questions via the REST API.
demo: migrate $(STATIC_MANIFEST)
	$(PY) manage.py demo --key-file .data/demo_api_key
	$(PY) manage.py demo_run --port $(PORT)

## The whole test suite.
test: $(STAMP)
	$(PY) -m pytest

## Web server (gunicorn, static files by whitenoise) and django-q2 worker together (Ctrl-C stops both).
serve: migrate $(STATIC_MANIFEST)
	$(PY) manage.py serve --addr 127.0.0.1:$(PORT)

worker: migrate
	$(PY) manage.py qcluster

stop-db:
	-$(PY) -c 'import os; from pathlib import Path; from pgserver._commands import pg_ctl; pg_ctl(["-w", "stop", "-m", "fast"], pgdata=Path(".data/pg").resolve(), user="pgserver" if os.geteuid() == 0 else None)'


clean: stop-db
	rm -rf .data $(VENV)
