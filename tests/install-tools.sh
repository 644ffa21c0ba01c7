#!/bin/sh
# tests/install-tools.sh PACKAGE...: installs the Debian packages that are
# missing, with apt-get, when that is possible here (root, apt-get); else
# says why and does nothing. Always exits 0: each test checks for its own
# tool afterwards and skips with a message when it is not there.
#
# The package lists the machine already has are tried first: `apt-get
# update` costs about 15 s, so it runs only when the install fails without it.
set -u
missing=
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-tools:$missing missing, and only root with apt-get installs them here"
    exit 0
fi
echo "install-tools: installing$missing with apt-get"
install() {
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}
install 2>/dev/null || { apt-get update -qq && install; } || echo "install-tools: apt-get could not install$missing" >&2
exit 0
