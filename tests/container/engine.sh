# Sourced: sets ENGINE to podman if installed, else docker if its daemon
# answers, else empty.
ENGINE=
if command -v podman >/dev/null 2>&1; then
    ENGINE=podman
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    ENGINE=docker
fi
