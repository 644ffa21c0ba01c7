#!/bin/sh
# tests/timed.sh STEP COMMAND...: runs one step of `make test`, then prints
# and records (in target/test-steps.txt) how long it took, so a CI log shows
# where the minutes went.
set -u
step=$1
shift
start=$(date +%s)
"$@"
rc=$?
secs=$(($(date +%s) - start))
mkdir -p target
echo "$step $secs $rc" >> target/test-steps.txt
echo "== make test: $step took ${secs} s (rc $rc)"
exit $rc
