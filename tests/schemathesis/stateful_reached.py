"""Fails unless Schemathesis's stateful phase followed a job it created into
/jobs/{id}/...: reads the fake's journal (GET /__admin/journal?path=/jobs/**
on stdin) and looks for a 2xx answer on a job other than the one run.sh
seeded (argv[1]). The fake started empty, and no generated ID can name a job
that exists, so such an answer is a job created in this run, reached by
following the document's links from the objects the run itself created."""

import json
import sys

seed = sys.argv[1]
reached = sorted(
    {
        entry["path"]
        for entry in json.load(sys.stdin)["requests"]
        if 200 <= entry["status"] < 300 and entry["path"].split("/")[2] not in ("", seed)
    }
)
if not reached:
    sys.exit(
        "stateful phase: no request reached /jobs/{id}/... of a job created in this run with a 2xx answer "
        "(the links of schemas/openapi.yaml from POST /upload to PUT /upload/{file_id} and POST /flat-2-model)"
    )
print(f"stateful phase reached {len(reached)} path(s) of jobs it created, e.g. {reached[0]}")
