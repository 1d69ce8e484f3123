#!/usr/bin/env bash
# Interop tests against real STOMP peers, on loopback only:
#   - examples/chat_broker driven by stomp.py (TCP), @stomp/stompjs (TCP and WebSocket), by
#     interop/chat_broker_checks.py (routing, acks, transactions, WebSocket framing) and by
#     examples/client;
#   - examples/client against RabbitMQ's STOMP plugin and against ActiveMQ (Debian packages),
#     plus two ways it must fail cleanly (a closed port, a wrong virtual host);
#   - two chat_broker processes relaying to RabbitMQ (--relay), driven by the `stomp` CLI
#     (interop/relay_check.py) and by two browser pages (chat_browser.mjs --relay);
#   - the `stomp` CLI (stomp-tokio/examples/stomp.rs, release build) against the brokers over every transport
#     (TCP, WebSocket, TLS with a CA made at test time) and through faults: the broker killed
#     with SIGKILL and restarted mid-stream, a network path gone silent (interop/client_faults.py).
# Installs what is missing (apt, PyPI, npm: needs root for apt), starts the brokers on loopback,
# stops everything it started on exit. Prints one line per test (PASS, FAIL, NOT RUN with the
# reason) and ends with "interop: result: N passed, N failed, N not run" (the line
# scripts/test-all.sh reads) and "N passed, N failed[, N skipped]"; exits 1 if a test that ran
# failed.
# A peer that cannot be installed or started is reported as NOT RUN, never as passed.
#
#   ./scripts/interop.sh              # logs of each test in target/interop/
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INTEROP="$ROOT/interop"
LOGS="$ROOT/target/interop"
EXAMPLES="$ROOT/target/debug/examples"
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log
START=$SECONDS
PASSED=0 FAILED=0 SKIPPED=0

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "NOT RUN: $*"; }
note() { echo "interop: $*"; }
# The last two lines of a run: the counts for scripts/test-all.sh's summary (a fixed form, read by
# it), then the same for people.
counts() {
  echo "interop: result: $PASSED passed, $FAILED failed, $SKIPPED not run"
  if [ $SKIPPED -gt 0 ]; then
    echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
  else
    echo "$PASSED passed, $FAILED failed"
  fi
}
slug() { echo "$1" | tr -c 'A-Za-z0-9._-' '_' | sed 's/_*$//'; }
# The last meaningful line of a log, as the reason of a failure.
reason() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -1 | cut -c1-240; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# run_test NAME SECONDS COMMAND...: PASS when the command exits 0 within SECONDS.
run_test() {
  local name="$1" limit="$2" log rc t
  shift 2
  log="$LOGS/$(slug "$name").log"
  t=$SECONDS
  timeout --kill-after=5 "$limit" "$@" >"$log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then
    pass "$name ($((SECONDS - t)) s)"
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    fail "$name: no result within $limit s (log: ${log#"$ROOT"/})"
  else
    fail "$name: exit $rc: $(reason "$log") (log: ${log#"$ROOT"/})"
  fi
}

# expect_failure NAME SECONDS PATTERN COMMAND...: PASS when the command exits 1 within SECONDS
# and its output matches PATTERN (an extended regular expression).
expect_failure() {
  local name="$1" limit="$2" pattern="$3" log rc t
  shift 3
  log="$LOGS/$(slug "$name").log"
  t=$SECONDS
  timeout --kill-after=5 "$limit" "$@" >"$log" 2>&1
  rc=$?
  if [ $rc = 1 ] && grep -Eq "$pattern" "$log"; then
    pass "$name: $(grep -E "$pattern" "$log" | tail -1 | cut -c1-200) ($((SECONDS - t)) s)"
  elif [ $rc = 0 ]; then
    fail "$name: exited 0, expected a failure (log: ${log#"$ROOT"/})"
  else
    fail "$name: exit $rc, output not matching /$pattern/: $(reason "$log") (log: ${log#"$ROOT"/})"
  fi
}

