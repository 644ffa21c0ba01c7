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
# Seed one completed job's worth of data (a project, an uploaded image, a
# job on a gallery identity) and hand its IDs to the dictionaries of
# schemathesis.toml, so generated requests reach real objects, not only 404s.
SEEDS=.schemathesis/seeds
mkdir -p "$SEEDS"
api() { curl -sf -H "Authorization: Bearer f2m_demo_token" -H "Content-Type: application/json" "$@"; }
field() { .venv-st/bin/python -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
PROJECT=$(api -d '{"project_name":"schemathesis"}' "$URL/project" | field project_id)
UPLOAD=$(api -d '{"project_name":"schemathesis","filename":"sku-shirt.jpg"}' "$URL/upload")
curl -sf -X PUT -H "Content-Type: image/jpeg" --data-binary @fixtures/images/sku-shirt.jpg \
  "$(field upload_url <<<"$UPLOAD")" >/dev/null
FILE=$(field file_id <<<"$UPLOAD")
JOB=$(api -d "{\"identity_code\":\"PiktidPremium\",\"project_id\":\"$PROJECT\",\"images\":[\"$FILE\"],\"instructions\":[{}]}" \
  "$URL/flat-2-model" | field job_id)
for pair in "projects:$PROJECT" "files:$FILE" "jobs:$JOB"; do
  printf '"%s"\n' "${pair#*:}" >"$SEEDS/${pair%%:*}.dict"
done
st() {
  .venv-st/bin/schemathesis --config-file tests/schemathesis/schemathesis.toml --no-color run "$@" \
    ${SCHEMATHESIS_EXAMPLES:+--max-examples "$SCHEMATHESIS_EXAMPLES"} \
    ${SCHEMATHESIS_SEED:+--seed "$SCHEMATHESIS_SEED"}
}
st "$URL/__admin/openapi.json" -H "Authorization: Bearer f2m_demo_token"
# The stateful phase again on the operations of one job's life only: with all
# 29 operations to choose from in each step, a 4-link chain (upload, PUT the
# image, create the job, poll it) is rarely drawn in 6 steps. It must reach
# a job it created (stateful_reached.py reads the journal, cleared first).
# 100 scenarios, not the default: a generated upload names a project only
# now and then (the job's link needs its project_id), and 24 scenarios with
# seed 1 drew none once the document grew (about 10 s more).
curl -sf -X DELETE "$URL/__admin/journal" >/dev/null
st "$URL/__admin/openapi.json" -H "Authorization: Bearer f2m_demo_token" --phases stateful --max-examples 100 \
  --include-operation-id createProject --include-operation-id createUpload --include-operation-id putUpload \
  --include-operation-id createJob --include-operation-id getJobStatus --include-operation-id getJobResults
curl -sf "$URL/__admin/journal?path=/jobs/**" | .venv-st/bin/python tests/schemathesis/stateful_reached.py "$JOB"
st "$URL/__admin/control-openapi.json"
