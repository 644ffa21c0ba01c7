# flat2model-mock: the README's commands.
#   make run    serve the fake on 127.0.0.1:8080 with the fixture account (quick profile)
#   make image  the container image flat2model-mock:latest (podman or docker; docs/container.md)
#   make image-test   that image built from the debug build and a job run through it (podman)
#   make test   every check: format, clippy, Rust tests, two instances behind HAProxy, the container image,
#               the vendor's Python examples, Schemathesis, the CI example (docs/ci.md), the pytest plugin,
#               the Node helper and the dashboard in a real browser (make browser-test)
#   make lint   format and clippy only
#   make proptest-long   the property tests with 20,000 cases each
#   make bench  the benchmark (release build), written to bench/report.md
#   make soak   the soak of issue 20 (quick profile, about 5 minutes), written to bench/soak.md
#   make fuzz   every fuzz target for FUZZ_SECS seconds each (default 60); fails on a crash
#               (make test runs the targets on mutated seeds: fuzz-targets/tests/smoke.rs)

CARGO  ?= cargo
PYTHON ?= python3
VENV   := .venv
VENV_STAMP := $(VENV)/.installed-$(shell cksum < tests/python/requirements.txt | cut -d' ' -f1)
PLUGIN_STAMP := $(VENV)/.plugin-$(shell cat clients/python/pyproject.toml clients/python/flat2model_mock/*.py | cksum | cut -d' ' -f1)
ST_VENV := .venv-st
BROWSER_VENV := .venv-browser
BROWSER_STAMP := $(BROWSER_VENV)/.installed-$(shell cksum < tests/browser/requirements.txt | cut -d' ' -f1)
ST_STAMP := $(ST_VENV)/.installed-$(shell cksum < tests/schemathesis/requirements.txt | cut -d' ' -f1)

PEERS_DIR   := bench/peers
PEERS_STAMP := $(PEERS_DIR)/node_modules/.installed-$(shell cksum < $(PEERS_DIR)/package-lock.json | cut -d' ' -f1)

.PHONY: run image image-test scale-test test-tools test lint fmt-check lint-build rust-test python-test ci-example python-plugin node-helper schemathesis proptest-long venv bench bench-smoke bench-peers browser-test soak \
	fuzz fuzz-smoke cargo-fuzz

# The quick profile (Cargo.toml): a first `make run` builds in a fraction of
# the fat-LTO release build's time (README, "Quick start").
run:
	$(CARGO) run --profile quick --locked -p mock-server -- --host 127.0.0.1 --port 8080

# Two instances behind HAProxy serve one client (docs/scaling.md), with the
# debug binary that rust-test built.
scale-test:
	$(BUILD_DEBUG)
	tests/scaling/scale-test.sh

# The container image, from a static link of the release build (fat LTO:
# the image is what people run for long). IMAGE names it.
IMAGE ?= flat2model-mock:latest
image:
	tests/container/image.sh release $(IMAGE)

# The image from a static link of the debug build, and a job through it
# with podman (docs/container.md). podman and runc are installed with apt
# when missing and possible; else it says SKIPPED. In make test after
# rust-test the link compiles only the binary's own crate (seconds): the
# workspace-hack crate gives mock-server built alone the features of the
# workspace's build. `make image-test IMAGE_TEST=name:tag` drives an image
# already built (make image) instead.
image-test:
	tests/install-tools.sh podman runc
	tests/container/image-test.sh $(IMAGE_TEST)

# What scale-test runs, installed with apt when missing and possible (the
# test skips with a message where it is not).
test-tools:
	tests/install-tools.sh haproxy

# Every check, one step after another, each timed by tests/timed.sh; the
# closing line sums them up for CI. What the later steps fetch over the
# network (Debian packages, the Python virtualenvs) is fetched in the
# background while lint-build and rust-test compile (tests/prefetch.sh): on a
# fresh 2-core machine that takes minutes of waiting off the run.
TEST_FIRST := fmt-check lint-build rust-test
TEST_REST  := bench-smoke test-tools scale-test image-test schemathesis ci-example node-helper browser-test python-test
PREFETCH_TOOLS   := haproxy podman runc chromium chromium-driver
PREFETCH_TARGETS := venv python-plugin $(ST_STAMP) $(BROWSER_STAMP)

test:
	@rm -f target/test-steps.txt
	@PREFETCH_TOOLS="$(PREFETCH_TOOLS)" PREFETCH_TARGETS="$(PREFETCH_TARGETS)" tests/prefetch.sh start
	@export $(CLIPPY_ENV); for s in $(TEST_FIRST); do tests/timed.sh $$s $(MAKE) --no-print-directory $$s || exit 1; done
	@tests/prefetch.sh wait
	@export $(CLIPPY_ENV); for s in $(TEST_REST); do tests/timed.sh $$s $(MAKE) --no-print-directory $$s || exit 1; done
	@awk '{ t += $$2; s = s (NR > 1 ? ", " : "") $$1 " " $$2 } END { printf "make test: all %d steps passed in %d s (%s)\n", NR, t, s }' target/test-steps.txt

lint: fmt-check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt-check:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check

# make test's clippy: the debug build every later step runs, with
# clippy-driver wrapping rustc for the workspace's own crates (as cargo
# clippy does) and warnings denied. The dependencies are compiled once, for
# the tests, where `cargo clippy` would also check every one of them (about
# 2 minutes of a clean make test on 2 cores). Run alone it lints the same;
# make test exports the same two variables to every step, so the builds
# after it reuse what it built.
CLIPPY_DRIVER := $(shell rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
CLIPPY_ENV := RUSTC_WORKSPACE_WRAPPER="$(CLIPPY_DRIVER)" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
lint-build:
	@test -n "$(CLIPPY_DRIVER)" || { echo "lint-build: clippy-driver not found (rustup component add clippy)"; exit 1; }
	$(CLIPPY_ENV) $(BUILD_DEBUG)

rust-test:
	$(CARGO) test --workspace --locked

# The debug binaries the later steps run, built exactly as `cargo test
# --workspace` builds them: the same packages, targets and features (the
# tests' dev-dependencies switch on features of shared crates), so after
# rust-test this compiles nothing. `cargo build -p mock-server` alone would
# resolve other features and rebuild reqwest, image and the fake (about
# 3 minutes of a clean `make test` on 2 cores).
BUILD_DEBUG := $(CARGO) build --workspace --all-targets --locked

# docs/ci.md's shell variant (tests/ci/gate.sh) as written, against a good
# client and three broken ones; the debug binaries that rust-test built.
ci-example: venv
	$(BUILD_DEBUG)
	PYTHON=$(abspath $(VENV))/bin/python $(VENV)/bin/pytest -q tests/ci

# The Python checks run the debug binary that rust-test built: the vendor's
# examples, then the pytest plugin's own tests (clients/python).
python-test: venv python-plugin
	$(BUILD_DEBUG)
	$(VENV)/bin/pytest -q tests/python
	F2M_THROUGH_PROXY=1 $(VENV)/bin/pytest -q tests/python
	F2M_MOCK_SERVER=$(abspath target/debug/mock-server) $(VENV)/bin/pytest -q clients/python/tests

# The pytest plugin, installed into .venv (its pins are those of
# tests/python/requirements.txt, already there: --no-deps).
python-plugin: $(PLUGIN_STAMP)

$(PLUGIN_STAMP): $(VENV_STAMP) clients/python/pyproject.toml
	rm -f $(VENV)/.plugin-*
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps ./clients/python
	touch $@

# The Node helper's tests (node:test, Node 18+); without Node, skipped with a note.
# Node comes from Debian (apt-get, as root) when it is missing.
node-helper:
	@command -v node >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		echo "node-helper: installing Debian's nodejs" && \
		apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null 2>&1; } || true
	@if command -v node >/dev/null 2>&1 && node -e 'process.exit(parseInt(process.versions.node, 10) < 18 ? 1 : 0)'; then \
		$(BUILD_DEBUG) && \
		F2M_MOCK_SERVER=$(abspath target/debug/mock-server) node --test clients/node/test/; \
	else \
		echo "SKIP node-helper: Node 18 or later is not installed and could not be installed with apt-get (clients/node needs its global fetch)"; \
	fi

# The property tests with many more cases than make test runs (64).
proptest-long:
	PROPTEST_CASES=$${PROPTEST_CASES:-20000} $(CARGO) test -p mock-server --test api --locked properties::

# The benchmark: every figure in one run, beside Prism, WireMock and a bare
# hyper server (about 5 minutes on 2 cores). Not part of make test.
bench: bench-peers
	$(CARGO) build --release -p mock-server -p f2m-bench --locked
	target/release/f2m-bench run --out bench/report.md

# The soak of issue 20 (docs/development.md, "Soak"): two waves of 100,000
# --any-token tokens evicted by the clock, a webhook receiver that never
# answers under 20,000 jobs, 1,000 stalled uploads under an open-file limit
# of 1,024 (prlimit, util-linux). The quick profile, as make run builds it:
# a fat-LTO release build is too slow to be worth it here. Not part of
# make test.
soak:
	$(CARGO) build --profile quick --locked -p mock-server -p f2m-bench
	target/quick/f2m-bench soak --server target/quick/mock-server --out bench/soak.md

# The same bench with tiny sizes on the debug build, so its code cannot rot
# (part of make test; its figures mean nothing). Without Prism and WireMock
# (npm, Java, 187 npm packages): make test needs neither; make bench runs them.
bench-smoke:
	$(BUILD_DEBUG)
	target/debug/f2m-bench run --smoke --skip-peers --server target/debug/mock-server --out target/bench-smoke.md

# Prism and WireMock, pinned in bench/peers/package-lock.json.
bench-peers: $(PEERS_STAMP)

$(PEERS_STAMP): $(PEERS_DIR)/package.json $(PEERS_DIR)/package-lock.json
	rm -rf $(PEERS_DIR)/node_modules
	cd $(PEERS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# A virtualenv made afresh from one pinned requirements file; the target is
# its stamp, named after the file's checksum, so a changed pin remakes it.
define make-venv
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --disable-pip-version-check -r $(2)
	touch $@
endef

# The dashboard in a real browser (tests/browser/): Debian's chromium and
# chromium-driver (installed here as root, about 45 s on a clean machine),
# driven by selenium, pinned in tests/browser/requirements.txt; skipped with
# a message where they cannot be had. F2M_SCREENSHOTS=1 rewrites the
# screenshots in docs/img/ that docs/qa.md shows.
browser-test: $(BROWSER_STAMP)
	tests/install-tools.sh chromium chromium-driver
	$(BUILD_DEBUG)
	tests/browser/run.sh

$(BROWSER_STAMP): tests/browser/requirements.txt
	$(call make-venv,$(BROWSER_VENV),tests/browser/requirements.txt)

# Schemathesis against the fake's OpenAPI (pinned in tests/python/requirements.txt).
schemathesis: $(ST_STAMP)
	$(BUILD_DEBUG)
	tests/schemathesis/run.sh

$(ST_STAMP): tests/schemathesis/requirements.txt
	$(call make-venv,$(ST_VENV),tests/schemathesis/requirements.txt)

venv: $(VENV_STAMP)

$(VENV_STAMP): tests/python/requirements.txt
	$(call make-venv,$(VENV),tests/python/requirements.txt)

# Fuzzing (README, "Fuzzing"): cargo-fuzz, pinned, installed into .tools/.
# Only the stable toolchain is needed: without a sanitizer (`-s none`;
# AddressSanitizer needs nightly) cargo-fuzz passes only stable rustc flags.
# make fuzz builds in release mode (cargo-fuzz's default: fast runs);
# make fuzz-smoke, a quick check that this side builds and runs, builds with
# --dev (fuzz/Cargo.toml's dev profile). make test does not run either: its
# fuzz smoke is fuzz-targets/tests/smoke.rs, in the workspace's own build.
# Seeds are committed in fuzz/seeds/TARGET/;
# what the runs find goes to fuzz/corpus/TARGET/ and crashes to
# fuzz/artifacts/TARGET/ (both ignored by git).
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := .tools/bin/cargo-fuzz
CARGO_FUZZ_STAMP := .tools/.cargo-fuzz-$(CARGO_FUZZ_VERSION)
FUZZ_TARGETS := job_request identity_upload image_probe presigned_query scenario
FUZZ_FLAGS := --sanitizer none
FUZZ_SMOKE_FLAGS := --sanitizer none --dev
FUZZ_SECS ?= 60
# The smoke: this many inputs per target, from a fixed seed.
FUZZ_SMOKE_RUNS ?= 500
# One input running longer than this many seconds is a hang (a crash); a
# 64-megapixel image, the largest accepted, decodes in about 4 s instrumented.
FUZZ_TIMEOUT ?= 20

cargo-fuzz: $(CARGO_FUZZ_STAMP)

$(CARGO_FUZZ_STAMP):
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root .tools
	touch $@

# $(call fuzz-run,FLAGS,TARGET,CORPUS,libFuzzer options): the target on its
# seeds and CORPUS (where new inputs go), with its dictionary.
fuzz-run = mkdir -p $(3) && \
	$(CARGO_FUZZ) fuzz run $(1) $(2) $(3) fuzz/seeds/$(2) -- \
	-timeout=$(FUZZ_TIMEOUT) -dict=fuzz/dict/$(2).dict $(4)

fuzz: cargo-fuzz
	$(CARGO_FUZZ) fuzz build $(FUZZ_FLAGS)
	$(foreach t,$(FUZZ_TARGETS),$(call fuzz-run,$(FUZZ_FLAGS),$(t),fuzz/corpus/$(t),-max_total_time=$(FUZZ_SECS)) &&) true

# The smoke starts from the seeds alone (a fresh corpus), so it repeats.
fuzz-smoke: cargo-fuzz
	$(CARGO_FUZZ) fuzz build $(FUZZ_SMOKE_FLAGS)
	rm -rf fuzz/target/smoke-corpus
	$(foreach t,$(FUZZ_TARGETS),$(call fuzz-run,$(FUZZ_SMOKE_FLAGS),$(t),fuzz/target/smoke-corpus/$(t),-runs=$(FUZZ_SMOKE_RUNS) -seed=1) &&) true