# ---- cleanup: stop what this run started ------------------------------------------------------
BROKER_PID="" INSTALL_PID="" STOP_RABBITMQ=0 STOP_ACTIVEMQ=0
cleanup() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then kill "$BROKER_PID" 2>/dev/null; fi
  if [ -n "$INSTALL_PID" ] && kill -0 "$INSTALL_PID" 2>/dev/null; then kill "$INSTALL_PID" 2>/dev/null; fi
  [ $STOP_RABBITMQ = 1 ] && timeout 40 "$INTEROP/stop-rabbitmq.sh" >>"$LOGS/stop-rabbitmq.log" 2>&1
  [ $STOP_ACTIVEMQ = 1 ] && timeout 30 "$INTEROP/stop-activemq.sh" >>"$LOGS/stop-activemq.log" 2>&1
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. the brokers' packages install in the background while the rest runs -----------------
timeout 240 "$INTEROP/install-brokers.sh" rabbitmq-server activemq >"$LOGS/install-brokers.log" 2>&1 &
INSTALL_PID=$!

# ---- 2. build the examples, install the client libraries --------------------------------------
note "building examples/client, examples/chat_broker and examples/stomp"
if ! (cd "$ROOT" && timeout 900 cargo build --all-features --example client --example chat_broker --example stomp) \
  >"$LOGS/build.log" 2>&1; then
  fail "build of the examples: $(reason "$LOGS/build.log") (log: target/interop/build.log)"
  counts
  exit 1
fi
# clients_ready python|node: installs one kind of client library; NOT RUN line when it cannot.
clients_ready() {
  local log="$LOGS/setup-clients-$1.log"
  timeout 180 "$INTEROP/setup-clients.sh" "$1" >"$log" 2>&1 && return 0
  echo "NOT RUN: $2 could not be installed: $(reason "$log")"
  return 1
}
PY_OK=0 NODE_OK=0
clients_ready python stomp.py && PY_OK=1
clients_ready node @stomp/stompjs && NODE_OK=1

# ---- 3. chat_broker against real clients ------------------------------------------------------
"$EXAMPLES/chat_broker" --tcp 127.0.0.1:0 --ws 127.0.0.1:0 >"$LOGS/chat_broker.log" 2>&1 &
BROKER_PID=$!
TCP_PORT="" WS_URL=""
for _ in $(seq 1 100); do
  TCP_PORT="$(sed -n 's/^chat_broker: STOMP over TCP on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$LOGS/chat_broker.log")"
  WS_URL="$(sed -n 's/^chat_broker: STOMP over WebSocket on \(ws:.*\)$/\1/p' "$LOGS/chat_broker.log")"
  if [ -n "$TCP_PORT" ] && [ -n "$WS_URL" ]; then break; fi
  kill -0 "$BROKER_PID" 2>/dev/null || break
  sleep 0.1
done
CHAT_TESTS=("stomp.py (TCP) vs chat_broker" "@stomp/stompjs (TCP) vs chat_broker"
  "@stomp/stompjs (WebSocket) vs chat_broker" "chat_broker behaviour checks (stomp.py, websocket-client)")
if [ -z "$TCP_PORT" ] || [ -z "$WS_URL" ]; then
  for t in "${CHAT_TESTS[@]}" "client vs chat_broker"; do
    fail "$t: chat_broker did not start: $(reason "$LOGS/chat_broker.log")"
  done
else
  note "chat_broker listening on 127.0.0.1:$TCP_PORT and $WS_URL"
  cd "$INTEROP" || exit 1
  if [ $PY_OK = 1 ]; then
    run_test "${CHAT_TESTS[0]}" 30 .venv/bin/python stomppy_roundtrip.py --port "$TCP_PORT"
  else
    skip "${CHAT_TESTS[0]}: stomp.py could not be installed (above)"
  fi
  if [ $NODE_OK = 1 ]; then
    run_test "${CHAT_TESTS[1]}" 30 node stompjs_roundtrip.mjs --transport tcp --port "$TCP_PORT"
    run_test "${CHAT_TESTS[2]}" 30 node stompjs_roundtrip.mjs --transport ws --url "$WS_URL"
  else
    skip "${CHAT_TESTS[1]}: @stomp/stompjs could not be installed (above)"
    skip "${CHAT_TESTS[2]}: @stomp/stompjs could not be installed (above)"
  fi
  if [ $PY_OK = 1 ]; then
    run_test "${CHAT_TESTS[3]}" 60 .venv/bin/python chat_broker_checks.py --port "$TCP_PORT" --ws-url "$WS_URL"
  else
    skip "${CHAT_TESTS[3]}: stomp.py could not be installed (above)"
  fi
  cd "$ROOT" || exit 1
  run_test "client vs chat_broker" 20 "$EXAMPLES/client" --addr "127.0.0.1:$TCP_PORT"
  kill "$BROKER_PID" 2>/dev/null
  wait "$BROKER_PID" 2>/dev/null
  BROKER_PID=""
