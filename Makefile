# The two commands of the README:
#   make demo   set up, deploy the stack into the embedded emulator and show what was built
#   make test   set up, lint, and run every test (molecule scenarios and pytest)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Tools call each other by name (molecule runs ansible-config, ansible-playbook ...).
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: collection-link setup demo deploy destroy check test lint collection-qa molecule pytest docs bench clean

setup: $(STAMP) collection-link

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "hastack needs Python 3.11 (ansible-core 2.19); set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# This checkout as the collection hastack.stack, where ansible.cfg's collections_path looks.
collection-link:
	@mkdir -p .collections/ansible_collections/hastack
	@ln -sfn ../../.. .collections/ansible_collections/hastack/stack

demo: setup
	$(BIN)/hastack deploy --env local
	$(BIN)/hastack check --env local
	$(BIN)/hastack outputs --env local
	$(BIN)/hastack emulator status

deploy: setup
	$(BIN)/hastack deploy --env $(or $(ENV),local)

destroy: setup
	$(BIN)/hastack destroy --env $(or $(ENV),local)

check: setup
	$(BIN)/hastack check --env $(or $(ENV),local)

lint: setup
	$(BIN)/shellcheck scripts/molecule-all scripts/collection-qa bench/run .ci/run
	$(BIN)/ruff check setup.py python tests plugins roles app bench scripts/reliability-report
	$(BIN)/ruff format --check setup.py python tests plugins roles app bench scripts/reliability-report
	$(BIN)/ansible-lint

# The collection as Galaxy and ansible-test see it: build the tarball (build/collection/), then
# ansible-test sanity and units on it installed in a temporary tree, then galaxy-importer.
collection-qa: setup
	scripts/collection-qa

# Molecule scenarios, two at a time, share one emulator in .hastack/test (stopped at the end).
molecule: setup
	JOBS=2 scripts/molecule-all

# Two pytest workers, each with its own emulator; tests keep apart by stack name. Then the
# reliability report from the figures the tests recorded, into build/ (fails on a leak or an
# exposure); `make docs` copies it over the committed docs/RELIABILITY.md.
pytest: setup
	$(BIN)/pytest -n 2 --durations=25
	$(BIN)/python scripts/reliability-report --output build/RELIABILITY.md

# Refresh the committed reports from the last `make test` (build/); not part of `make test`,
# which leaves the work tree as it found it.
docs:
	@test -f build/RELIABILITY.md || { echo "run make test first (no build/RELIABILITY.md)"; exit 1; }
	cp build/RELIABILITY.md docs/RELIABILITY.md

test: lint collection-qa molecule pytest

# The benchmark (minutes of CPU, not part of `make test`): writes docs/BENCHMARKS.md.
# BENCH_ARGS=--quick for one run of 2 AZs; default 3 runs each of 2, 3 and 6 AZs.
bench: setup
	bench/run $(BENCH_ARGS)

clean:
	-$(BIN)/python -m hastack.emulator stop
	rm -rf .hastack
