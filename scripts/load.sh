#!/usr/bin/env bash
# Load test: chat_broker next to RabbitMQ, on this machine, in one run.
#
#   1. idle connections: interop/idle_connections.mjs opens 1,000 TCP and 1,000 WebSocket STOMP
#      connections (heart-beat 5000,5000, login guest/guest), holds them ~20 s, checks that all
#      are still open and got server heart-beats, and reads the broker's VmRSS before and while
#      they are open: bytes per connection. chat_broker (a fresh process), then RabbitMQ
#      (STOMP 61613, Web-STOMP 15674).
#   2. topic fan-out: `stomp bench` with 1 publisher, 50 subscribers, 20,000 messages of 256 bytes,
#      --heart-beat 0,0 (RabbitMQ 3.10 stops a heart-beating connection throttled by flow
#      control), against chat_broker (TCP, a second fresh process) and RabbitMQ (TCP),
#      alternating, RUNS (2) runs each: delivered msgs/s, p99 latency, the broker's CPU seconds.
#
# The idle test runs first so that neither broker's RSS baseline holds memory the fan-out left in
# its allocator. Prints one JSON line per figure on stdout, then a table; logs go to
# $CARGO_TARGET_DIR/load/. Exits non-zero only when something failed to run (a build, a broker,
# a benchmark that did not deliver everything, a connection that failed), never on the ratios.
#
#   scripts/load.sh
#   RUNS=3 MESSAGES=20000 SUBSCRIBERS=50 IDLE_COUNT=1000+1000 HOLD=20 scripts/load.sh
#   MAX_PENDING=67108864 scripts/load.sh     # chat_broker's --max-pending (default: its 4 MiB)
#
# Starts RabbitMQ with interop/start-rabbitmq.sh unless a broker already answers STOMP on
# 127.0.0.1:61613 (and stops it again only if it started it); chat_broker runs on free ports and
# is stopped by its PID.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

RUNS="${RUNS:-2}"
PUBLISHERS="${PUBLISHERS:-1}"
SUBSCRIBERS="${SUBSCRIBERS:-50}"
MESSAGES="${MESSAGES:-20000}"
SIZE="${SIZE:-256}"
IDLE_COUNT="${IDLE_COUNT:-1000+1000}"
HEART_BEAT="${HEART_BEAT:-5000}"
HOLD="${HOLD:-20}"
MAX_PENDING="${MAX_PENDING:-}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"     # one `stomp bench` run, seconds
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$CARGO_TARGET_DIR/release/examples"
OUT="$CARGO_TARGET_DIR/load"
RMQ_STOMP=127.0.0.1:61613
RMQ_WS=ws://127.0.0.1:15674/ws

