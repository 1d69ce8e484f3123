#!/usr/bin/env python3
"""chat_broker --relay against a real external broker (RabbitMQ), driven with the `stomp` CLI.

Standard library only (plus client_faults.py beside it); loopback only; every wait is bounded;
it kills only the processes it started itself, by their PID.

    relay_check.py order --chat-broker BIN --stomp BIN --relay URL [--relay-login L]
                         [--relay-passcode P] [--relay-host VHOST] [--log-dir DIR]
        two chat_broker processes A and B relaying to URL. A `stomp subscribe` on A
        (/topic/room.5, --count 4) must receive, in this order, what `stomp send` on B sends
        first to /topic/room.5 ("direct 0", "direct 1", straight through B's relay connection
        for that client) and then to /app/chat.5 ("app 0", "app 1", through B's room handler,
        which stamps `sender` and `time`, and B's system connection).
    relay_check.py refused --chat-broker BIN --stomp BIN [--relay URL] [--log-dir DIR]
        one chat_broker relaying to URL where nothing listens (default stomp://127.0.0.1:1): a
        `stomp send --receipt --no-reconnect` to it must fail (exit 1), and a plain STOMP client
        (a socket here) must read the ERROR that says why: CONNECTED, then ERROR with
        message:relay connection lost and a body naming URL. Prints the CLI's output and a line
        "refused: ..." with that ERROR; exits 1 when both held (what scripts/interop.sh's
        expect_failure wants), 0 when the CLI succeeded, 2 otherwise. The CLI's one-line reason
        must name the ERROR's message too; the socket checks the whole frame (its body names
        the URL).

Topic messages go only to subscriptions that exist when they are published, so `order` waits
until RabbitMQ shows the subscriber's binding (amq.topic, routing key room.5) before sending:
`rabbitmqctl list_bindings` with the environment of rabbitmq-env.sh (RABBITMQ_INTEROP_STATE);
without a usable rabbitmqctl it waits 2 s instead and says so.

One line per step, then "result: ..." (exit 0) or "FAILED: ..." (exit 1); exit 2 when
something around the test (chat_broker, the CLI) could not even start. Each process's output
goes to LOGDIR with its time since the start.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in interop/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client_faults import Cli, Failed, bodies, say  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOM_TOPIC = "/topic/room.5"
ROOM_APP = "/app/chat.5"


class Broken(Exception):
    """Something around the test could not start (exit 2, not a verdict on the relay)."""


def relay_args(a):
    args = ["--relay", a.relay]
    if a.relay_login is not None:
        args += ["--relay-login", a.relay_login]
    if a.relay_passcode is not None:
        args += ["--relay-passcode", a.relay_passcode]
    if a.relay_host is not None:
        args += ["--relay-host", a.relay_host]
    return args


class ChatBroker:
    """One chat_broker process on free ports (port 0), its output collected by a Cli reader."""

    def __init__(self, name, a, t0):
        argv = [a.chat_broker, "--tcp", "127.0.0.1:0", "--ws", "127.0.0.1:0", *relay_args(a)]
        self.name = name
        self.cli = Cli(f"chat_broker-{name}", argv, a.log_dir, t0)
        rx = re.compile(r"^chat_broker: STOMP over TCP on 127\.0\.0\.1:(\d+)$")
        found = self.cli.wait_for(
            lambda: next((m for _, l in self.cli.out if (m := rx.match(l))), None) or self.cli.exited(), 10)
        if not isinstance(found, re.Match):
            self.stop()
            raise Broken(f"chat_broker {name} did not start: {self.last()}")
        self.port = int(found.group(1))
        self.url = f"stomp://127.0.0.1:{self.port}"
        self.pid = self.cli.proc.pid

    def last(self):
        lines = [l for _, l in self.cli.out + self.cli.err if l.strip()]
        return lines[-1] if lines else "(no output)"

    def lines(self):
        return [l for _, l in sorted(self.cli.out + self.cli.err)]

    def stop(self):
        """SIGINT (its ctrl-c: an orderly shutdown), SIGKILL after 5 s; returns how it ended."""
        proc = self.cli.proc
        how = "already exited"
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=5)
                how = f"exit {proc.returncode} after SIGINT"
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
                how = "SIGKILL: no exit within 5 s of SIGINT"
        self.cli.stop()
        return how


# ---- RabbitMQ's view: the queues bound to amq.topic with routing key room.5 ----------------------


def room_bindings(a):
    """The set of queues bound to amq.topic with key room.5, or None without rabbitmqctl."""
    if a.rabbitmqctl == "none":
        return None
    script = ('source "$1" && rmq_export_env && exec timeout 20 "$RMQ_SBIN/rabbitmqctl" -n rabbit@localhost '
              '-q list_bindings -p / source_name routing_key destination_name destination_kind')
    try:
        done = subprocess.run(["bash", "-c", script, "_", os.path.join(HERE, "rabbitmq-env.sh")],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    queues = set()
    for line in done.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0] == "amq.topic" and parts[1] == "room.5":
            queues.add(parts[2])
    return queues


# ---- order ---------------------------------------------------------------------------------------


def order(a):
    t0 = time.monotonic()
    brokers, clis = [], []
    try:
        A = ChatBroker("A", a, t0)
        brokers.append(A)
        B = ChatBroker("B", a, t0)
        brokers.append(B)
        say(f"chat_broker A pid {A.pid} on {A.url}, B pid {B.pid} on {B.url}, both relaying to {a.relay} "
            f"({time.monotonic() - t0:.1f} s)")
        t = time.monotonic()
        before = room_bindings(a)
        # The subscriber on A: no reconnect, so that a lost relay shows as a failure here.
        sub = Cli("subscribe-A", [a.stomp, "subscribe", A.url, ROOM_TOPIC, "--login", "alice", "--passcode", "x",
                                  "--count", "4", "--timeout", "30", "--no-reconnect"], a.log_dir, t0)
        clis.append(sub)
        if not sub.wait_for(lambda: any(l.startswith("stomp: connected to") for _, l in sub.err) or sub.exited(), 10) \
                or sub.exited():
            raise Failed(f"the subscriber on A did not connect: {sub.last_err()}")
        if before is None:
            time.sleep(2)
            ready = "rabbitmqctl unavailable: waited 2 s for the subscription"
        else:
            deadline = time.monotonic() + 30
            while True:
                now = room_bindings(a)
                new = (now or set()) - before
                if new:
                    ready = f"RabbitMQ shows its binding amq.topic -> {sorted(new)[0]} (room.5)"
                    break
                if sub.exited():
                    raise Failed(f"the subscriber on A exited before its subscription reached RabbitMQ: "
                                 f"{sub.last_err()}")
                if time.monotonic() > deadline:
                    raise Failed("no new amq.topic binding with key room.5 in RabbitMQ within 30 s of the "
                                 f"subscriber connecting to A (bindings: {sorted(now or [])})")
                time.sleep(0.2)
        say(f"subscriber on A connected; {ready} ({time.monotonic() - t:.1f} s)")

        sent_at = {}
        for dest, template in ((ROOM_TOPIC, "direct {seq}"), (ROOM_APP, "app {seq}")):
            t = time.monotonic()
            name = "send-B-" + dest.strip("/").replace("/", "-")
            send = Cli(name, [a.stomp, "send", B.url, dest, "--login", "bob", "--passcode", "x", "--count", "2",
                              "--body", template, "--receipt", "--no-reconnect"], a.log_dir, t0)
            clis.append(send)
            rc = send.finish(20)
            send.stop()
            if rc != 0:
                raise Failed(f"stomp send to {dest} on B exited {rc}: {send.last_err()}")
            sent_at[dest] = time.monotonic()
            say(f"sent 2 messages to {dest} on B, each confirmed by a RECEIPT ({time.monotonic() - t:.2f} s)")

        rc = sub.finish(35)
        if rc != 0:
            got = [m.get("body") for m in sub.messages]
            raise Failed(f"the subscriber on A exited {rc} having received {got}: {sub.last_err()}")
        t_last = sub.out[-1][0] if sub.out else time.monotonic()
        got = bodies(sub)
        want = ["direct 0", "direct 1", "app 0", "app 1"]
        if [m.get("body") for m in got] != want:
            raise Failed(f"the subscriber on A received {[m.get('body') for m in got]}, expected {want} in this order")
        for m in got:
            headers = dict((n, v) for n, v in reversed(m.get("headers", [])))  # the first occurrence wins
            if m.get("destination") != ROOM_TOPIC:
                raise Failed(f"{m.get('body')!r} came with destination {m.get('destination')!r}")
            if m.get("body").startswith("app"):
                if headers.get("sender") != "bob":
                    raise Failed(f"{m.get('body')!r} has sender {headers.get('sender')!r}, expected 'bob' (B's handler)")
                if not re.fullmatch(r"\d\d:\d\d:\d\d", headers.get("time", "")):
                    raise Failed(f"{m.get('body')!r} has time {headers.get('time')!r}, expected HH:MM:SS")
            elif "sender" in headers:
                raise Failed(f"{m.get('body')!r} (straight to the topic) has a sender header {headers['sender']!r}")
        say(f"subscriber on A received {', '.join(want)} in order, the app ones with sender:bob and a time; "
            f"the last one {1000 * max(0.0, t_last - sent_at[ROOM_APP]):.0f} ms after its send returned")
        for b in brokers:
            bad = [l for l in b.lines() if re.search(r"ERROR|panick|relay connection lost|dropped", l)]
            if bad:
                raise Failed(f"chat_broker {b.name} logged: {bad[0]}")
        return (f"A's subscriber got direct 0, direct 1, app 0, app 1 from B through RabbitMQ, in order "
                f"({time.monotonic() - t0:.1f} s)")
    finally:
        for c in clis:
            c.stop()
        for b in brokers:
            how = b.stop()
            say(f"chat_broker {b.name} pid {b.pid} stopped: {how}")


# ---- refused -------------------------------------------------------------------------------------


def raw_error(port, deadline=5.0):
    """CONNECTs to 127.0.0.1:port over a plain socket, reads until the server closes (at most
    deadline s); returns [(command, headers, body)] of the frames read."""
    import socket

    frames, buf = [], b""
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as s:
        s.sendall(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:dave\npasscode:x\nheart-beat:0,0\n\n\0")
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
    for raw in buf.split(b"\0"):
        raw = raw.lstrip(b"\r\n")
        if not raw:
            continue
        head, _, body = raw.partition(b"\n\n")
        lines = head.decode("utf-8", "replace").split("\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name, value)
        frames.append((lines[0], headers, body.decode("utf-8", "replace")))
    return frames


def refused(a):
    """1 when the CLI failed and the ERROR was read, 0 when the CLI succeeded; prints both."""
    t0 = time.monotonic()
    C = ChatBroker("C", a, t0)
    send = None
    try:
        say(f"chat_broker C pid {C.pid} on {C.url}, relaying to {a.relay}")
        send = Cli("send-C", [a.stomp, "send", C.url, ROOM_TOPIC, "--login", "carol", "--passcode", "x", "--count", "1",
                              "--body", "into the void", "--receipt", "--no-reconnect"], a.log_dir, t0)
        rc = send.finish(20)
        if rc is None:
            raise Failed(f"stomp send to C did not exit within 20 s: {send.last_err()}")
        for _, line in send.err:
            say(line)
        say(f"stomp send exited {rc} after {time.monotonic() - t0:.2f} s")
        if rc == 0:
            return 0
        if rc != 1:
            raise Failed(f"stomp send exited {rc}, expected 1: {send.last_err()}")
        # Its one-line reason names the ERROR (Client::last_failure), however soon it came.
        if "relay connection lost" not in send.last_err():
            raise Failed(f"stomp send's reason does not name the ERROR: {send.last_err()}")
        t = time.monotonic()
        frames = raw_error(C.port)
        got = [f[0] for f in frames]
        errors = [f for f in frames if f[0] == "ERROR"]
        if not errors:
            raise Failed(f"a plain STOMP client of C read {got}, no ERROR")
        _, headers, body = errors[0]
        message = headers.get("message")
        if message != "relay connection lost" or a.relay not in body:
            raise Failed(f"ERROR message:{message!r} body {body!r}: expected message:relay connection lost "
                         f"and a body naming {a.relay}")
        say(f"refused: a plain STOMP client of C read {' then '.join(got)} in {1000 * (time.monotonic() - t):.0f} ms: "
            f"ERROR message:{message} ({body.strip()})")
        return 1
    finally:
        if send:
            send.stop()
        how = C.stop()
        say(f"chat_broker C pid {C.pid} stopped: {how}")
        for line in C.lines():
            say(f"  chat_broker C: {line}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--chat-broker", required=True)
    common.add_argument("--stomp", required=True)
    common.add_argument("--relay-login")
    common.add_argument("--relay-passcode")
    common.add_argument("--relay-host")
    common.add_argument("--log-dir", default="relay-check-logs")
    o = sub.add_parser("order", parents=[common])
    o.add_argument("--relay", required=True)
    o.add_argument("--rabbitmqctl", choices=["auto", "none"], default="auto")
    r = sub.add_parser("refused", parents=[common])
    r.add_argument("--relay", default="stomp://127.0.0.1:1")
    a = p.parse_args()
    os.makedirs(a.log_dir, exist_ok=True)
    for path in (a.chat_broker, a.stomp):
        if not os.access(path, os.X_OK):
            print(f"FAILED: no executable {path}", flush=True)
            return 2
    try:
        if a.command == "order":
            say(f"result: {order(a)}")
            return 0
        return refused(a)
    except Failed as e:
        say(f"FAILED: {e}")
        # For `refused`, exit 1 means the CLI's own failure (what expect_failure wants).
        return 1 if a.command == "order" else 2
    except Broken as e:
        say(f"FAILED: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