fi
CLOSED_PORT="$(free_port)"
expect_failure "client vs a closed port fails cleanly" 20 'FAILED: cannot connect to .*refused' \
  "$EXAMPLES/client" --addr "127.0.0.1:$CLOSED_PORT"

# ---- 3b. the chat page in a real browser ---------------------------------------------------------
# interop/chat_browser.mjs: headless Chromium (Debian's chromium, or $CHROMIUM) driven by
# puppeteer-core; it starts chat_broker itself (the binary built above), kills and restarts it.
# Chromium is installed after the brokers' background install is over (one apt at a time).
BROWSER_TEST="chat page in a real browser (Chromium, puppeteer-core)"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
BROWSER_WHY=""
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # kill -0 does not reap the job: section 4 still gets its exit status.
    for _ in $(seq 1 250); do
      [ -n "$INSTALL_PID" ] && kill -0 "$INSTALL_PID" 2>/dev/null || break
      sleep 1
    done
    if timeout 300 "$INTEROP/install-brokers.sh" chromium >"$LOGS/install-chromium.log" 2>&1; then
      note "$(tail -1 "$LOGS/install-chromium.log")"
    else
      BROWSER_WHY="chromium could not be installed: $(reason "$LOGS/install-chromium.log")"
    fi
  else
    BROWSER_WHY="no Chromium at $CHROMIUM, and only root can install Debian's chromium"
  fi
  [ -z "$BROWSER_WHY" ] && [ ! -x "$CHROMIUM" ] && BROWSER_WHY="chromium installed, but no $CHROMIUM"
fi
if [ -z "$BROWSER_WHY" ] && { [ $NODE_OK = 0 ] || [ ! -f "$INTEROP/node_modules/puppeteer-core/package.json" ]; }; then
  BROWSER_WHY="puppeteer-core could not be installed (npm, above)"
fi
if [ -n "$BROWSER_WHY" ]; then
  skip "$BROWSER_TEST: $BROWSER_WHY"
else
  cd "$INTEROP" || exit 1
  run_test "$BROWSER_TEST" 120 node chat_browser.mjs --broker "$EXAMPLES/chat_broker"
  BROWSER_RESULT="$(sed -n 's/^result: //p' "$LOGS/$(slug "$BROWSER_TEST").log" | tail -1)"
  [ -n "$BROWSER_RESULT" ] && note "chat page in a real browser: $BROWSER_RESULT"
  cd "$ROOT" || exit 1
fi

# ---- 4. the brokers' packages -----------------------------------------------------------------
# (install-brokers.sh runs under `timeout`, so this wait is bounded too.)
wait "$INSTALL_PID" 2>/dev/null
INSTALL_RC=$?
INSTALL_PID=""
[ $INSTALL_RC = 0 ] || note "installing the broker packages together failed ($(reason "$LOGS/install-brokers.log")); each start script retries on its own"

# start_broker NAME SCRIPT: runs a start script; sets STARTED=1 when it started a new broker.
start_broker() {
  local name="$1" script="$2" log
  log="$LOGS/$(slug "start $name").log"
  STARTED=0
  if ! timeout 150 "$script" >"$log" 2>&1; then
    local why
    # The first FAILED line is the root cause (install-brokers.sh's, when the install failed).
    why="$(grep -m1 'FAILED' "$log" | sed 's/^[a-z-]*: FAILED: //' | cut -c1-240)"
    [ -n "$why" ] || why="$(reason "$log")"
    if grep -q 'could not be installed' "$log"; then
      echo "NOT RUN: $name could not be installed: $why"
    else
      echo "NOT RUN: $name could not be started: $why"
    fi
    return 1
  fi
  grep -q 'already running' "$log" || STARTED=1
  note "$(tail -1 "$log")"
}

# ---- 5. examples/client against RabbitMQ ------------------------------------------------------
# Our own ports when RabbitMQ is not running yet: the defaults when free, else any free ones.
source "$INTEROP/rabbitmq-env.sh"
# RabbitMQ also serves STOMP over TLS, for section 7: a throw-away CA and server certificate
# made now (openssl), so that the broker starts with that listener (an already running one is
# restarted with it by start-rabbitmq.sh). Without certificates, only the TLS tests fail.
TLS_OK=0
if timeout 120 "$INTEROP/tls-certs.sh" "$RMQ_TLS_DIR" >"$LOGS/tls-certs.log" 2>&1; then
  TLS_OK=1
  if [ -z "$RMQ_STOMP_TLS_PORT" ]; then
    RMQ_STOMP_TLS_PORT=61614
    port_open "$RMQ_STOMP_TLS_PORT" && RMQ_STOMP_TLS_PORT="$(free_port)"
  fi
  export RMQ_STOMP_TLS_PORT RMQ_TLS_DIR
