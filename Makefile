# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test install lint bench clean-db

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Starts the embedded PostgreSQL (unless DATABASE_URL is set), migrates, creates the demo
# tenant once, then serves HTTP + WebSocket and a django-q2 worker until Ctrl-C.
run: install
	$(PY) manage.py setup_demo
	$(PY) manage.py serve --port $(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) bench/contacts_bench.py

# Throws away the embedded database (it is re-created on the next start).
clean-db:
	rm -rf .pgdata
