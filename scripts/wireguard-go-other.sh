#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The other Debian generation of wireguard-go, for the interop labs (as root):
#
#   scripts/wireguard-go-other.sh        prints the path of its binary, or fails
#
# Debian ships two: bookworm's 0.0.20220316 and 0.0.20231211 (trixie's, also in
# bookworm-backports). The labs run with the one installed (`wireguard-go` on PATH) and once
# more with this one (WIREGUARD_GO=<path>). On bookworm it is `apt-get download -t
# bookworm-backports wireguard-go`, on trixie bookworm's package; the .deb is unpacked into
# the cache beside nothing of the system's (Debian's wireguard-go is never replaced). When the
# suite is not configured in /etc/apt/sources.list*, a private source list and package lists
# (in the cache) serve for this one download; the system's apt configuration is not changed.
# Cache: $START_TUNNEL_TEST_CACHE (default /var/cache/start-tunnel-test); mirror: $DEBIAN_MIRROR.
set -euo pipefail

CACHE=${START_TUNNEL_TEST_CACHE:-/var/cache/start-tunnel-test}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
. /etc/os-release
case "${VERSION_CODENAME:-}" in
  bookworm) SUITE=bookworm-backports ;;
  trixie | forky | sid) SUITE=bookworm ;;
  *)
    echo "$0: no other wireguard-go generation known for ${PRETTY_NAME:-this system}" >&2
    exit 1
    ;;
esac
OUT=$CACHE/wireguard-go/$SUITE
if [ -x "$OUT/usr/bin/wireguard-go" ]; then
  echo "$OUT/usr/bin/wireguard-go"
  exit 0
fi

APT=(apt-get -q -o APT::Sandbox::User=root)
if ! grep -rqsE "^[^#]*(Suites:.*[[:space:]]|deb[[:space:]].*[[:space:]])$SUITE([[:space:]]|$)" \
  /etc/apt/sources.list /etc/apt/sources.list.d/; then
  PRIV=$CACHE/apt-$SUITE
  mkdir -p "$PRIV/lists/partial"
  echo "deb $MIRROR $SUITE main" >"$PRIV/sources.list"
  APT+=(-o "Dir::Etc::SourceList=$PRIV/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$PRIV/lists" -o APT::Get::List-Cleanup=0)
fi
"${APT[@]}" update >&2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && "${APT[@]}" download -t "$SUITE" wireguard-go >&2)
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
dpkg-deb -x "$TMP"/wireguard-go_*.deb "$OUT.tmp"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
"$OUT/usr/bin/wireguard-go" --version >&2
echo "$OUT/usr/bin/wireguard-go"
