#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The native addon and the unit tests on other architectures, under qemu user emulation (as
# root; slow: tens of minutes per architecture):
#
#   scripts/cross-arch-test.sh [ARCH...]      default: arm64 riscv64
#
# For each ARCH: a Debian 13 (trixie) minbase root of that architecture (scripts/debian-root.sh;
# qemu-user-static runs its binaries through binfmt_misc, registered here if needed), the
# distribution's Node.js (20.19) and npm in it, the repository's committed tree cloned in, then
# `npm ci` (which builds the addon with the compiler of that architecture), the TypeScript build,
# a check that the addon loads, and `node scripts/run-tests.mjs --unit`. No network namespace,
# no TUN: the unit tests only. The result line per architecture goes into the README's platform
# table by hand. The host CA bundle goes in as NODE_EXTRA_CA_CERTS. Logs: $WORK/<arch>.log.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd -P)
ARCHES=("$@")
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(arm64 riscv64)
[ "$(id -u)" = 0 ] || {
  echo "$0: run me as root" >&2
  exit 1
}
export DEBIAN_FRONTEND=noninteractive
if ! command -v qemu-aarch64-static >/dev/null || ! command -v update-binfmts >/dev/null; then
  apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
    qemu-user-static binfmt-support debootstrap >/dev/null
fi
[ -e /proc/sys/fs/binfmt_misc/register ] ||
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc

WORK=$(mktemp -d /var/tmp/st-cross.XXXXXX)
ROOT=
cleanup() {
  if [ -n "$ROOT" ]; then
    umount -R "$ROOT" 2>/dev/null || umount -R -l "$ROOT" 2>/dev/null || true
    rm -rf --one-file-system "$ROOT"
  fi
}
trap cleanup EXIT
RESULTS=()
FAILED=0

for arch in "${ARCHES[@]}"; do
  case "$arch" in
    arm64) qemu=aarch64 ;;
    riscv64) qemu=riscv64 ;;
    *) qemu=$arch ;;
  esac
  [ -e "/proc/sys/fs/binfmt_misc/qemu-$qemu" ] || update-binfmts --enable "qemu-$qemu"
  ROOT=$WORK/$arch
  log=$WORK/$arch.log
  echo "# $arch: trixie root, Debian's nodejs, npm ci, build, unit tests (log: $log)"
  bash scripts/debian-root.sh trixie "$arch" "$ROOT"
  mount --bind "$ROOT" "$ROOT"
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  mount --make-rslave "$ROOT/dev"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/host-ca.crt"
  git clone -q --no-hardlinks "$REPO" "$ROOT/root/start-tunnel"
  commit=$(git -C "$REPO" rev-parse --short HEAD)
  start=$(date +%s)
  rc=0
  chroot "$ROOT" env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    NODE_EXTRA_CA_CERTS=/etc/host-ca.crt npm_config_nodedir=/usr sh -ec '
      apt-get -o DPkg::Lock::Timeout=900 update -qq
      apt-get install -y -qq --no-install-recommends ca-certificates nodejs npm libnode-dev \
        make g++ python3 >/dev/null
      cd /root/start-tunnel
      echo "node $(node -v) ($(uname -m) under qemu), npm $(npm --version)"
      npm ci --no-audit --no-fund --loglevel=error
      npm run build --silent
      node -e "const a = require(process.argv[1]); console.log(\"addon loads, ABI\", a.ABI)" \
        "$PWD/packages/wg-core/build/Release/wg_core.node"
      node scripts/run-tests.mjs --unit
    ' >"$log" 2>&1 || rc=$?
  minutes=$((($(date +%s) - start + 59) / 60))
  summary=$({ grep -E '^# (pass|fail) ' "$log" || true; } | tr '\n' ' ')
  node=$(sed -n 's/^node \(v[0-9.]*\).*/\1/p' "$log" | head -n 1)
  if [ $rc = 0 ]; then
    RESULTS+=("$arch: PASS at $commit, Debian 13, node ${node:-?}, ${summary}(${minutes} min)")
  else
    FAILED=1
    RESULTS+=("$arch: FAIL (exit $rc) at $commit, node ${node:-?}, ${summary}(${minutes} min)")
    tail -n 30 "$log" | sed 's/^/#   /'
  fi
  cleanup
  ROOT=
done
printf '%s\n' "${RESULTS[@]}"
[ "$FAILED" = 0 ]
