#!/usr/bin/env bash
# Runs Schemathesis against both OpenAPI documents the fake serves (the
# vendor API with the fixture token, then the control API), with every check
# and phase; what is left out, and why, is in schemathesis.toml beside this
# script. 0 failures expected. SCHEMATHESIS_EXAMPLES and SCHEMATHESIS_SEED
# change the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOCK_SERVER_BIN:-${CARGO_TARGET_DIR:-target}/debug/mock-server}
OUT=$(mktemp)
"$BIN" --port 0 --time-scale 0 --job-rate-limit 0 --fixtures fixtures >"$OUT" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$OUT"' EXIT
URL=""
for _ in $(seq 200); do
  URL=$(sed -n 's/^listening on //p' "$OUT" | head -n 1)
  [ -n "$URL" ] && break
  sleep 0.05
done
[ -n "$URL" ] || { echo "the fake did not start" >&2; exit 1; }
st() {
  .venv-st/bin/schemathesis --config-file tests/schemathesis/schemathesis.toml --no-color run "$@" \
    ${SCHEMATHESIS_EXAMPLES:+--max-examples "$SCHEMATHESIS_EXAMPLES"} \
    ${SCHEMATHESIS_SEED:+--seed "$SCHEMATHESIS_SEED"}
}
st "$URL/__admin/openapi.json" -H "Authorization: Bearer f2m_demo_token"
st "$URL/__admin/control-openapi.json"