fi
if ! rmq_pid >/dev/null; then
  for var in RMQ_STOMP_PORT RMQ_WS_PORT RMQ_AMQP_PORT RMQ_DIST_PORT ${RMQ_STOMP_TLS_PORT:+RMQ_STOMP_TLS_PORT}; do
    port_open "${!var}" && export "$var=$(free_port)"
  done
  export RMQ_STOMP_PORT RMQ_WS_PORT RMQ_AMQP_PORT RMQ_DIST_PORT
fi
RMQ_TESTS=("client vs RabbitMQ" "client with a wrong vhost vs RabbitMQ gets ERROR")
RMQ_OK=0 AMQ_OK=0
if start_broker RabbitMQ "$INTEROP/start-rabbitmq.sh"; then
  STOP_RABBITMQ=$STARTED RMQ_OK=1
  run_test "${RMQ_TESTS[0]}" 20 "$EXAMPLES/client" --addr "127.0.0.1:$RMQ_STOMP_PORT" \
    --login guest --passcode guest --host /
  expect_failure "${RMQ_TESTS[1]}" 20 "FAILED: the broker sent ERROR: .*Virtual host" \
    "$EXAMPLES/client" --addr "127.0.0.1:$RMQ_STOMP_PORT" --login guest --passcode guest \
    --host /no-such-vhost
else
  for t in "${RMQ_TESTS[@]}"; do skip "$t: RabbitMQ unavailable (above)"; done
fi

# ---- 5b. chat_broker relaying to RabbitMQ ----------------------------------------------------
# Two chat_broker processes with --relay to this RabbitMQ share their rooms: a `stomp subscribe`
# on A (/topic/room.5) receives, in order, what `stomp send --receipt` on B sends to /topic/room.5
# and then to /app/chat.5, the latter stamped with `sender` by B's handler (relay_check.py order,
# the debug build of examples/stomp). Then alice's page on A and bob's page on B chat through
# RabbitMQ in Chromium (chat_browser.mjs --relay; it also checks that the page keeps the ERROR of
# a third chat_broker, whose relay has nothing to talk to, in its log). And, RabbitMQ or not, a
# chat_broker relaying to a port where nothing listens refuses its client with an ERROR
# (relay_check.py refused: the CLI, --no-reconnect, exits 1, and a plain socket client reads
# CONNECTED, then ERROR message:relay connection lost naming the relay's URL). Every process is
# started, and stopped by PID, by those scripts.
RELAY_TESTS=("chat_broker relay: A's subscriber gets B's room 5 messages in order through RabbitMQ"
  "chat page in a real browser, relay mode (two chat_brokers, RabbitMQ)"
  "chat_broker relay to a closed port: its client gets ERROR")
RELAY_CHECK=(python3 "$INTEROP/relay_check.py")
RELAY_BINS=(--chat-broker "$EXAMPLES/chat_broker" --stomp "$EXAMPLES/stomp")
CLOSED_RELAY_PORT="$(free_port)"
if [ $RMQ_OK = 1 ]; then
  RELAY_ARGS=(--relay "stomp://127.0.0.1:$RMQ_STOMP_PORT" --relay-login guest --relay-passcode guest --relay-host /)
  run_test "${RELAY_TESTS[0]}" 90 "${RELAY_CHECK[@]}" order "${RELAY_BINS[@]}" "${RELAY_ARGS[@]}" \
    --log-dir "$LOGS/relay-order"
  RELAY_RESULT="$(sed -n 's/^result: //p' "$LOGS/$(slug "${RELAY_TESTS[0]}").log" | tail -1)"
  [ -n "$RELAY_RESULT" ] && note "chat_broker relay: $RELAY_RESULT"
  if [ -n "$BROWSER_WHY" ]; then
    skip "${RELAY_TESTS[1]}: $BROWSER_WHY"
  else
    cd "$INTEROP" || exit 1
    run_test "${RELAY_TESTS[1]}" 120 node chat_browser.mjs --broker "$EXAMPLES/chat_broker" "${RELAY_ARGS[@]}" \
      --dead-relay "stomp://127.0.0.1:$CLOSED_RELAY_PORT"
    BROWSER_RESULT="$(sed -n 's/^result: //p' "$LOGS/$(slug "${RELAY_TESTS[1]}").log" | tail -1)"
    [ -n "$BROWSER_RESULT" ] && note "chat page, relay mode: $BROWSER_RESULT"
    cd "$ROOT" || exit 1
  fi
