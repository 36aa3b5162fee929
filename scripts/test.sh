#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite on a fresh Debian 12 machine (run as root): installs what the tests need,
# then lint, build, type-check and every test. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the namespace labs and interop tests use.
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v wg >/dev/null || missing+=(wireguard-tools)
command -v wireguard-go >/dev/null || missing+=(wireguard-go)
command -v iperf3 >/dev/null || missing+=(iperf3)
command -v ping >/dev/null || missing+=(iputils-ping)
command -v make >/dev/null || missing+=(make)
command -v g++ >/dev/null || missing+=(g++)
command -v curl >/dev/null || missing+=(curl)
# the panel is tested in a real browser: Debian's Chromium, driven by playwright-core
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
npm run lint
npm run build
npm run typecheck
npm test
