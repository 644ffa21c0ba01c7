#!/bin/sh
# Builds the container image: tests/container/image.sh PROFILE TAG
#   PROFILE  cargo profile of the binary: release (make image) or dev
#            (make image-test: the debug build make test already has)
#   TAG      image name, e.g. flat2model-mock:latest
# Uses podman if installed, else docker if its daemon answers (engine.sh).
#
# The static binary costs one link, not a second build: `cargo rustc` passes
# `-C target-feature=+crt-static` to the binary's own crate only, so it links
# the libraries the profile already built (glibc and the C code of ring and
# mimalloc statically, as a static-pie). crt-static changes no library's
# code; it only decides how the final executable is linked. (The usual
# `RUSTFLAGS=... --target x86_64-unknown-linux-gnu` builds every crate again
# in another folder: minutes on 2 cores.)
set -eu
profile=$1
tag=$2
cd "$(dirname "$0")/../.."
. tests/container/engine.sh
if [ -z "$ENGINE" ]; then
    echo "image: neither podman nor a running docker found (install one; see docs/container.md)" >&2
    exit 1
fi
case $profile in
    dev) dir=debug ;;
    release) dir=release ;;
    *) dir=$profile ;;
esac
bin="${CARGO_TARGET_DIR:-target}/$dir/mock-server"
ctx="${CARGO_TARGET_DIR:-target}/image-context"
rm -rf "$ctx"
mkdir -p "$ctx"
# cargo puts the static binary where the profile's usual one is: keep that
# one aside and put it back, so later builds and tests find what they built.
restore() { if [ -e "$bin.usual" ]; then mv -f "$bin.usual" "$bin"; fi; }
trap restore EXIT
if [ -e "$bin" ]; then mv "$bin" "$bin.usual"; fi
${CARGO:-cargo} rustc --locked -p mock-server --bin mock-server --profile "$profile" -- \
    -C target-feature=+crt-static -C strip=symbols
mv "$bin" "$ctx/mock-server"
restore
cp Containerfile "$ctx/Containerfile"
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it).
fmt=
[ "$(basename "$ENGINE")" = podman ] && fmt="--format docker"
# shellcheck disable=SC2086
$ENGINE build -q $fmt -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
echo "image: $tag built with $ENGINE from $ctx/mock-server ($profile profile, static)"
