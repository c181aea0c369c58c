#!/usr/bin/env bash
# Installs the Debian packages smtp-sensor needs to build, test and demo.
# Skips apt entirely when everything is already there, so repeated runs are fast.
set -euo pipefail

packages=(
  cmake g++ clang libclang-rt-14-dev pkg-config make
  libboost-dev libspdlog-dev libyaml-cpp-dev prometheus-cpp-dev doctest-dev
  libssl-dev libsqlite3-dev libsystemd-dev libhowardhinnant-date-dev
  postfix swaks haproxy python3-aiosmtpd python3-pytest python3-yaml curl openssl sqlite3
  prometheus dpkg-dev fakeroot binutils systemd fail2ban
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
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
