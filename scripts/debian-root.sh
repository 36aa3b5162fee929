#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A fresh minimal Debian root for the install and cross-architecture tests (as root):
#
#   scripts/debian-root.sh SUITE ARCH DEST     e.g. bookworm amd64 /tmp/root
#
# debootstrap --variant=minbase (what a minimal VPS image holds: no sudo, no procps, no
# ca-certificates), run once per SUITE-ARCH into a cache, then copied to DEST for each use, so a
# test never starts from a root an earlier test changed. The .debs are cached too. A foreign ARCH
# needs qemu-user-static with its binfmt entries (scripts/cross-arch-test.sh registers them).
# Cache: $START_TUNNEL_TEST_CACHE (default /var/cache/start-tunnel-test); mirror: $DEBIAN_MIRROR.
set -euo pipefail

[ $# -eq 3 ] || {
  echo "usage: $0 SUITE ARCH DEST" >&2
  exit 2
}
SUITE=$1 ARCH=$2 DEST=$3
CACHE=${START_TUNNEL_TEST_CACHE:-/var/cache/start-tunnel-test}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PRISTINE=$CACHE/roots/$SUITE-$ARCH

[ "$(id -u)" = 0 ] || {
  echo "$0: run me as root" >&2
  exit 1
}
command -v debootstrap >/dev/null || {
  echo "$0: installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}
mkdir -p "$CACHE/debs" "$CACHE/roots"
# one debootstrap per root at a time; a second caller waits for the first
exec 8>"$PRISTINE.lock"
flock -w 3600 8
if [ ! -f "$PRISTINE/.complete" ]; then
  echo "$0: debootstrap --variant=minbase $SUITE $ARCH (once; cached in $PRISTINE)"
  # an interrupted debootstrap may leave /proc or /sys mounted in its target
  { grep -o " $PRISTINE.tmp/[^ ]*" /proc/mounts || true; } | sort -r | xargs -r -n1 umount -l
  rm -rf --one-file-system "$PRISTINE.tmp"
  # a .deb cache of another suite would confuse debootstrap: one per suite and arch
  mkdir -p "$CACHE/debs/$SUITE-$ARCH"
  debootstrap --variant=minbase --arch="$ARCH" --cache-dir="$CACHE/debs/$SUITE-$ARCH" \
    "$SUITE" "$PRISTINE.tmp" "$MIRROR" >"$CACHE/roots/$SUITE-$ARCH.log" 2>&1 || {
    tail -n 20 "$CACHE/roots/$SUITE-$ARCH.log" >&2
    echo "$0: debootstrap failed (log: $CACHE/roots/$SUITE-$ARCH.log)" >&2
    exit 1
  }
  rm -rf --one-file-system "$PRISTINE"
  mv "$PRISTINE.tmp" "$PRISTINE"
  touch "$PRISTINE/.complete"
fi
rm -rf --one-file-system "$DEST"
mkdir -p "$(dirname "$DEST")"
cp -a "$PRISTINE" "$DEST"
rm -f "$DEST/.complete"
