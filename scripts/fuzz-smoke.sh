#!/usr/bin/env bash
# Runs every cargo-fuzz target for a short, fixed time, starting from the committed seeds
# (fuzz/corpus/<target>/seed-*), so that a regression the fuzzers know how to reach shows up in
# CI. Run from anywhere: `./scripts/fuzz-smoke.sh`. Prints one line
# "fuzz-smoke: result: N targets run, N ok, N failed" (or "... result: not run: <reason>"), which
# scripts/test-all.sh reads for its summary.
#
#   FUZZ_SECONDS=20   time per target (default 20)
#   FUZZ_TARGETS="a b" only these targets (default: every target of fuzz/Cargo.toml)
#
# Needs the nightly toolchain and cargo-fuzz; installs cargo-fuzz if it is missing. When either
# cannot be had, prints "NOT RUN: fuzzing: <reason>" and exits 0, so a machine without them
# does not fail the suite silently *or* loudly by accident. A crash (or any invariant the
# targets check) exits non-zero and leaves the input under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"

not_run() {
  printf '\n%s\n' "************************************************************"
  printf 'NOT RUN: fuzzing: %s\n' "$*"
  printf '%s\n\n' "************************************************************"
  printf 'fuzz-smoke: result: not run: %s\n' "$*"
  exit 0
}

if ! command -v cargo >/dev/null 2>&1; then
  not_run "cargo is not installed"
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null 2>&1; then
    echo "==> installing the nightly toolchain (rustup toolchain install nightly)"
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
  fi
  cargo +nightly --version >/dev/null 2>&1 || not_run "no nightly toolchain (rustup toolchain install nightly)"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked >/dev/null 2>&1 || true
  cargo fuzz --version >/dev/null 2>&1 || not_run "cargo-fuzz could not be installed (cargo install cargo-fuzz)"
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz-smoke: no fuzz targets found" >&2
  exit 1
fi

echo "==> cargo +nightly fuzz build (${#targets[@]} targets)"
cargo +nightly fuzz build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
  seeds="fuzz/corpus/$target"
  corpus="$work/$target"
  mkdir -p "$corpus"
  # Only the committed seeds: what a long local run left in fuzz/corpus is not part of CI.
  if compgen -G "$seeds/seed-*" >/dev/null; then
    cp "$seeds"/seed-* "$corpus"/
  fi
  dict=()
  case "$target" in
    decode_*) dict=(-dict=fuzz/stomp.dict) ;;
  esac
  printf '\n==> fuzz %s for %ss (%s seeds)\n' "$target" "$seconds" "$(find "$corpus" -type f | wc -l)"
  if cargo +nightly fuzz run "$target" "$corpus" -- \
      -max_total_time="$seconds" -print_final_stats=1 "${dict[@]}" 2>"$work/$target.log"; then
    grep -E '^(Done|stat::number_of_executed_units)' "$work/$target.log" || true
  else
    tail -n 40 "$work/$target.log"
    failed+=("$target")
  fi
done

# The counts in a fixed form, read by scripts/test-all.sh's summary.
printf '\nfuzz-smoke: result: %s targets run, %s ok, %s failed\n' "${#targets[@]}" \
  "$((${#targets[@]} - ${#failed[@]}))" "${#failed[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'fuzz-smoke: FAILED: %s (inputs under fuzz/artifacts/)\n' "${failed[*]}" >&2
  exit 1
fi
printf 'fuzz-smoke: %s targets ran %ss each without a crash\n' "${#targets[@]}" "$seconds"
