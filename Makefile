# Helpdesk: everyday commands. `make run` to try it, `make test` before you push.
#
# Configuration comes from the environment (see README.md): DATABASE_URL and
# CELERY_BROKER_URL default to a SQLite file and a filesystem broker under var/,
# so nothing but Python 3.11+ is needed.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-m e2e -x"`.
PYTEST_ARGS ?=
# The worker's log level; `info` shows every task, including beat's one-second timer tick.
WORKER_LOGLEVEL ?= warning

.PHONY: help venv install migrate demo run test lint fmt clean distclean

help:
	@echo "make run        venv + migrate + demo data, then web server on http://$(HOST):$(PORT) and a Celery worker (Ctrl-C stops both)"
	@echo "make test       venv, ruff check, then the whole pytest suite (unit + end-to-end with a real worker)"
	@echo "make venv       create $(VENV) and install requirements.txt (only when it changed)"
	@echo "make migrate    apply database migrations"
	@echo "make demo       load demo teams, agents, an API channel and workflow templates"
	@echo "make lint       ruff check + ruff format --check"
	@echo "make fmt        ruff format + ruff check --fix"
	@echo "make clean      remove caches, the test database and the filesystem broker's messages"
	@echo "make distclean  clean + remove $(VENV) and var/ (including the development database)"

venv install: $(STAMP)

# The stamp is newer than requirements.txt once its pinned versions are installed.
$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11+ is needed: set PYTHON=python3.x" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py loaddemo

# Web server and worker (with beat embedded, for timers) side by side, each in its own
# process group (set -m). On Ctrl-C, or when one of them exits, the trap stops both: the
# worker by SIGTERM to its main process (a warm shutdown that stops its pool and beat),
# runserver by SIGTERM to its whole group (the autoreloader and its child).
run: demo
	@set -m; \
	stop() { trap - INT TERM EXIT; \
		kill -TERM $$worker 2>/dev/null || true; kill -TERM -- -$$web 2>/dev/null || true; wait; }; \
	trap stop EXIT; trap 'exit 130' INT TERM; \
	$(BIN)/celery -A helpdesk worker -B -l $(WORKER_LOGLEVEL) --concurrency 2 & worker=$$!; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT) & web=$$!; \
	echo "web: http://$(HOST):$(PORT)/  admin: http://$(HOST):$(PORT)/admin/  (Ctrl-C stops web and worker)"; \
	wait -n; status=$$?; echo "one of web/worker exited ($$status): stopping the other" >&2; exit $$status

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache var/broker var/test.sqlite3 var/test.sqlite3-* control

distclean: clean
	rm -rf $(VENV) var
