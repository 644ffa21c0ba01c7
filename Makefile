# flat2model-mock: the README's commands.
#   make run    serve the fake on 127.0.0.1:8080 with the fixture account
#   make test   every check: format, clippy, Rust tests, the vendor's Python examples
#   make lint   format and clippy only

CARGO  ?= cargo
PYTHON ?= python3
VENV   := .venv
VENV_STAMP := $(VENV)/.installed-$(shell cksum < tests/python/requirements.txt | cut -d' ' -f1)

.PHONY: run test lint rust-test python-test venv

run:
	$(CARGO) run --release -p mock-server -- --host 127.0.0.1 --port 8080 --fixtures fixtures

test: lint rust-test python-test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

rust-test:
	$(CARGO) test --workspace --locked

# The Python checks run the debug binary that rust-test built.
python-test: venv
	$(CARGO) build -p mock-server --locked
	$(VENV)/bin/pytest -q tests/python

venv: $(VENV_STAMP)

$(VENV_STAMP): tests/python/requirements.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@
