#!/usr/bin/env bash
# The whole test suite: formatting, lints and docs in every feature combination, every test
# (unit, integration, examples, doc tests, the fuzz seed-corpus replay) with no features, the
# default features and all features, the no_std proofs, a short run of every fuzz target, and
# the interop run against real peers.
# Run from anywhere: `./scripts/test-all.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path tests/no_std_check/Cargo.toml -- --check

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --all-targets --all-features -- -D warnings

# Every feature combination a user can choose: std on or off, serde on or off, tokio-codec
# (which implies std) on or off.
step "cargo clippy --lib in every feature combination (-D warnings)"
for features in "--no-default-features" "--no-default-features --features serde" "" \
  "--features serde" "--features tokio-codec"; do
  echo "-- cargo clippy --lib $features"
  # shellcheck disable=SC2086 # the feature flags are meant to split into words
  cargo clippy --lib $features -- -D warnings
done
echo "-- cargo clippy --lib --tests --no-default-features"
cargo clippy --lib --tests --no-default-features -- -D warnings

step "cargo doc in the three main combinations (warnings are errors)"
for features in "--no-default-features" "" "--all-features"; do
  echo "-- cargo doc --no-deps $features"
  # shellcheck disable=SC2086
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps $features --target-dir target/doc-check
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
cargo build --no-default-features --lib
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

# The tests in three combinations. The crate's own dev-dependency on itself turns `serde` on for
# every test build (stompcat uses it), so "default" is std + serde, and --all-features adds
# tokio-codec: together these also cover each optional feature on its own.
step "cargo test --no-default-features --lib --tests (codec, connections on Duration time, serde)"
# tests/stompcat.rs runs the stompcat example, which `--tests` does not build: build it first
# (it needs no std feature). The other examples and the doc tests use the std clock.
cargo build --no-default-features --example stompcat
cargo test --no-default-features --lib --tests

# Plain `cargo test` builds the examples before it runs any test: tests/stompcat.rs and
# tests/slow_consumer.rs (chat_broker against a socket that stops reading) run those binaries.
step "cargo test (default features: unit, integration, examples, doc tests)"
cargo test

step "cargo test --all-features (unit, integration, examples, doc tests, fuzz corpus replay)"
cargo test --all-features

# The decoder's 64-octet classifier has an AVX2 variant that a build enabling AVX2 compiles in
# instead of the SSE2 one (e.g. RUSTFLAGS="-C target-cpu=native"): the library's tests and the
# decoding integration tests again with it, where the CPU has AVX2.
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
  step "cargo test with AVX2 enabled (the AVX2 classifier): lib and decoding tests"
  RUSTFLAGS="-C target-feature=+avx2" cargo test --target-dir target/avx2 --lib \
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
else
  step "fuzz smoke run: every target for ${FUZZ_SECONDS:-10}s (scripts/fuzz-smoke.sh)"
  FUZZ_SECONDS="${FUZZ_SECONDS:-10}" ./scripts/fuzz-smoke.sh
fi

if [ "${STOMP_SKIP_INTEROP:-0}" = "1" ]; then
  step "interop with real peers: skipped (STOMP_SKIP_INTEROP=1)"
else
  # Real peers: chat_broker against stomp.py and @stomp/stompjs (TCP and WebSocket), the client
  # example against RabbitMQ and ActiveMQ. Installs them if missing (needs root for apt); a peer
  # that cannot be installed is reported as NOT RUN, loudly.
  step "interop with real peers (scripts/interop.sh)"
  ./scripts/interop.sh
fi
