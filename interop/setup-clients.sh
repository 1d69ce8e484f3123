#!/usr/bin/env bash
# Installs the real STOMP client libraries the round-trip scripts use, next to this file:
#   .venv/         stomp.py (PyPI), pinned in requirements.txt
#   node_modules/  @stomp/stompjs, @stomp/tcp-wrapper and ws (npm), pinned in package-lock.json,
#                  and puppeteer-core for chat_browser.mjs (it downloads no browser: that test
#                  uses Debian's chromium, which install-brokers.sh installs)
# Idempotent and quick when already installed. Needs python3 (with venv), node and npm.
#
#   ./setup-clients.sh            both
#   ./setup-clients.sh python     only stomp.py
#   ./setup-clients.sh node       only the npm packages
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
die() { echo "setup-clients: FAILED: $*" >&2; exit 1; }
WHAT="${1:-all}"

if [ "$WHAT" = all ] || [ "$WHAT" = python ]; then
  T="$(now)"
  command -v python3 >/dev/null || die "python3 not found"
  if [ ! -x .venv/bin/python ]; then python3 -m venv .venv || die "python3 -m venv failed"; fi
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt || die "pip install -r requirements.txt failed"
  echo "setup-clients: stomp.py $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("stomp.py"))') in .venv ($(since "$T") s)"
fi

if [ "$WHAT" = all ] || [ "$WHAT" = node ]; then
  T="$(now)"
  command -v node >/dev/null && command -v npm >/dev/null || die "node or npm not found"
  installed=1
  for p in @stomp/stompjs @stomp/tcp-wrapper ws puppeteer-core; do [ -f "node_modules/$p/package.json" ] || installed=0; done
  if [ $installed = 0 ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
  fi
  echo "setup-clients: @stomp/stompjs $(node -p 'require("./node_modules/@stomp/stompjs/package.json").version'), puppeteer-core $(node -p 'require("./node_modules/puppeteer-core/package.json").version') in node_modules ($(since "$T") s)"
fi
