#!/bin/sh
# make image-test (part of make test): builds the image from a static link
# of the debug build (image.sh dev: after rust-test it compiles only the
# binary's own crate, thanks to the workspace-hack crate) and runs a job
# through it with podman (drive.py). `image-test.sh IMAGE` drives an image
# already built (make image) and builds nothing. Without podman or docker
# (the Makefile installs podman with apt when it can) it skips with a
# message and succeeds.
set -eu
cd "$(dirname "$0")/../.."
. tests/container/engine.sh
if [ -z "$ENGINE" ]; then
    echo "image-test: SKIPPED: no podman or running docker, and they cannot be installed here" \
         "(needs root and apt-get); see docs/container.md"
    exit 0
fi
run_opts=
if [ "$ENGINE" = podman ]; then
    # This sandbox's settings (../shared/containers.md), for running only:
    # no default ulimits (crun cannot set RLIMIT_NOFILE here), cgroupfs (no
    # systemd), and runc where installed (crun fails on "cgroups in hybrid
    # mode"). The Containerfile itself stays plain.
    mkdir -p "${CARGO_TARGET_DIR:-target}"
    conf="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/containers.conf"
    printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n' > "$conf"
    CONTAINERS_CONF=$conf
    export CONTAINERS_CONF
    if command -v runc >/dev/null 2>&1; then run_opts="--runtime runc"; fi
fi
if [ -n "${1:-}" ]; then
    tag=$1
else
    tag=flat2model-mock:test
    tests/container/image.sh dev "$tag"
fi
# shellcheck disable=SC2086
${PYTHON:-python3} tests/container/drive.py "$ENGINE" "$tag" $run_opts
