#!/bin/sh
# make scale-test (part of make test): two fakes behind HAProxy serve one
# client (run.py; docs/scaling.md). HAProxy is installed with apt when
# missing and possible (tests/install-tools.sh); otherwise the test is
# skipped with a message and succeeds. Runs the debug binary that make
# test built (the Makefile builds it as cargo test --workspace does).
set -eu
cd "$(dirname "$0")/../.."
tests/install-tools.sh haproxy
haproxy=$(command -v haproxy || true)
[ -z "$haproxy" ] && [ -x /usr/sbin/haproxy ] && haproxy=/usr/sbin/haproxy
if [ -z "$haproxy" ]; then
    echo "scale-test: SKIPPED: no haproxy, and it cannot be installed here (needs root and apt-get); see docs/scaling.md"
    exit 0
fi
${PYTHON:-python3} tests/scaling/run.py "${CARGO_TARGET_DIR:-target}/debug/mock-server" "$haproxy"
