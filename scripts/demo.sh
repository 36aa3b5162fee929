#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `sudo npm run demo`: the whole product on one machine, in network namespaces.
#
#   visitor 192.0.2.2 ──┐                        ┌── vps 203.0.113.1 (start-tunnel daemon)
#                       └── internet (router) ───┤
#   home 198.51.100.2 ──────────────────────────┘
#
# The daemon runs in "vps"; we create a subnet and a device; the "home" server joins with the
# generated config (wg-quick, with stock wireguard-go when installed, else our wireguard-ts);
# it serves a web page on its tunnel address; a port forward on the VPS makes the page
# reachable from the "visitor" on the VPS's public address. Every step is printed; everything
# is removed at the end, whatever happens. Only documentation ranges and 10.59.0.0/16 are used.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=$$
VPS=demo-vps-$TAG; NET=demo-net-$TAG; HOME_NS=demo-home-$TAG; VIS=demo-vis-$TAG
WGIF=demo$TAG
WORK=$(mktemp -d /tmp/start-tunnel-demo.XXXXXX)
export START_TUNNEL_DATADIR=$WORK/data
ST=(node "$ROOT/packages/cli/bin/start-tunnel.js")
DAEMON_PID=""

step() { printf '\n\033[1;36m━━ %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*" >&2; "$@"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

cleanup() {
  set +e
  step "Cleaning up"
  exec 2>/dev/null # bash's "Killed" notes about our background jobs are noise here
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  pkill -KILL -f "(wireguard-go|wireguard-ts\\.js) (-f )?$WGIF\$" 2>/dev/null
  for ns in "$VIS" "$HOME_NS" "$VPS" "$NET"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9; ip netns del "$ns" 2>/dev/null; done
  rm -f "/var/run/wireguard/$WGIF.sock" "/var/run/wireguard/wg-start-tunnel.sock"
  rm -rf "$WORK"
  echo "namespaces, processes and files removed"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "demo: run as root (sudo npm run demo): it creates network namespaces" >&2; exit 1; }
for c in ip wg wg-quick nft curl; do
  command -v "$c" >/dev/null || { echo "demo: '$c' is missing: apt-get install iproute2 wireguard-tools nftables curl" >&2; exit 1; }
done
[ -f "$ROOT/packages/cli/dist/main.js" ] || { step "Building"; (cd "$ROOT" && npm run build --silent); }
if command -v wireguard-go >/dev/null; then
  IMPL=wireguard-go
else
  IMPL="$ROOT/packages/wg-core/bin/wireguard-ts.js"
fi

step "1. A small internet: a router, the VPS, a home server and a visitor (namespaces)"
for ns in "$NET" "$VPS" "$HOME_NS" "$VIS"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$NET" link add to-vps type veth peer name wan0 netns "$VPS"
ip -n "$NET" link add to-home type veth peer name eth0 netns "$HOME_NS"
ip -n "$NET" link add to-vis type veth peer name eth0 netns "$VIS"
for l in to-vps to-home to-vis; do ip -n "$NET" link set "$l" up; done
ip -n "$VPS" link set wan0 up; ip -n "$HOME_NS" link set eth0 up; ip -n "$VIS" link set eth0 up
ip -n "$NET" addr add 203.0.113.254/24 dev to-vps
ip -n "$NET" addr add 198.51.100.1/24 dev to-home
ip -n "$NET" addr add 192.0.2.254/24 dev to-vis
in_ns "$NET" sysctl -qw net.ipv4.ip_forward=1
ip -n "$VPS" addr add 203.0.113.1/24 dev wan0;  ip -n "$VPS" route add default via 203.0.113.254
ip -n "$HOME_NS" addr add 198.51.100.2/24 dev eth0; ip -n "$HOME_NS" route add default via 198.51.100.1
ip -n "$VIS" addr add 192.0.2.2/24 dev eth0;  ip -n "$VIS" route add default via 192.0.2.254
echo "vps 203.0.113.1, home 198.51.100.2, visitor 192.0.2.2"

step "2. The start-tunnel daemon on the VPS"
in_ns "$VPS" "${ST[@]}" daemon >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 60); do in_ns "$VPS" "${ST[@]}" status >/dev/null 2>&1 && break; sleep 0.5; done
show in_ns "$VPS" "${ST[@]}" status

step "3. A subnet and a device"
show in_ns "$VPS" "${ST[@]}" subnet add 10.59.77.0/24 "Home lab"
show in_ns "$VPS" "${ST[@]}" device add 10.59.77.0/24 home-server
show in_ns "$VPS" "${ST[@]}" device show-config 10.59.77.0/24 10.59.77.2 | tee "$WORK/$WGIF.conf"
chmod 600 "$WORK/$WGIF.conf"

step "4. The home server joins with that config (wg-quick, $(basename "$IMPL"))"
WG_QUICK_USERSPACE_IMPLEMENTATION=$IMPL show in_ns "$HOME_NS" wg-quick up "$WORK/$WGIF.conf"
show in_ns "$HOME_NS" ping -c 2 -W 5 10.59.77.1

step "5. A web page on the home server, on its tunnel address only"
in_ns "$HOME_NS" node -e "require('node:http').createServer((q, s) => s.end('Hello from the home server, through start-tunnel!\n')).listen(8080, '10.59.77.2')" &
disown
sleep 0.5

step "6. A port forward: 203.0.113.1:80 → 10.59.77.2:8080 (port 80 is the HTTP→HTTPS redirect's until it is off)"
show in_ns "$VPS" "${ST[@]}" http-redirect set-enabled 203.0.113.1 --no-enabled
show in_ns "$VPS" "${ST[@]}" port-forward add 80 10.59.77.2:8080 --protocol tcp --label "home web"
show in_ns "$VPS" "${ST[@]}" port-forward list

step "7. The visitor opens http://203.0.113.1/"
show in_ns "$VIS" curl -sS --max-time 5 http://203.0.113.1/

step "8. What the VPS sees"
show in_ns "$VPS" "${ST[@]}" device list 10.59.77.0/24
echo
echo "The demo worked: the visitor reached the home server through the VPS, TLS or not, untouched."
