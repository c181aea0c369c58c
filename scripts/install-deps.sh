#!/usr/bin/env bash
# Installs the Debian packages smtp-sensor needs to build, test and demo.
# Skips apt entirely when everything is already there, so repeated runs are fast.
set -euo pipefail

packages=(
  cmake g++ clang libclang-rt-14-dev pkg-config make
  libboost-dev libspdlog-dev libyaml-cpp-dev prometheus-cpp-dev doctest-dev
  libssl-dev libsqlite3-dev libsystemd-dev
  postfix swaks haproxy python3-aiosmtpd python3-pytest python3-yaml curl openssl sqlite3
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
# postfix is installed for its smtp-sink and smtp-source binaries only; nothing starts it.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
