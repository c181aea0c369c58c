#!/usr/bin/env bash
# Installs the Debian packages smtp-sensor needs to build, test and demo, and the npm
# package (playwright-core) that drives Debian's Chromium in the report page's test.
# Skips apt and npm when everything is already there, so repeated runs are fast.
#   --no-browser   leave out Chromium, Node.js and npm (scripts/run.sh: no tests to run)
set -euo pipefail
cd "$(dirname "$0")/.."
browser=1
[ "${1:-}" = --no-browser ] && browser=0

packages=(
  cmake g++ clang libclang-rt-14-dev pkg-config make
  libboost-dev libspdlog-dev libyaml-cpp-dev prometheus-cpp-dev doctest-dev
  libssl-dev libsqlite3-dev libsystemd-dev libhowardhinnant-date-dev libcrypt-dev
  postfix swaks haproxy python3-aiosmtpd python3-pytest python3-yaml curl openssl sqlite3
  prometheus dpkg-dev fakeroot binutils systemd fail2ban
  libpq-dev postgresql         # the fleet database (SPEC 10): libpq, and a server for the tests
  pandoc lintian man-db        # man pages (pandoc); the .deb check (lintian, man -l)
  iptables nftables iproute2 conntrack   # the interception tests' namespaces and rules
)
if [ "$browser" = 1 ]; then
  packages+=(chromium chromium-driver)
  # Node.js usually comes with the machine (with npm); Debian's is the fallback.
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

install_debian() {
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -q
  # postfix is installed for its smtp-sink and smtp-source binaries only, prometheus for
  # promtool, haproxy for the benchmarks: none of their services may start, so a
  # policy-rc.d forbids it for the length of the install.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$guard" >/dev/null
    $SUDO chmod +x "$guard"
    trap '$SUDO rm -f "$guard"' EXIT
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}
[ ${#missing[@]} -eq 0 ] || install_debian

# playwright-core for tests/web, exactly as locked. Never a browser of Playwright's own:
# the test runs Debian's /usr/bin/chromium.
npm_current() {
  [ -f tests/web/node_modules/.package-lock.json ] || return 1
  node -e '
    const want = require("./tests/web/package-lock.json").packages;
    const have = require("./tests/web/node_modules/.package-lock.json").packages;
    for (const [k, v] of Object.entries(want)) if (k && (!have[k] || have[k].version !== v.version)) process.exit(1);'
}
if [ "$browser" = 1 ] && ! npm_current; then
  echo "installing npm packages in tests/web"
  (cd tests/web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