else
  for t in "${RELAY_TESTS[@]:0:2}"; do skip "$t: RabbitMQ unavailable (above)"; done
fi
expect_failure "${RELAY_TESTS[2]}" 30 "^refused: .*ERROR message:relay connection lost \\(cannot reach stomp://127\\.0\\.0\\.1:$CLOSED_RELAY_PORT" \
  "${RELAY_CHECK[@]}" refused "${RELAY_BINS[@]}" --relay "stomp://127.0.0.1:$CLOSED_RELAY_PORT" \
  --log-dir "$LOGS/relay-refused"

# ---- 6. examples/client against ActiveMQ ------------------------------------------------------
AMQ_STATE="$INTEROP/.state/activemq"
if [ -f "$AMQ_STATE/java.pid" ] && kill -0 "$(cat "$AMQ_STATE/java.pid")" 2>/dev/null && [ -f "$AMQ_STATE/port" ]; then
  AMQ_STOMP_PORT="$(cat "$AMQ_STATE/port")"
else
  AMQ_STOMP_PORT=61623
  port_open "$AMQ_STOMP_PORT" && AMQ_STOMP_PORT="$(free_port)"
fi
export AMQ_STOMP_PORT
if start_broker ActiveMQ "$INTEROP/start-activemq.sh"; then
  STOP_ACTIVEMQ=$STARTED AMQ_OK=1
  run_test "client vs ActiveMQ" 20 "$EXAMPLES/client" --addr "127.0.0.1:$AMQ_STOMP_PORT"
else
  skip "client vs ActiveMQ: ActiveMQ unavailable (above)"
fi

# ---- 7. the stomp CLI against real brokers and faults ----------------------------------------
# The release build of stomp-tokio/examples/stomp.rs, driven by interop/client_faults.py: a round trip over
# each transport, a TLS failure without the CA, the broker killed and restarted mid-stream, a
# silent network path. The PASS lines carry the figures (duplicates, reconnect and detection
# times). NOT RUN only when the broker itself is unavailable.
STOMP_BIN="$ROOT/target/release/examples/stomp"
FAULTS=(python3 "$INTEROP/client_faults.py")
RUN_ID="$(date +%s)-$$"
CLI_QUEUE_KINDS=(tcp ws tls silent faults)   # /queue/cli-KIND-RUN_ID on RabbitMQ, deleted at the end
CLI_TLS_URL="stomp+ssl://localhost:${RMQ_STOMP_TLS_PORT:-61614}"
CLI_RMQ_TESTS=("stomp CLI round trip vs RabbitMQ (TCP)" "stomp CLI round trip vs RabbitMQ (Web-STOMP)"
  "stomp CLI round trip vs RabbitMQ (TLS, --ca)" "stomp CLI without --ca vs RabbitMQ TLS fails on the certificate"
  "stomp CLI vs RabbitMQ silent network (heart-beat 1000,1000)"
  "stomp CLI vs RabbitMQ killed (SIGKILL) and restarted mid-stream")
CLI_AMQ_TESTS=("stomp CLI round trip vs ActiveMQ (TCP)")

# run_figures NAME SECONDS COMMAND...: like run_test, for client_faults.py: PASS with its
# "result: ..." line, FAIL with its "FAILED: ..." line.
run_figures() {
  local name="$1" limit="$2" log rc t
  shift 2
  log="$LOGS/$(slug "$name").log"
  t=$SECONDS
  timeout --kill-after=5 "$limit" "$@" --log-dir "$LOGS/$(slug "$name")" >"$log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then
    pass "$name: $(sed -n 's/^result: //p' "$log" | tail -1) ($((SECONDS - t)) s)"
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    fail "$name: no result within $limit s (log: ${log#"$ROOT"/})"
  else
    fail "$name: exit $rc: $(reason "$log") (log: ${log#"$ROOT"/})"
  fi
}
# cli_queue KIND: this run's queue for one test.
cli_queue() { echo "/queue/cli-$1-$RUN_ID"; }

