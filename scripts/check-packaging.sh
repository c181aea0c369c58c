#!/usr/bin/env bash
# Builds the smtp-sensor .deb from an existing release build dir, runs lintian on it
# (any error fails), installs it, checks the installed files (integrations, man
# pages), binary, config, user, directories and systemd unit, smoke-runs the daemon
# as its service user, then purges the package again.
#
# Usage: scripts/check-packaging.sh [BUILD_DIR]   (default: build-release)
# Needs: root (dpkg -i), dpkg-dev (dpkg-shlibdeps), systemd (systemd-analyze), curl,
# pandoc (man pages, at cmake time), lintian, man-db (man -l).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
build=${1:-build-release}
case "$build" in /*) ;; *) build="$repo/$build" ;; esac

pkg=smtp-sensor
unit=/usr/lib/systemd/system/smtp-sensor.service
conf=/etc/smtp-sensor/smtp-sensor.yaml
f2b_filter=/etc/fail2ban/filter.d/smtp-sensor.conf
f2b_jail=/etc/fail2ban/jail.d/smtp-sensor.conf
share=/usr/share/smtp-sensor
man8=/usr/share/man/man8/smtp-sensor.8.gz
man5=/usr/share/man/man5/smtp-sensor.yaml.5.gz

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'check-packaging: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (dpkg -i)"
[ -f "$build/CMakeCache.txt" ] || fail "$build is not a configured build dir (scripts/build.sh release)"
for tool in cpack dpkg-deb dpkg-shlibdeps systemd-analyze curl setpriv readelf lintian man; do
  command -v "$tool" >/dev/null || fail "missing tool: $tool"
done
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "installed"; then
  fail "$pkg is already installed on this machine; remove it first (dpkg --purge $pkg)"
fi
user_existed=0
getent passwd smtp-sensor >/dev/null && user_existed=1

work=$(mktemp -d /tmp/check-packaging.XXXXXX)
chmod 755 "$work"
daemon_pid=""
installed=0
added_dropin=""
cleanup() {
  local rc=$?
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  [ -n "$added_dropin" ] && rm -rf "$added_dropin"
  if [ "$installed" -eq 1 ]; then
    echo "== cleanup: dpkg --purge $pkg"
    dpkg --purge "$pkg" >/dev/null || { echo "dpkg --purge failed" >&2; rc=1; }
    # The package keeps its system user on purge (Debian practice); this test
    # created it, so it removes it to leave the machine as it was.
    if [ "$user_existed" -eq 0 ] && getent passwd smtp-sensor >/dev/null; then
      userdel smtp-sensor 2>/dev/null || true
      if getent group smtp-sensor >/dev/null; then groupdel smtp-sensor 2>/dev/null || true; fi
    fi
  fi
  rm -rf "$work"
  [ "$rc" -eq 0 ] && echo "check-packaging: OK" || echo "check-packaging: FAILED" >&2
  exit "$rc"
}
trap cleanup EXIT

step "build ($build)"
# Re-run CMake if this build dir predates cmake/Packaging.cmake.
[ -f "$build/CPackConfig.cmake" ] || cmake "$build" >/dev/null
[ -f "$build/CPackConfig.cmake" ] || fail "no CPackConfig.cmake: is cmake/Packaging.cmake included?"
# The man pages need pandoc at cmake time; without it the `man` target says so.
cmake --build "$build" --target smtp-sensor man -j2

step "cpack -G DEB"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 \
  || { cat "$work/cpack.log" >&2; fail "cpack failed"; }
deb=$(find "$work/out" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
[ -n "$deb" ] || { cat "$work/cpack.log" >&2; fail "no .deb produced"; }
echo "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"
dpkg-deb --field "$deb" Package Version Architecture Depends Recommends
dpkg-deb --contents "$deb" | awk '{print $6}'

step "package metadata"
depends=$(dpkg-deb --field "$deb" Depends)
# Every shared library the binary links (DT_NEEDED) must come from a package in Depends.
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/smtp-sensor >"$work/smtp-sensor.bin"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
dep_names=$(sed 's/([^)]*)//g; s/|/,/g' <<<"$depends" | tr ',' '\n' | awk '{print $1}')
for soname in $(readelf -d "$work/smtp-sensor.bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  owner=$(dpkg -S "*/$multiarch/$soname" 2>/dev/null | head -n1 | cut -d: -f1)
  [ -n "$owner" ] || fail "no installed package provides $soname"
  # The dependency may name the owner or a virtual package it provides
  # (libspdlog1.10 provides libspdlog1.10-fmt9, which its shlibs file asks for).
  found=""
  for name in $owner $(dpkg-query -W -f='${Provides}' "$owner" | sed 's/([^)]*)//g; s/,/ /g; s/:[a-z0-9]*//g'); do
    grep -qxF "$name" <<<"$dep_names" && { found=$name; break; }
  done
  [ -n "$found" ] || fail "Depends lacks $owner (for $soname): $depends"
  echo "$soname -> $found"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$work/conffiles" || fail "no conffiles in control"
