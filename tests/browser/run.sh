#!/bin/sh
# tests/browser/run.sh: the dashboard in a real browser (make browser-test).
# Needs Debian's chromium and chromium-driver (tests/install-tools.sh
# installs them as root); where they are missing, says so and skips.
set -eu
cd "$(dirname "$0")/../.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "SKIP browser-test: chromium and chromium-driver are not installed (apt-get install chromium chromium-driver, as root)"
    exit 0
fi
# Selenium finds its driver itself only by downloading one: never here (the
# test names Debian's), and no usage statistics either.
export SE_OFFLINE=true SE_AVOID_STATS=true
exec .venv-browser/bin/pytest -q tests/browser "$@"
