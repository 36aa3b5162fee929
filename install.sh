#!/bin/sh
# SPDX-License-Identifier: MIT
#
# start-tunnel installer for Debian 12 or newer. Run it as root from a checkout:
#
#   sudo ./install.sh                # install (or upgrade in place) and start the server
#   sudo ./install.sh --no-start     # install only
#
# It installs the system packages it needs (nftables, iproute2, wireguard-tools for `wg show`,
# a C compiler for the small native addon), copies this checkout to $PREFIX (default
# /opt/start-tunnel), builds it, links /usr/local/bin/start-tunnel, persists the forwarding
# sysctls, installs the systemd unit start-tunneld.service, starts it and runs `web init`
# (prints the panel's URL, password and root CA). Where systemd is not
# running (containers) it starts the daemon in the background instead and says so. Running it
# again upgrades the code in place; the state in /var/lib/start-tunnel is never touched.
set -eu

PREFIX=${START_TUNNEL_PREFIX:-/opt/start-tunnel}
BIN=/usr/local/bin/start-tunnel
UNIT=/etc/systemd/system/start-tunneld.service
SYSCTL=/etc/sysctl.d/60-start-tunnel.conf
DATADIR=${START_TUNNEL_DATADIR:-/var/lib/start-tunnel}
LOG=/var/log/start-tunneld.log
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19
START=1

for arg in "$@"; do
  case "$arg" in
    --no-start) START=0 ;;
    -h|--help)
      sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0 ;;
    *) echo "install.sh: unknown option \"$arg\" (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root: sudo $0"
SRC=$(cd "$(dirname "$0")" && pwd)
[ -f "$SRC/package.json" ] && [ -d "$SRC/packages/tunnel" ] ||
  die "run me from a start-tunnel checkout (no packages/tunnel next to $0)"

# --- the system -----------------------------------------------------------------------------
[ -r /etc/os-release ] || die "cannot read /etc/os-release: Debian 12 or newer is required"
. /etc/os-release
case "${ID:-} ${ID_LIKE:-}" in
  *debian*) ;;
  *) die "this is ${PRETTY_NAME:-an unknown system}: Debian 12 or newer is required" ;;
esac
if [ "${ID:-}" = debian ] && [ -n "${VERSION_ID:-}" ] && [ "${VERSION_ID%%.*}" -lt 12 ] 2>/dev/null; then
  die "this is Debian $VERSION_ID: Debian 12 or newer is required"
fi
[ -e /dev/net/tun ] || die "/dev/net/tun is missing: the VPS must allow TUN devices (ask your provider to enable TUN/TAP)"

say "Installing system packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  ca-certificates nftables iproute2 wireguard-tools curl make g++ python3 >/dev/null

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  v=$(node -p 'process.versions.node' 2>/dev/null) || return 1
  major=${v%%.*}; rest=${v#*.}; minor=${rest%%.*}
  [ "$major" -gt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -ge "$NODE_MIN_MINOR" ]; }
}
if ! node_ok; then
  say "Installing Node.js from the distribution"
  apt-get install -y -qq nodejs npm >/dev/null || true
fi
if ! node_ok; then
  have=$(node -v 2>/dev/null || echo none)
  die "Node.js $NODE_MIN_MAJOR.$NODE_MIN_MINOR or newer is required, found $have. Debian 12 ships Node 18: install Node 20.19+ (Debian 13's nodejs, or a Node 20/22 build on PATH) and run me again"
fi
command -v npm >/dev/null 2>&1 || die "npm is missing: apt-get install npm (or install Node.js with npm)"

# --- the code -------------------------------------------------------------------------------
say "Copying $SRC to $PREFIX"
mkdir -p "$PREFIX"
if [ "$SRC" != "$PREFIX" ]; then
  # a fresh copy of the sources; node_modules and build outputs are rebuilt below
  tar -C "$SRC" --exclude=./.git --exclude=node_modules --exclude=dist --exclude=build \
    --exclude=./scratch -cf - . | tar -C "$PREFIX" -xf -
fi
say "Building (npm ci, npm run build)"
cd "$PREFIX"
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
chmod 755 "$PREFIX/packages/cli/bin/start-tunnel.js"
ln -sf "$PREFIX/packages/cli/bin/start-tunnel.js" "$BIN"

say "Persisting the forwarding sysctls in $SYSCTL"
cat >"$SYSCTL" <<'EOF'
# start-tunnel: forward between the tunnel, its subnets and the WAN
net.ipv4.ip_forward = 1
net.ipv6.conf.all.forwarding = 1
EOF
sysctl -q -p "$SYSCTL" || echo "warning: could not apply $SYSCTL now (it applies at boot)" >&2

cat >"$UNIT" <<EOF
[Unit]
Description=start-tunnel: WireGuard virtual router (subnets, devices, port forwards)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=$BIN daemon --datadir $DATADIR
Restart=always
RestartSec=3
ManagedOOMPreference=avoid

[Install]
WantedBy=multi-user.target
EOF

[ "$START" = 1 ] || { say "Installed (not started): $BIN"; exit 0; }

# --- start ----------------------------------------------------------------------------------
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  say "Starting start-tunneld.service"
  systemctl daemon-reload
  systemctl enable --quiet start-tunneld.service
  systemctl restart start-tunneld.service
else
  say "systemd is not running here: starting the daemon in the background (log: $LOG)"
  if [ -r "$DATADIR/daemon.json" ]; then
    pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$DATADIR/daemon.json")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && sleep 2
  fi
  nohup "$BIN" daemon --datadir "$DATADIR" >>"$LOG" 2>&1 &
  echo "It will not come back after a reboot: run '$BIN daemon' from your init system."
fi

i=0
until "$BIN" status --datadir "$DATADIR" >/dev/null 2>&1; do
  i=$((i + 1))
  [ $i -lt 30 ] || die "the daemon did not answer within 30 s: see journalctl -u start-tunneld (or $LOG)"
  sleep 1
done
"$BIN" status --datadir "$DATADIR"

# the panel: listen address (the WAN IP, port 8443), certificate, a password if none is set.
# Interactive on a terminal, automatic otherwise; a second run keeps what is set.
say "Setting up the HTTPS panel (start-tunnel web init)"
if [ -t 0 ]; then
  "$BIN" web init --datadir "$DATADIR" || echo "warning: web init failed; run 'start-tunnel web init' again" >&2
else
  "$BIN" web init --datadir "$DATADIR" </dev/null || echo "warning: web init failed; run 'start-tunnel web init' again" >&2
fi
say "start-tunnel is running. Next: start-tunnel subnet list, start-tunnel device add <SUBNET> <NAME>"
echo "Open UDP 51820 and the panel's TCP port in your provider's firewall if it has one."