for f in "$conf" "$f2b_filter" "$f2b_jail"; do
  grep -qx "$f" "$work/conffiles" || fail "$f is not a conffile"
done
for f in ./usr/bin/smtp-sensor ".$unit" ./usr/lib/sysusers.d/smtp-sensor.conf \
         ./usr/lib/tmpfiles.d/smtp-sensor.conf ".$conf" ".$f2b_filter" ".$f2b_jail" \
         ./usr/share/doc/smtp-sensor/README.md ./usr/share/doc/smtp-sensor/OPERATIONS.md \
         ./usr/share/doc/smtp-sensor/copyright ./usr/share/doc/smtp-sensor/changelog.Debian.gz \
         ./usr/share/doc/smtp-sensor/examples/smtp-sensor.yaml \
         ./usr/share/doc/smtp-sensor/examples/transparent.conf ".$man8" ".$man5" \
         ".$share/grafana/smtp-sensor-dashboard.json" ".$share/prometheus/smtp-sensor-rules.yml" \
         ".$share/prometheus/prometheus-scrape-example.yml" ".$share/fail2ban/filter.d/smtp-sensor.conf" \
         ".$share/fail2ban/jail.d/smtp-sensor.conf"; do
  dpkg-deb --contents "$deb" | awk '{print $6}' | grep -qx "$f" || fail "package lacks $f"
done
echo "Depends, conffiles and file list OK"

step "lintian"
# Errors fail the check; each remaining warning is explained in docs/OPERATIONS.md
# ("lintian"). The tags are printed so that a new one is noticed.
lintian_rc=0
lintian --fail-on error "$deb" >"$work/lintian.txt" 2>&1 || lintian_rc=$?
grep -v "running with root privileges" "$work/lintian.txt" || true
if grep -q "^E: " "$work/lintian.txt" || [ "$lintian_rc" -ne 0 ]; then
  fail "lintian reported errors (exit $lintian_rc)"
fi
echo "lintian: $(grep -c '^E: ' "$work/lintian.txt" || true) errors, $(grep -c '^W: ' "$work/lintian.txt" || true) warnings"

step "dpkg -i"
installed=1
dpkg -i "$deb"
dpkg-query -W -f='${Package} ${Version} ${Status}\n' "$pkg" | grep -q "install ok installed" \
  || fail "$pkg not installed cleanly"

step "installed binary and config"
/usr/bin/smtp-sensor --version
/usr/bin/smtp-sensor check-config -c "$conf" >"$work/effective.yaml" || fail "check-config rejected $conf"
echo "check-config -c $conf: OK ($(wc -l <"$work/effective.yaml") lines of effective config)"
cmp -s "$conf" "$repo/config/smtp-sensor.yaml" || fail "installed $conf differs from config/smtp-sensor.yaml"

step "integrations and man pages"
for f in "$f2b_filter" "$f2b_jail" "$share/grafana/smtp-sensor-dashboard.json" \
         "$share/prometheus/smtp-sensor-rules.yml" "$share/prometheus/prometheus-scrape-example.yml" \
         "$share/fail2ban/filter.d/smtp-sensor.conf" "$share/fail2ban/jail.d/smtp-sensor.conf"; do
  [ -s "$f" ] || fail "$f not installed"
done
cmp -s "$share/grafana/smtp-sensor-dashboard.json" "$repo/config/grafana/smtp-sensor-dashboard.json" \
  || fail "installed dashboard differs from config/grafana/"
cmp -s "$f2b_filter" "$repo/config/fail2ban/filter.d/smtp-sensor.conf" || fail "$f2b_filter differs from config/fail2ban/"
# The shipped jail does nothing until the admin enables it (in a .local file).
grep -Eq '^enabled *= *false' "$f2b_jail" || fail "$f2b_jail is not disabled"
if command -v promtool >/dev/null; then
  promtool check rules "$share/prometheus/smtp-sensor-rules.yml" >/dev/null || fail "promtool rejects the installed rules"
fi
for page in "$man8" "$man5"; do
  [ -s "$page" ] || fail "$page not installed"
  gzip -t "$page" || fail "$page is not valid gzip"
  rendered=$(MANWIDTH=80 man -l "$page" 2>"$work/man.err") || { cat "$work/man.err" >&2; fail "man -l $page failed"; }
  [ -s "$work/man.err" ] && { cat "$work/man.err" >&2; fail "man -l $page warned"; }
  grep -q "SMTP-SENSOR" <<<"$rendered" || fail "man -l $page: no title"
  case "$page" in
    "$man8") want="SMTP_SENSOR_LOG_LEVEL" ;;
    *) want="max_tracked" ;;
  esac
  grep -q "$want" <<<"$rendered" || fail "man -l $page does not mention $want"
  echo "$page renders: $(wc -l <<<"$rendered") lines"
done

