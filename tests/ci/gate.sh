#!/bin/sh
# The client gate of docs/ci.md, as plain shell: starts the fake, runs the
# client command given as arguments against it, then judges what the client
# sent. Exit code 0 only when the client succeeded and the gate found nothing.
#   MOCK_SERVER, CONTRACT_TESTS  the two binaries (default: on PATH)
#   EXPECT                       the expectation file (default: tests/ci/expect.json)
#   REPORTS                      where client.xml, client.har and fake.log go (default: reports)
set -u
MOCK_SERVER=${MOCK_SERVER:-mock-server}
CONTRACT_TESTS=${CONTRACT_TESTS:-contract-tests}
EXPECT=${EXPECT:-tests/ci/expect.json}
REPORTS=${REPORTS:-reports}
mkdir -p "$REPORTS"

# 1. The fake on a free port, jobs instant, no rate limit; its first line on
#    stdout says where it listens.
"$MOCK_SERVER" --port 0 --time-scale 0 --job-rate-limit 0 >"$REPORTS/fake.out" 2>"$REPORTS/fake.log" &
FAKE_PID=$!
trap 'kill "$FAKE_PID" 2>/dev/null' EXIT
until grep -q '^listening on ' "$REPORTS/fake.out" 2>/dev/null; do
    kill -0 "$FAKE_PID" 2>/dev/null || { cat "$REPORTS/fake.log"; exit 3; }
    sleep 0.1
done
F2M_BASE_URL=$(sed -n 's/^listening on //p' "$REPORTS/fake.out")
export F2M_BASE_URL
export F2M_TOKEN=f2m_demo_token

# 2. The first job creation answers 429 with Retry-After: 1, so the gate also
#    proves the client waits as told.
curl -fsS -X POST "$F2M_BASE_URL/__admin/scenarios" -H 'Content-Type: application/json' -d '{
  "name": "ci-429-once", "description": "the first job creation of each caller is rate-limited",
  "endpoints": [{"method": "POST", "path": "/flat-2-model", "calls": [1], "status": 429, "retry_after": 1}]
}' >/dev/null
curl -fsS -X PUT "$F2M_BASE_URL/__admin/scenarios/active" -H 'Content-Type: application/json' \
    -d '{"name": "ci-429-once"}' >/dev/null

# 3. The client under test.
"$@"
CLIENT=$?

# 4. The gate: every request of the run, judged; JUnit and HAR for the CI run.
"$CONTRACT_TESTS" verify-client --base-url "$F2M_BASE_URL" --expect "$EXPECT" \
    --report junit --output "$REPORTS/client.xml" --har "$REPORTS/client.har"
GATE=$?

[ "$CLIENT" -eq 0 ] && [ "$GATE" -eq 0 ]
