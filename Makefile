# DataPipe: two commands do everything on a fresh machine — `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synced

# Find a Python 3.12 interpreter: $(PYTHON) if given, else python3.12 on PATH, else pyenv's 3.12.x.
PYTHON ?= $(shell .ci/find-python312 2>/dev/null)

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export MPLBACKEND := Agg

.PHONY: help env demo test lint docs clean lock up down image bench

help:
	@echo "make demo   - create the environment if missing, then run the demo end to end"
	@echo "make test   - create the environment if missing, then run the whole test suite"
	@echo "make docs   - build the documentation (warnings are errors)"
	@echo "make lint   - ruff"
	@echo "make lock   - refresh uv.lock after editing pyproject.toml"
	@echo "make up     - start Airflow (scheduler, dag-processor, triggerer, api-server); make down stops it"
	@echo "make image  - build the stage container image with podman (no registry pull)"

$(UV):
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: no Python 3.12 interpreter found. Install one (e.g. 'pyenv install 3.12' or Debian's python3.12) or pass PYTHON=/path/to/python3.12" >&2; exit 1; fi
	@echo "bootstrapping uv $(UV_VERSION) with $(PYTHON)"
	@$(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock
	@echo "syncing $(VENV) from uv.lock"
	@$(UV) sync --frozen --all-extras --python "$$( [ -x $(PY) ] && echo $(PY) || echo $(PYTHON) )"
	@touch $(STAMP)

env: $(STAMP)

lock: $(UV)
	$(UV) lock --python $(PYTHON)

# The demo through Airflow (demo/__main__.py): SimPipe, ACADA and CalibPipe
# stand-ins deliver small productions and one night into BDMS, then simulation_processing,
# model_training, the IRF branch and observation_processing (to DL3) run with dag.test(); prints the products.
DEMO_ROOT ?= $(CURDIR)/var/demo
demo: $(STAMP)
	@env -u AIRFLOW_HOME DATAPIPE_DATA_ROOT=$(DEMO_ROOT) PYTHONPATH=$(CURDIR)/plugins \
	  $(VENV)/bin/python -m demo

test: $(STAMP)
	@.ci/ensure-postgres
	@$(VENV)/bin/ruff check --quiet datapipe_ops plugins dags tests benchmarks testkit demo
	@$(VENV)/bin/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	@$(VENV)/bin/ruff check datapipe_ops plugins dags tests benchmarks testkit demo

docs: $(STAMP)
	@$(VENV)/bin/mkdocs build --strict --site-dir build/site

clean:
	rm -rf $(VENV) $(TOOLS) build .pytest_cache .numba-cache

# Airflow on this machine (include/deploy/airflow-local.sh): scheduler, dag-processor, triggerer and
# api-server as separate processes with pid files under var/airflow; SQLite by default,
# PostgreSQL with DATAPIPE_AIRFLOW_DB=postgresql+psycopg2://postgres@127.0.0.1:5432/airflow.
up: $(STAMP)
	@include/deploy/airflow-local.sh up

down:
	@include/deploy/airflow-local.sh down

# The stage image (Containerfile) with podman, from a debootstrap'd root filesystem: no registry
# pull. Installs podman/runc/debootstrap with apt-get when missing; skipped when up to date.
image: $(STAMP)
	@include/container/engine.sh install
	@include/container/build-image.sh
