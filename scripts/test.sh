#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite on a fresh Debian 12 or 13 machine (run as root): installs what the tests
# need, then lint, build, type-check and every test. `.ci/run` runs exactly this.
#
#   ./scripts/test.sh              the suite
#   ./scripts/test.sh --install    ... then the install test on fresh Debian 12 and 13 roots
#                                  (scripts/install-test.sh: several minutes per release)
#
# Node.js: the machine's when it is 20.19 or newer with a working npm; otherwise the pinned one
# that install.sh brings (scripts/node-runtime.sh), kept in $START_TUNNEL_TEST_CACHE/node. The
# interop labs run once more against the other Debian generation of wireguard-go
# (scripts/wireguard-go-other.sh) when it can be fetched.
set -euo pipefail
cd "$(dirname "$0")/.."

INSTALL_TEST=0
for arg in "$@"; do
  case "$arg" in
    --install) INSTALL_TEST=1 ;;
    *)
      echo "usage: $0 [--install]" >&2
      exit 2
      ;;
  esac
done
CACHE=${START_TUNNEL_TEST_CACHE:-/var/cache/start-tunnel-test}
export START_TUNNEL_TEST_CACHE=$CACHE

# Debian packages the namespace labs and interop tests use.
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v wg >/dev/null || missing+=(wireguard-tools)
command -v wireguard-go >/dev/null || missing+=(wireguard-go)
command -v iperf3 >/dev/null || missing+=(iperf3)
command -v nsupdate >/dev/null || missing+=(bind9-dnsutils) # dig, nsupdate: the resolver's tests
command -v upnpc >/dev/null || missing+=(miniupnpc)         # the UPnP IGD tests
command -v openssl >/dev/null || missing+=(openssl)          # ClientHellos, openssl verify
command -v ssh-keygen >/dev/null || missing+=(openssh-client) # the CLI's SSH key tests
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates) # curl's default trust
command -v ping >/dev/null || missing+=(iputils-ping)
command -v pgrep >/dev/null || missing+=(procps)
command -v make >/dev/null || missing+=(make)
command -v g++ >/dev/null || missing+=(g++)
command -v python3 >/dev/null || missing+=(python3)
command -v curl >/dev/null || missing+=(curl)
command -v git >/dev/null || missing+=(git)
# the panel is tested in a real browser: Debian's Chromium, driven by playwright-core
command -v chromium >/dev/null || missing+=(chromium)
if [ "$INSTALL_TEST" = 1 ]; then command -v debootstrap >/dev/null || missing+=(debootstrap); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js 20.19+ and npm
node_ok() {
  command -v node >/dev/null && command -v npm >/dev/null && npm --version >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
      process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}
if ! node_ok; then
  echo "no Node.js 20.19+ with npm here: the pinned runtime (scripts/node-runtime.sh)"
  sh scripts/node-runtime.sh "$CACHE/node" >/dev/null
  export PATH="$CACHE/node/bin:$PATH"
fi
# the addon builds against the headers of the node that runs the tests (not a nodedir that an
# ~/.npmrc may name for another node)
NODEDIR=$(cd "$(dirname "$(readlink -f "$(command -v node)")")/.." && pwd)
if [ -f "$NODEDIR/include/node/node_api.h" ]; then export npm_config_nodedir=$NODEDIR; fi
echo "node $(node -v) ($(command -v node)), npm $(npm --version)"

npm ci --no-audit --no-fund
npm run lint
npm run build
npm run typecheck
npm test

# the interop labs against the other Debian generation of wireguard-go
if other=$(bash scripts/wireguard-go-other.sh 2>/tmp/wireguard-go-other.log); then
  echo "the interop labs again with $("$other" --version | head -n 1) ($other)"
  WIREGUARD_GO=$other node scripts/run-tests.mjs test/wg-interop test/wg-quick
else
  echo "warning: no other wireguard-go generation (see /tmp/wireguard-go-other.log): skipped" >&2
fi

if [ "$INSTALL_TEST" = 1 ]; then bash scripts/install-test.sh; fi
