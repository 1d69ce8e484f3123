#!/usr/bin/env bash
# The whole test suite: formatting, lints and docs in every feature combination, every test
# (unit, integration, examples, doc tests, the fuzz seed-corpus replay) with no features, the
# default features and all features, the no_std proofs, a short run of every fuzz target, and
# the interop run against real peers.
# Run from anywhere: `./scripts/test-all.sh`.
#
# The last line is always one summary of everything that ran (also when a step fails, which
# still exits non-zero):
#   test-all: tests: N passed, N failed, N ignored (N cargo test runs); fuzz: N targets run, N ok,
#   N failed; interop: N passed, N failed, N not run; PASSED   (or: FAILED at step "...")
# The outputs it is counted from are in target/test-all/.
set -euo pipefail
cd "$(dirname "$0")/.."

LOGS=target/test-all
mkdir -p "$LOGS"
TEST_LOG="$LOGS/cargo-test.log" FUZZ_LOG="$LOGS/fuzz-smoke.log" INTEROP_LOG="$LOGS/interop.log"
: >"$TEST_LOG"
rm -f "$FUZZ_LOG" "$INTEROP_LOG"
CURRENT_STEP="setup" TEST_RUNS=0
FUZZ_STATUS="not run (the suite stopped before it)"
INTEROP_STATUS="not run (the suite stopped before it)"

step() {
  CURRENT_STEP="$*"
  printf '\n==> %s\n' "$*"
}

# tests COMMAND...: runs a `cargo test` command, its output also appended to $TEST_LOG, whose
# "test result:" lines (one per test binary and doc-test run) the summary adds up.
tests() {
  TEST_RUNS=$((TEST_RUNS + 1))
  "$@" 2>&1 | tee -a "$TEST_LOG"
}

# The "<tool>: result: ..." line of a log, without its prefix ("" when there is none).
result_line() { sed -n "s/^$1: result: //p" "$2" 2>/dev/null | tail -1; }

summary() {
  local rc=$? counts verdict
  trap - EXIT
  counts="$(awk '/^test result: / {
      for (i = 2; i <= NF; i++) {
        if ($i ~ /^passed;?$/) p += $(i - 1)
        if ($i ~ /^failed;?$/) f += $(i - 1)
        if ($i ~ /^ignored;?$/) g += $(i - 1)
      }
    }
    END { printf "%d passed, %d failed, %d ignored", p, f, g }' "$TEST_LOG")"
  if [ -f "$FUZZ_LOG" ]; then
    FUZZ_STATUS="$(result_line fuzz-smoke "$FUZZ_LOG")"
    [ -n "$FUZZ_STATUS" ] || FUZZ_STATUS="failed before any target ran (log: $FUZZ_LOG)"
  fi
  if [ -f "$INTEROP_LOG" ]; then
    INTEROP_STATUS="$(result_line interop "$INTEROP_LOG")"
    [ -n "$INTEROP_STATUS" ] || INTEROP_STATUS="stopped without a result (log: $INTEROP_LOG)"
  fi
  if [ "$rc" = 0 ]; then
    verdict=PASSED
  else
    verdict="FAILED at step \"$CURRENT_STEP\" (exit $rc)"
  fi
  printf '\ntest-all: tests: %s (%d cargo test runs); fuzz: %s; interop: %s; %s\n' \
    "$counts" "$TEST_RUNS" "$FUZZ_STATUS" "$INTEROP_STATUS" "$verdict"
  exit "$rc"
}
trap summary EXIT

step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path tests/no_std_check/Cargo.toml -- --check

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

# Every feature combination a user can choose: std on or off, serde on or off, tokio-codec
# (which implies std) on or off.
step "cargo clippy --lib in every feature combination (-D warnings)"
for features in "--no-default-features" "--no-default-features --features serde" "" \
  "--features serde" "--features tokio-codec"; do
  echo "-- cargo clippy --lib $features"
  # shellcheck disable=SC2086 # the feature flags are meant to split into words
  cargo clippy -p stomp-codec --lib $features -- -D warnings
done
echo "-- cargo clippy --lib --tests --no-default-features"
cargo clippy -p stomp-codec --lib --tests --no-default-features -- -D warnings

step "cargo doc in the three main combinations (warnings are errors)"
for features in "--no-default-features" "" "--all-features"; do
  echo "-- cargo doc --no-deps $features"
  # shellcheck disable=SC2086
  RUSTDOCFLAGS="-D warnings" cargo doc -p stomp-codec --no-deps $features --target-dir target/doc-check
done

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "-- cargo +nightly doc --all-features with --cfg docsrs (as docs.rs builds it)"
  RUSTDOCFLAGS="--cfg docsrs" cargo +nightly doc --no-deps --all-features \
    --target-dir target/doc-docsrs
else
  echo "-- NOT RUN: the docs.rs build (--cfg docsrs) needs a nightly toolchain"
fi

# no_std: see the README section "no_std" for what each step proves.
step "no_std: cargo build --no-default-features (codec and connections without the std feature)"
cargo build -p stomp-codec --no-default-features --lib
step "no_std: a #![no_std] crate with its own panic handler links stomp-codec (tests/no_std_check)"
cargo build --manifest-path tests/no_std_check/Cargo.toml --target-dir target/no_std_check
NO_STD_TARGET=thumbv7em-none-eabihf
step "no_std: the same crate for $NO_STD_TARGET, a target without std"
if rustup target list --installed 2>/dev/null | grep -qx "$NO_STD_TARGET" \
  || timeout 120 rustup target add "$NO_STD_TARGET"; then
  cargo build --manifest-path tests/no_std_check/Cargo.toml --target-dir target/no_std_check \
    --target "$NO_STD_TARGET"
