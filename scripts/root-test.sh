#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The README's test command, unchanged, on another Debian release (as root):
#
#   scripts/root-test.sh trixie      ./scripts/test.sh in a fresh minbase Debian 13 root
#
# A fresh root from scripts/debian-root.sh (minbase: no node, no nft, no wireguard-go), this
# repository's committed tree cloned into it, then `./scripts/test.sh` chrooted there: it
# installs what it needs from that release's packages and the npm registry, builds the addon
# against the Node it brings, and runs every test, namespace labs included. The kernel is the
# host's (a chroot, not a VM). The labs' lock file is the host's, so labs in and out of the
# root never run at once. Everything (mounts, the root) is removed at the end, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 1 ] || {
  echo "usage: $0 SUITE   (e.g. trixie)" >&2
  exit 2
}
SUITE=$1
[ "$(id -u)" = 0 ] || {
  echo "$0: run me as root" >&2
  exit 1
}

ROOT=$(mktemp -d /var/tmp/st-root-test.XXXXXX)
LOCK=/tmp/start-tunnel-netns.lock
cleanup() {
  umount -R "$ROOT" 2>/dev/null || umount -R -l "$ROOT" 2>/dev/null || true
  rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# $SUITE: a fresh minbase root in $ROOT"
bash scripts/debian-root.sh "$SUITE" amd64 "$ROOT"
mount --bind "$ROOT" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --make-rslave "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mount --make-rslave "$ROOT/dev"
mount -t tmpfs tmpfs "$ROOT/run"
mkdir -p "$ROOT/run/netns" "$ROOT/tmp"
touch "$LOCK" "$ROOT$LOCK"
mount --bind "$LOCK" "$ROOT$LOCK" # one lab at a time, in and out of the root
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# the host's CA bundle: a minbase root has none, and a proxy in front of the registry may need it
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/host-ca.crt"
git clone -q --no-hardlinks . "$ROOT/root/start-tunnel"

echo "# $SUITE: ./scripts/test.sh"
chroot "$ROOT" env -i HOME=/root TERM=dumb LANG=C.UTF-8 CI=true NODE_EXTRA_CA_CERTS=/etc/host-ca.crt \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  bash -c 'cd /root/start-tunnel && ./scripts/test.sh'
