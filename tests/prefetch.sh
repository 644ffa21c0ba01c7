#!/bin/sh
# tests/prefetch.sh start|wait: what `make test` fetches over the network
# (the Debian packages of its later steps, the Python virtualenvs) is
# fetched in the background while lint and the Rust tests compile, which
# need only the CPU. On a fresh 2-core machine the installs take minutes of
# mostly waiting; this takes them off the critical path. Best effort: a
# later step that finds its tool or virtualenv missing makes it itself
# (and says so), exactly as without this.
#   start   begins it (its output goes to target/prefetch.log)
#   wait    waits for it to end, then prints its log
set -u
log=target/prefetch.log
pidfile=target/prefetch.pid
mkdir -p target
case ${1:-} in
start)
    # shellcheck disable=SC2086
    { tests/install-tools.sh $PREFETCH_TOOLS; ${MAKE:-make} --no-print-directory $PREFETCH_TARGETS; } > "$log" 2>&1 &
    echo $! > "$pidfile"
    echo "prefetch: installing$(printf ' %s' $PREFETCH_TOOLS) and making the virtualenvs in the background (log: $log)"
    ;;
wait)
    [ -f "$pidfile" ] || exit 0
    pid=$(cat "$pidfile")
    while kill -0 "$pid" 2>/dev/null; do sleep 1; done
    rm -f "$pidfile"
    sed 's/^/prefetch: /' "$log"
    ;;
*)
    echo "usage: tests/prefetch.sh start|wait" >&2
    exit 2
    ;;
esac
