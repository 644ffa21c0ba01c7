#!/usr/bin/env bash
# Runs Schemathesis against the fake's own OpenAPI document with the fixture
# token: every check the issue names, a fixed seed, 0 failures expected.
# The control operations that change the whole server's behaviour (reset,
# clock, scenarios: a fuzzed global scenario delays or fails every later
# request) are left out, and so is the SSE stream (it never ends, so every
# case would wait for the request timeout); the Rust tests cover them.
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
.venv-st/bin/schemathesis run "$URL/__admin/openapi.json" \
  -H "Authorization: Bearer f2m_demo_token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection,ignored_auth,use_after_free,ensure_resource_availability \
  --exclude-path-regex '^/__admin/(reset|clock|scenarios)|^/notifications/events$' \
  --request-timeout 5 \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --no-color
