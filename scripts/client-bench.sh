#!/usr/bin/env bash
# Client benchmark: stomp-tokio's client next to iridium-stomp and async-stomp, driving the same
# brokers (chat_broker, started here, and RabbitMQ) in one run: publish without receipts,
# publish with a receipt on every SEND, consume; throughput and client CPU per message.
# Prints one JSON line per measurement, then the tables (client-bench/src/main.rs says how each
# number is measured).
#
#   scripts/client-bench.sh                       # the default size (about 2 minutes)
#   MESSAGES=20000 CHAT_MESSAGES=100000 REPS=3 scripts/client-bench.sh
#   scripts/client-bench.sh --runtime current-thread   # extra arguments go to client-bench
#
# Starts RabbitMQ with interop/start-rabbitmq.sh unless it already runs (and stops it again only
# if it started it); starts chat_broker on a free port and stops it (by PID) at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES="${MESSAGES:-20000}"            # per RabbitMQ measurement (RabbitMQ is the slower broker)
CHAT_MESSAGES="${CHAT_MESSAGES:-100000}" # per chat_broker measurement
SIZE="${SIZE:-128}"
REPS="${REPS:-3}"
RUN_TIMEOUT="${RUN_TIMEOUT:-900}"        # the whole benchmark, seconds
BIN="${CARGO_TARGET_DIR:-target}/release"

log() { echo "client-bench.sh: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

WORK="$(mktemp -d)"
BROKER_PID=""
STARTED_RABBITMQ=0
cleanup() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BROKER_PID" 2>/dev/null || true
  fi
  if [ "$STARTED_RABBITMQ" = 1 ]; then
    interop/stop-rabbitmq.sh >&2 || log "could not stop RabbitMQ"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

T0=$(date +%s)
log "building (release): chat_broker and client-bench"
cargo build --release --quiet --example chat_broker
cargo build --release --quiet -p client-bench

log "RabbitMQ"
interop/start-rabbitmq.sh > "$WORK/rabbitmq.log" 2>&1 || { cat "$WORK/rabbitmq.log" >&2; die "RabbitMQ did not start"; }
grep -q 'already running' "$WORK/rabbitmq.log" || STARTED_RABBITMQ=1
tail -1 "$WORK/rabbitmq.log" >&2

# chat_broker on free ports; enough room per client (--max-pending) that a consumer reading
# slower than the feeder writes is not dropped as a slow consumer.
"$BIN/examples/chat_broker" --tcp 127.0.0.1:0 --ws 127.0.0.1:0 --max-pending 1073741824 \
  > "$WORK/chat_broker.log" 2>&1 &
BROKER_PID=$!
CHAT_ADDR=""
for _ in $(seq 100); do
  CHAT_ADDR="$(sed -n 's/^chat_broker: STOMP over TCP on //p' "$WORK/chat_broker.log")"
  [ -n "$CHAT_ADDR" ] && break
  kill -0 "$BROKER_PID" 2>/dev/null || { cat "$WORK/chat_broker.log" >&2; die "chat_broker exited"; }
  sleep 0.1
done
[ -n "$CHAT_ADDR" ] || die "chat_broker printed no address within 10 s"
log "chat_broker (pid $BROKER_PID) on $CHAT_ADDR"

log "running: $MESSAGES messages per RabbitMQ measurement, $CHAT_MESSAGES per chat_broker one, $SIZE bytes, $REPS runs"
status=0
timeout "$RUN_TIMEOUT" "$BIN/client-bench" \
  --broker "chat_broker=$CHAT_ADDR@live" \
  --broker "rabbitmq=127.0.0.1:${RMQ_STOMP_PORT:-61613}@prefill" \
  --messages "$MESSAGES" --broker-messages "chat_broker=$CHAT_MESSAGES" \
  --size "$SIZE" --reps "$REPS" "$@" || status=$?
log "done in $(( $(date +%s) - T0 )) s (exit $status)"
exit "$status"