step "user and directories"
getent passwd smtp-sensor || fail "user smtp-sensor not created"
for d in /var/lib/smtp-sensor /var/log/smtp-sensor; do
  [ "$(stat -c '%U:%G %a' "$d")" = "smtp-sensor:smtp-sensor 750" ] \
    || fail "$d: $(stat -c '%U:%G %a' "$d"), want smtp-sensor:smtp-sensor 750"
  echo "$d smtp-sensor:smtp-sensor 750"
done

step "conffile survives reinstall"
echo "# local edit by check-packaging" >>"$conf"
dpkg -i --force-confold "$deb" >/dev/null
grep -q "local edit by check-packaging" "$conf" || fail "reinstall overwrote $conf"
echo "local edit kept"

step "smoke run as the service user"
# Same binary, user, capability and directories as the unit (not its sandbox).
# Loopback ports from the ephemeral range, so a running sensor is not disturbed.
smtp_port=$((20000 + RANDOM % 20000))
http_port=$((smtp_port + 1))
sed -e "s/\"0.0.0.0:2525\"/\"127.0.0.1:$smtp_port\"/" -e "s/\"127.0.0.1:9925\"/\"127.0.0.1:$http_port\"/" \
  "$conf" >"$work/smoke.yaml"
chmod 644 "$work/smoke.yaml"
( cd /var/lib/smtp-sensor && umask 027 && exec setpriv --reuid=smtp-sensor --regid=smtp-sensor --init-groups \
    --inh-caps=+net_bind_service --ambient-caps=+net_bind_service \
    /usr/bin/smtp-sensor run -c "$work/smoke.yaml" ) >"$work/smoke.log" 2>&1 &
daemon_pid=$!
ok=0
for _ in $(seq 1 50); do
  if curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1; then ok=1; break; fi
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.2
done
[ "$ok" -eq 1 ] || { cat "$work/smoke.log" >&2; fail "daemon did not come up as user smtp-sensor"; }
echo "healthz OK on 127.0.0.1:$http_port"
kill -TERM "$daemon_pid"
rc=0; wait "$daemon_pid" || rc=$?
daemon_pid=""
[ "$rc" -eq 0 ] || { cat "$work/smoke.log" >&2; fail "daemon exited $rc on SIGTERM"; }
echo "SIGTERM: exit 0"
ls -l /var/lib/smtp-sensor /var/log/smtp-sensor
[ -f /var/lib/smtp-sensor/sessions.db ] || fail "no session store in /var/lib/smtp-sensor"

step "systemd-analyze verify $unit"
verify_out=$(systemd-analyze verify "$unit" 2>&1) || { echo "$verify_out" >&2; fail "systemd-analyze verify failed"; }
# Only lines about our unit matter; other units on the machine may be noisy.
if grep -i "smtp-sensor" <<<"$verify_out"; then fail "systemd-analyze verify reported problems"; fi
echo "verify: OK"

step "systemd-analyze verify with the transparent.conf drop-in"
dropin_dir=/etc/systemd/system/smtp-sensor.service.d
if [ -e "$dropin_dir" ]; then
  echo "skipped: $dropin_dir already exists"
else
  added_dropin=$dropin_dir
  mkdir -p "$dropin_dir"
  cp /usr/share/doc/smtp-sensor/examples/transparent.conf "$dropin_dir/"
  verify_out=$(systemd-analyze verify "$unit" 2>&1) || { echo "$verify_out" >&2; fail "verify with drop-in failed"; }
  if grep -i "smtp-sensor" <<<"$verify_out"; then fail "verify with drop-in reported problems"; fi
  mkdir -p "$work/root/usr/lib/systemd/system" "$work/root$dropin_dir"
  cp "$unit" "$work/root/usr/lib/systemd/system/"
  cp "$dropin_dir/transparent.conf" "$work/root$dropin_dir/"
  systemd-analyze security --offline=true --root="$work/root" smtp-sensor.service >"$work/security-dropin.txt" 2>&1 \
    || { cat "$work/security-dropin.txt" >&2; fail "systemd-analyze security with drop-in failed"; }
  grep -q "CAP_NET_ADMIN" "$work/security-dropin.txt" || fail "drop-in did not add CAP_NET_ADMIN"
  echo "with transparent.conf: $(grep -o 'Overall exposure level.*' "$work/security-dropin.txt")"
  rm -rf "$dropin_dir"; added_dropin=""
fi

step "systemd-analyze security"
if [ -d /run/systemd/system ] && systemd-analyze security smtp-sensor.service >"$work/security.txt" 2>&1; then
  :
else
  systemd-analyze security --offline=true "$unit" >"$work/security.txt" 2>&1 \
    || { cat "$work/security.txt" >&2; fail "systemd-analyze security failed"; }
fi
cat "$work/security.txt"
exposure=$(grep -o 'Overall exposure level for smtp-sensor.service: [0-9.]* [A-Z]*' "$work/security.txt" || true)
[ -n "$exposure" ] || fail "no overall exposure level in systemd-analyze output"
echo "$exposure"
case "$exposure" in
  *" SAFE"|*" OK") ;;
  *) fail "exposure worse than OK: $exposure" ;;
esac
