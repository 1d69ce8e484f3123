#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test (unit, integration, examples, doc tests,
# the fuzz seed-corpus replay) and the no_std build. Run from anywhere: `./scripts/test-all.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --all-targets --all-features -- -D warnings

step "cargo build --no-default-features (codec without std)"
cargo build --no-default-features --lib

step "cargo test (unit, integration, examples, doc tests, fuzz corpus replay)"
cargo test --all-features

if [ "${STOMP_SKIP_INTEROP:-0}" = "1" ]; then
  step "interop with real peers: skipped (STOMP_SKIP_INTEROP=1)"
else
  # Real peers: chat_broker against stomp.py and @stomp/stompjs (TCP and WebSocket), the client
  # example against RabbitMQ and ActiveMQ. Installs them if missing (needs root for apt); a peer
  # that cannot be installed is reported as NOT RUN, loudly.
  step "interop with real peers (scripts/interop.sh)"
  ./scripts/interop.sh
fi