note "building examples/stomp (release)"
if ! (cd "$ROOT" && timeout 900 cargo build --release --example stomp) >"$LOGS/build-stomp.log" 2>&1; then
  for t in "${CLI_RMQ_TESTS[@]}" "${CLI_AMQ_TESTS[@]}"; do
    fail "$t: the build of examples/stomp failed: $(reason "$LOGS/build-stomp.log") (log: target/interop/build-stomp.log)"
  done
else
  if [ $RMQ_OK = 1 ]; then
    run_figures "${CLI_RMQ_TESTS[0]}" 60 "${FAULTS[@]}" roundtrip --stomp "$STOMP_BIN" \
      --url "stomp://127.0.0.1:$RMQ_STOMP_PORT" --dest "$(cli_queue tcp)"
    if ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_web_stomp-* >/dev/null 2>&1; then
      run_figures "${CLI_RMQ_TESTS[1]}" 60 "${FAULTS[@]}" roundtrip --stomp "$STOMP_BIN" \
        --url "ws://127.0.0.1:$RMQ_WS_PORT/ws" --dest "$(cli_queue ws)"
    else
      skip "${CLI_RMQ_TESTS[1]}: this RabbitMQ has no rabbitmq_web_stomp plugin"
    fi
    if [ $TLS_OK = 1 ]; then
      run_figures "${CLI_RMQ_TESTS[2]}" 60 "${FAULTS[@]}" roundtrip --stomp "$STOMP_BIN" \
        --url "$CLI_TLS_URL" --ca "$RMQ_TLS_DIR/ca.pem" --dest "$(cli_queue tls)"
      # Our CA is in no system store: the handshake must fail, once (--no-reconnect), naming it.
      expect_failure "${CLI_RMQ_TESTS[3]}" 30 'cannot connect to stomp\+ssl://.*(certificate|UnknownIssuer)' \
        "$STOMP_BIN" send "$CLI_TLS_URL" "$(cli_queue tls)" --login guest --passcode guest \
        --count 1 --no-reconnect
    else
      for t in "${CLI_RMQ_TESTS[@]:2:2}"; do
        fail "$t: no certificates: $(reason "$LOGS/tls-certs.log") (log: target/interop/tls-certs.log)"
      done
    fi
    # Our own proxy between the subscriber and the broker stops forwarding (SIGSTOP), nothing
    # closed: heart-beats must notice within 1 s + 1 s grace (+ slack), then it reconnects.
    run_figures "${CLI_RMQ_TESTS[4]}" 90 "${FAULTS[@]}" silent --stomp "$STOMP_BIN" \
      --target "127.0.0.1:$RMQ_STOMP_PORT" --dest "$(cli_queue silent)" --max-detection 3.5
    # Last, as it restarts the broker: SIGKILL by its PID (the node start-rabbitmq.sh runs),
    # then the same start script, same data (no --fresh): durable queue, persistent messages.
    run_figures "${CLI_RMQ_TESTS[5]}" 200 "${FAULTS[@]}" crash --stomp "$STOMP_BIN" \
      --url "stomp://127.0.0.1:$RMQ_STOMP_PORT" --dest "$(cli_queue faults)" --count 2000 --rate 400 \
      --broker-pid-file "$RMQ_STATE/rabbit.pid" --restart "$INTEROP/start-rabbitmq.sh" --deadline 170
    # Drop this run's queues (best effort: they are durable and would pile up in the node).
    if rmq_pid >/dev/null; then
      (
        rmq_export_env
        for kind in "${CLI_QUEUE_KINDS[@]}"; do
          timeout 30 "$RMQ_SBIN/rabbitmqctl" -n rabbit@localhost -q delete_queue "cli-$kind-$RUN_ID" >/dev/null 2>&1
        done
      )
    fi
  else
    for t in "${CLI_RMQ_TESTS[@]}"; do skip "$t: RabbitMQ unavailable (above)"; done
  fi
  if [ $AMQ_OK = 1 ]; then
    run_figures "${CLI_AMQ_TESTS[0]}" 60 "${FAULTS[@]}" roundtrip --stomp "$STOMP_BIN" \
      --url "stomp://127.0.0.1:$AMQ_STOMP_PORT" --dest "/queue/cli-tcp-$RUN_ID"
  else
    skip "${CLI_AMQ_TESTS[0]}: ActiveMQ unavailable (above)"
  fi
fi

# ---- summary ----------------------------------------------------------------------------------
cleanup
STOP_RABBITMQ=0 STOP_ACTIVEMQ=0
note "finished in $((SECONDS - START)) s; logs in target/interop/"
counts
[ $FAILED = 0 ]
