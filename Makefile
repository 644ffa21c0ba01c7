# flat2model-mock: the README's commands.
#   make run    serve the fake on 127.0.0.1:8080 with the fixture account
#   make test   every check: format, clippy, Rust tests, the vendor's Python examples, Schemathesis
#   make lint   format and clippy only
#   make proptest-long   the property tests with 20,000 cases each

CARGO  ?= cargo
PYTHON ?= python3
VENV   := .venv
VENV_STAMP := $(VENV)/.installed-$(shell cksum < tests/python/requirements.txt | cut -d' ' -f1)
ST_VENV := .venv-st
ST_STAMP := $(ST_VENV)/.installed-$(shell cksum < tests/schemathesis/requirements.txt | cut -d' ' -f1)

.PHONY: run test lint rust-test python-test schemathesis proptest-long venv

run:
	$(CARGO) run --release -p mock-server -- --host 127.0.0.1 --port 8080 --fixtures fixtures

# pytest last: its closing line ("N passed") is the run's summary for CI.
test: lint rust-test schemathesis python-test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

rust-test:
	$(CARGO) test --workspace --locked

# The Python checks run the debug binary that rust-test built.
python-test: venv
	$(CARGO) build -p mock-server --locked
	$(VENV)/bin/pytest -q tests/python

# The property tests with many more cases than make test runs (64).
proptest-long:
	PROPTEST_CASES=$${PROPTEST_CASES:-20000} $(CARGO) test -p contract-tests --test properties --locked

# Schemathesis against the fake's OpenAPI (pinned in tests/python/requirements.txt).
schemathesis: $(ST_STAMP)
	$(CARGO) build -p mock-server --locked
	tests/schemathesis/run.sh

$(ST_STAMP): tests/schemathesis/requirements.txt
	rm -rf $(ST_VENV)
	$(PYTHON) -m venv $(ST_VENV)
	$(ST_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/schemathesis/requirements.txt
	touch $@

venv: $(VENV_STAMP)

$(VENV_STAMP): tests/python/requirements.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@
