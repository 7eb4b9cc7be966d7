# The newcomer path: `make run` and `make test` do all the set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test check bench soak clean mutation

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "finews needs Python 3.11 or newer")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/finews serve

# Lint, format and types first: CI (.ci/run) fails on any of them.
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -n auto --maxprocesses=4

check: install
	$(BIN)/finews check

bench: install
	$(BIN)/python -m bench

# 60 s of mixed traffic against a real server (not part of `make test`): SOAK_SECONDS=10 to shorten.
soak: install
	$(BIN)/python -m bench.soak --seconds $(or $(SOAK_SECONDS),60)

# Mutation tests of dates, settings checks, the SSRF guard and share-link targets/codes
# (not part of `make test`, a few minutes): one `mutation: MODULE killed/total` line each.
mutation: install
	$(BIN)/pip install --quiet 'mutmut>=3.8,<3.9'
	$(BIN)/python mutation/run.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) var .cache build *.egg-info