else
  echo "NOT RUN: the $NO_STD_TARGET target could not be installed (rustup target add failed);"
  echo "         the host build of tests/no_std_check above still proves that std is not linked."
fi

# The tests in three combinations: without std (with serde, which needs no std), the default
# features, and --all-features (serde and tokio-codec): together these also cover each optional
# feature on its own. The last two cover the whole workspace: stomp-codec, stompcat (its binary
# against its contract) and stomp-testkit's own tests.
# The first is stomp-codec's alone (`-p`): the other workspace members (stompcat, stomp-tokio,
# and stomp-testkit with its `std` feature) would turn std on. (The root's default members
# include stomp-tokio, for `cargo run --example stomp`: every library-only step names
# stomp-codec.) The examples and the doc tests use the std clock.
step "cargo test --no-default-features --features serde --lib --tests (codec, connections on Duration time, serde)"
tests cargo test -p stomp-codec --no-default-features --features serde --lib --tests

# `cargo test` builds the examples before it runs any test: tests/slow_consumer.rs runs
# chat_broker against a socket that stops reading.
step "cargo test --workspace (default features: unit, integration, examples, doc tests)"
tests cargo test --workspace

step "cargo test --workspace --all-features (unit, integration, examples, doc tests, fuzz corpus replay)"
tests cargo test --workspace --all-features

# The decoder's 64-octet classifier has an AVX2 variant that a build enabling AVX2 compiles in
# instead of the SSE2 one (e.g. RUSTFLAGS="-C target-cpu=native"): the library's tests and the
# decoding integration tests again with it, where the CPU has AVX2.
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
  step "cargo test with AVX2 enabled (the AVX2 classifier): lib and decoding tests"
  tests env RUSTFLAGS="-C target-feature=+avx2" cargo test -p stomp-codec --target-dir target/avx2 --lib \
    --test reference_model --test proptest_codec --test decode_grammar --test escaping \
    --test captures --test headers_limits --test memory_bounds --test hardening_corpus
else
  step "NOT RUN: the AVX2 classifier tests (this CPU has no AVX2)"
fi

# Every cargo-fuzz target for a short, fixed time from the committed seeds, so that a
# regression the fuzzers can reach shows up here (nightly + cargo-fuzz; installs cargo-fuzz if
# missing, prints NOT RUN if either cannot be had). STOMP_SKIP_FUZZ=1 skips it.
if [ "${STOMP_SKIP_FUZZ:-0}" = "1" ]; then
  step "fuzz smoke run: skipped (STOMP_SKIP_FUZZ=1)"
  FUZZ_STATUS="not run (STOMP_SKIP_FUZZ=1)"
else
  step "fuzz smoke run: every target for ${FUZZ_SECONDS:-10}s (scripts/fuzz-smoke.sh)"
  FUZZ_SECONDS="${FUZZ_SECONDS:-10}" ./scripts/fuzz-smoke.sh 2>&1 | tee "$FUZZ_LOG"
fi

if [ "${STOMP_SKIP_INTEROP:-0}" = "1" ]; then
  step "interop with real peers: skipped (STOMP_SKIP_INTEROP=1)"
  INTEROP_STATUS="not run (STOMP_SKIP_INTEROP=1)"
else
  # Real peers: chat_broker against stomp.py and @stomp/stompjs (TCP and WebSocket), the client
  # example against RabbitMQ and ActiveMQ. Installs them if missing (needs root for apt); a peer
  # that cannot be installed is reported as NOT RUN, loudly.
  step "interop with real peers (scripts/interop.sh)"
  ./scripts/interop.sh 2>&1 | tee "$INTEROP_LOG"
fi

# The client benchmark (stomp-tokio's client next to iridium-stomp and async-stomp, against
# chat_broker and RabbitMQ): figures for the README, printed and kept in target/test-all/; it
# fails only if a client cannot do its part. STOMP_SKIP_BENCH=1 skips it.
if [ "${STOMP_SKIP_BENCH:-0}" = "1" ]; then
  step "client benchmark: skipped (STOMP_SKIP_BENCH=1)"
else
  step "client benchmark (scripts/client-bench.sh)"
  ./scripts/client-bench.sh 2>&1 | tee "$LOGS/client-bench.log"
fi

# The server under load, side by side with RabbitMQ: topic fan-out (1 publisher, 50
# subscribers, 20,000 messages of 256 bytes) and 2,000 idle connections (TCP and WebSocket)
# with heart-beats; figures kept in target/load/. It fails only if something cannot run.
# STOMP_SKIP_LOAD=1 skips it.
if [ "${STOMP_SKIP_LOAD:-0}" = "1" ]; then
  step "server load: skipped (STOMP_SKIP_LOAD=1)"
else
  step "server load (scripts/load.sh, one run each)"
  RUNS="${LOAD_RUNS:-1}" ./scripts/load.sh 2>&1 | tee "$LOGS/load.log"
fi
