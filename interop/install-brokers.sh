#!/usr/bin/env bash
# Installs the Debian packages of the interop brokers that are missing (default: rabbitmq-server
# and activemq, in one apt transaction), without letting their packaged services start: those
# would listen on every interface. start-rabbitmq.sh and start-activemq.sh call it for their own
# package; scripts/interop.sh calls it early, in the background, for both.
#
#   ./install-brokers.sh [PACKAGE...]
#
# Needs root and apt-get. On failure the last line on stderr says why.
set -euo pipefail
log() { echo "install-brokers: $*"; }
die() { echo "install-brokers: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(rabbitmq-server activemq)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} = 0 ]; then log "already installed: ${packages[*]}"; exit 0; fi
[ "$(id -u)" = 0 ] || die "${missing[*]} not installed, and only root can install them"
command -v apt-get >/dev/null || die "${missing[*]} not installed, and apt-get is not available"

T="$(now)"
APT_LOG="${TMPDIR:-/tmp}/interop-apt-$$.log"
if [ ! -e /usr/sbin/policy-rc.d ]; then
  # Refuse service starts during the install; removed again on exit.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt() { apt-get -q -o DPkg::Lock::Timeout=120 "$@" >>"$APT_LOG" 2>&1; }
why() { grep -E '^(E|Err):' "$APT_LOG" | tail -1 | cut -c1-200; }
# Package lists older than six hours may name versions the mirror no longer has.
if ! find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -360 2>/dev/null | grep -q .; then
  apt update || die "apt-get update failed: $(why)"
fi
log "installing ${missing[*]} from Debian..."
if ! apt install -y --no-install-recommends "${missing[@]}"; then
  apt update || true
  apt install -y --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed: $(why) (log: $APT_LOG)"
fi
rm -f "$APT_LOG"
for p in "${missing[@]}"; do
  log "installed $p $(dpkg-query -W -f='${Version}' "$p") ($(since "$T") s)"
done