log() { echo "load.sh: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
FAILURES=()
fail() { log "FAIL: $*"; FAILURES+=("$*"); }

T0="$(now)"
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.json
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
emit() { echo "$1" | tee -a "$RESULTS"; }   # one JSON line per figure

CHAT_PID=""
STARTED_RABBITMQ=0
stop_chat_broker() {
  if [ -n "$CHAT_PID" ] && kill -0 "$CHAT_PID" 2>/dev/null; then
    kill "$CHAT_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$CHAT_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$CHAT_PID" 2>/dev/null || true
  fi
  CHAT_PID=""
}
cleanup() {
  stop_chat_broker
  if [ "$STARTED_RABBITMQ" = 1 ]; then
    interop/stop-rabbitmq.sh >&2 || log "could not stop RabbitMQ"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# File descriptors: 2,000 client sockets here (node) and as many in each broker; brokers started
# from this shell inherit the limit.
NEED_FDS=$(( ${IDLE_COUNT%+*} + ${IDLE_COUNT#*+} + 1000 ))
HARD="$(ulimit -Hn)"
if [ "$HARD" = unlimited ] || [ "$HARD" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$HARD"; fi
[ "$(ulimit -n)" -ge "$NEED_FDS" ] || die "ulimit -n is $(ulimit -n) (hard $HARD), need $NEED_FDS"

# 1. Builds and clients.
log "building (release): examples stomp and chat_broker into $CARGO_TARGET_DIR"
cargo build --release --quiet --example stomp --example chat_broker || die "cargo build failed"
if [ ! -f interop/node_modules/ws/package.json ]; then
  interop/setup-clients.sh node >&2 || die "npm packages (interop/setup-clients.sh node)"
fi
command -v node >/dev/null || die "node not found"

# 2. RabbitMQ: reuse one that answers STOMP (from this checkout or another), else start ours.
stomp_ping() {  # HOST PORT: a real CONNECT/CONNECTED
  local line=""
  exec 3<>"/dev/tcp/$1/$2" 2>/dev/null || return 1
  printf 'CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0' >&3
  IFS= read -r -t 5 line <&3 || true
  printf 'DISCONNECT\n\n\0' >&3 2>/dev/null || true
  exec 3<&- 3>&-
  [ "$line" = CONNECTED ]
}
listener_pid() {  # PORT: the PID listening on 127.0.0.1:PORT
  ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2
}
if stomp_ping 127.0.0.1 "${RMQ_STOMP#*:}"; then
  log "RabbitMQ: already running (not started here; left running)"
else
  interop/start-rabbitmq.sh > "$OUT/rabbitmq-start.log" 2>&1 \
    || { cat "$OUT/rabbitmq-start.log" >&2; die "RabbitMQ did not start"; }
  grep -q 'already running' "$OUT/rabbitmq-start.log" || STARTED_RABBITMQ=1
  tail -1 "$OUT/rabbitmq-start.log" >&2
fi
RMQ_PID="$(listener_pid "${RMQ_STOMP#*:}")"
[ -n "$RMQ_PID" ] && grep -q beam "/proc/$RMQ_PID/cmdline" 2>/dev/null \
  || die "no beam.smp PID listening on $RMQ_STOMP (ss -ltnp)"
RMQ_WS_PID="$(listener_pid 15674)"
[ "$RMQ_WS_PID" = "$RMQ_PID" ] || die "Web-STOMP on 15674 is not served by RabbitMQ's beam.smp ($RMQ_PID)"
RMQ_FDS="$(awk '/Max open files/ { print $4 }' "/proc/$RMQ_PID/limits")"
RMQ_VERSION="$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo '?')"
log "RabbitMQ $RMQ_VERSION: beam.smp pid $RMQ_PID (all listeners and memory in it), open-files limit $RMQ_FDS"
[ "$RMQ_FDS" = unlimited ] || [ "$RMQ_FDS" -ge "$NEED_FDS" ] \
  || die "RabbitMQ's open-files limit is $RMQ_FDS, the idle test needs $NEED_FDS (restart it from a shell with ulimit -n $NEED_FDS)"

# 3. chat_broker on free ports, a fresh process per test.
CHAT_TCP="" CHAT_WS=""
start_chat_broker() {  # NAME
  local extra=()
  [ -n "$MAX_PENDING" ] && extra=(--max-pending "$MAX_PENDING")
  "$BIN/chat_broker" --tcp 127.0.0.1:0 --ws 127.0.0.1:0 "${extra[@]}" > "$OUT/chat_broker-$1.log" 2>&1 &
  CHAT_PID=$!
  CHAT_TCP="" CHAT_WS=""
  for _ in $(seq 100); do
    CHAT_TCP="$(sed -n 's/^chat_broker: STOMP over TCP on //p' "$OUT/chat_broker-$1.log")"
    CHAT_WS="$(sed -n 's/^chat_broker: STOMP over WebSocket on //p' "$OUT/chat_broker-$1.log")"
    [ -n "$CHAT_TCP" ] && [ -n "$CHAT_WS" ] && break
    kill -0 "$CHAT_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$CHAT_TCP" ] && [ -n "$CHAT_WS" ] || { cat "$OUT/chat_broker-$1.log" >&2; die "chat_broker did not start"; }
  log "chat_broker ($1): pid $CHAT_PID, tcp $CHAT_TCP, $CHAT_WS, $(sed -n 's/^chat_broker: at most \([0-9]*\) bytes.*/--max-pending \1/p' "$OUT/chat_broker-$1.log")"
}
cpu_seconds() {  # PID: user+system CPU seconds so far
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}

# 4. Idle connections.
idle() {  # NAME TCP WS PID
  local t
  t="$(now)"
  node interop/idle_connections.mjs --tcp "$2" --ws "$3" --count "$IDLE_COUNT" \
    --heart-beat "$HEART_BEAT" --hold "$HOLD" --login guest --passcode guest --host / \
    --pid "$4" --label "$1" > "$OUT/idle-$1.json" 2> "$OUT/idle-$1.log"
  local rc=$?
  sed 's/^/  /' "$OUT/idle-$1.log" >&2
  local line
  line="$(tail -1 "$OUT/idle-$1.json")"
  if [ $rc != 0 ] || ! jq -e .ok <<<"$line" >/dev/null 2>&1; then
    fail "idle connections against $1 (exit $rc; see $OUT/idle-$1.log)"
  fi
  [ -n "$line" ] && emit "$(jq -c '{test: "idle"} + .' <<<"$line")"
  log "idle $1: $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
}
log "idle connections: $IDLE_COUNT (TCP+WebSocket), heart-beat $HEART_BEAT,$HEART_BEAT, held $HOLD s"
start_chat_broker idle
sleep 1
idle chat_broker "$CHAT_TCP" "$CHAT_WS" "$CHAT_PID"
grep -q 'slow consumer' "$OUT/chat_broker-idle.log" && fail "chat_broker dropped a slow consumer in the idle test"
stop_chat_broker
idle rabbitmq "$RMQ_STOMP" "$RMQ_WS" "$RMQ_PID"

# 5. Fan-out, alternating.
start_chat_broker fanout
fanout() {  # NAME URL PID RUN [bench options]
  local name="$1" url="$2" pid="$3" run="$4"
  shift 4
  local cpu0 cpu1 line rc
  cpu0="$(cpu_seconds "$pid")"
  timeout "$BENCH_TIMEOUT" "$BIN/stomp" bench "$url" /topic/load.fanout --publishers "$PUBLISHERS" \
    --subscribers "$SUBSCRIBERS" --messages "$MESSAGES" --size "$SIZE" --heart-beat 0,0 "$@" \
    > "$OUT/fanout-$name-$run.json" 2> "$OUT/fanout-$name-$run.log"
  rc=$?
  cpu1="$(cpu_seconds "$pid")"
  line="$(tail -1 "$OUT/fanout-$name-$run.json")"
  if [ $rc != 0 ] || ! jq -e . <<<"$line" >/dev/null 2>&1; then
    fail "fan-out run $run against $name (exit $rc: $(tail -1 "$OUT/fanout-$name-$run.log"))"
    jq -e . <<<"$line" >/dev/null 2>&1 || return
  fi
  emit "$(jq -c --arg b "$name" --argjson r "$run" --argjson c "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')" \
    '{test: "fanout", broker: $b, run: $r} + . + {broker_cpu_s: $c, broker_cpu_us_per_delivery: (if .delivered > 0 then ($c * 1e6 / .delivered * 100 | round) / 100 else null end)}' <<<"$line")"
}
log "fan-out: $PUBLISHERS publisher(s), $SUBSCRIBERS subscribers, $MESSAGES messages of $SIZE bytes, $RUNS runs each, alternating"
for run in $(seq "$RUNS"); do
  for broker in chat_broker rabbitmq; do
    t="$(now)"
    if [ $broker = chat_broker ]; then
      fanout chat_broker "stomp://$CHAT_TCP" "$CHAT_PID" "$run"
    else
      fanout rabbitmq "stomp://$RMQ_STOMP" "$RMQ_PID" "$run" --login guest --passcode guest
    fi
    log "fan-out $broker run $run: $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
  done
done
if grep -q 'slow consumer' "$OUT/chat_broker-fanout.log"; then
  fail "chat_broker dropped slow consumer(s) in the fan-out: raise MAX_PENDING (e.g. 67108864)"
fi
stop_chat_broker

# 6. Ratios and the table.
SECONDS_TOTAL="$(awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')"
jq -s -c --argjson secs "$SECONDS_TOTAL" '
  def mean(f): (map(f) | if length > 0 then add / length else null end);
  def ratio(a; b): if a != null and b != null and b != 0 then (a / b * 100 | round) / 100 else null end;
  (map(select(.test == "fanout" and .broker == "chat_broker"))) as $c
  | (map(select(.test == "fanout" and .broker == "rabbitmq"))) as $r
  | (map(select(.test == "idle" and .broker == "chat_broker"))[0]) as $ic
  | (map(select(.test == "idle" and .broker == "rabbitmq"))[0]) as $ir
  | {test: "ratios",
     fanout_delivered_per_s: ratio($c | mean(.delivered_per_s); $r | mean(.delivered_per_s)),
     fanout_p99_ms: ratio($c | mean(.p99_ms); $r | mean(.p99_ms)),
     idle_bytes_per_conn: ratio($ic.bytes_per_conn; $ir.bytes_per_conn),
     idle_bytes_per_tcp_conn: ratio($ic.bytes_per_tcp_conn; $ir.bytes_per_tcp_conn),
     idle_bytes_per_ws_conn: ratio($ic.bytes_per_ws_conn; $ir.bytes_per_ws_conn),
     note: "ours / RabbitMQ (means over runs); delivered_per_s: higher is better, the others: lower is better",
     script_seconds: $secs}' "$RESULTS" > "$OUT/ratios.json"
emit "$(cat "$OUT/ratios.json")"

jq -s -r --arg what "$PUBLISHERS publisher(s), $SUBSCRIBERS subscribers, $MESSAGES messages of $SIZE bytes" '
  def f(x): if x == null then "-" else (x * 10 | round / 10 | tostring) end;
  def kb(x): if x == null then "-" else ((x / 1024 * 10 | round) / 10 | tostring) + " KiB" end;
  def mib(x): if x == null then "-" else (x / 1048576 | round | tostring) end;
  def pad(n): tostring | if length < n then . + (" " * (n - length)) else . end;
  def row(cols; widths): [range(0; cols | length) as $i | cols[$i] | pad(widths[$i])] | join(" ");
  [12, 4, 12, 10, 10, 8, 12] as $fw | [12, 10, 11, 13, 12, 20, 12] as $iw
  | (map(select(.test == "ratios"))[0]) as $q
  | ["", "fan-out over TCP: \($what), heart-beat 0,0",
     row(["broker", "run", "delivered/s", "p50 ms", "p99 ms", "seconds", "broker CPU s"]; $fw),
     (.[] | select(.test == "fanout")
        | row([.broker, .run, f(.delivered_per_s), f(.p50_ms), f(.p99_ms), f(.seconds), .broker_cpu_s]; $fw)),
     "ratio ours/RabbitMQ (means of the runs): delivered/s \($q.fanout_delivered_per_s)x, p99 \($q.fanout_p99_ms)x",
     "",
     "idle connections with heart-beats: memory = VmRSS growth / connections",
     row(["broker", "open/asked", "per conn", "per TCP conn", "per WS conn", "RSS MiB before/held", "server beats min/median (heart-beat)"]; $iw),
     (.[] | select(.test == "idle")
        | row([.broker, "\(.open_at_end)/\(.tcp + .ws)", kb(.bytes_per_conn), kb(.bytes_per_tcp_conn), kb(.bytes_per_ws_conn), "\(mib(.rss_before)) / \(mib(.rss_end))", "\(.server_beats_min)/\(.server_beats_median) (\(.server_heart_beat))"]; $iw)),
     "ratio ours/RabbitMQ (lower is better): per conn \($q.idle_bytes_per_conn)x, TCP \($q.idle_bytes_per_tcp_conn)x, WebSocket \($q.idle_bytes_per_ws_conn)x",
     "",
     "script: \($q.script_seconds) s"] | .[]' "$RESULTS"

if [ ${#FAILURES[@]} -gt 0 ]; then
  log "${#FAILURES[@]} failure(s):"
  for f in "${FAILURES[@]}"; do log "  $f"; done
  exit 1
fi
log "OK (logs in $OUT)"
