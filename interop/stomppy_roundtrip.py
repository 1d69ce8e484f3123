#!/usr/bin/env python3
"""STOMP 1.2 round trip over TCP with the real stomp.py client (PyPI "stomp.py", pinned in
requirements.txt; run it with interop/.venv/bin/python after setup-clients.sh).

Steps: CONNECT (heart-beats on) -> SUBSCRIBE ack:client-individual -> SEND with a receipt ->
RECEIPT -> MESSAGE (same body and headers) -> ACK with a receipt -> RECEIPT -> stay idle so that
heart-beats flow (at least one must arrive) -> DISCONNECT with a receipt -> RECEIPT.
Exits 0 only when every step was confirmed by the broker; otherwise prints FAIL: ... and exits 1.

  .venv/bin/python stomppy_roundtrip.py --port 61613                 # e.g. RabbitMQ
  .venv/bin/python stomppy_roundtrip.py --host 127.0.0.1 --port 40123  # e.g. chat_broker
"""

import argparse
import importlib.metadata
import os
import sys
import threading
import time

import stomp

# A header value with the three characters STOMP 1.2 escapes in headers (and a colon).
ESCAPE_PROBE = "colon:back\\slash\nnewline"


class Recorder(stomp.ConnectionListener):
    """Collects what the broker sent, for the main thread to wait on."""

    def __init__(self):
        self.cond = threading.Condition()
        self.connected = None
        self.messages = []
        self.receipts = set()
        self.errors = []
        self.heartbeats_in = 0
        self.disconnected = False

    def _add(self, fn):
        with self.cond:
            fn()
            self.cond.notify_all()

    def on_connected(self, frame):
        self._add(lambda: setattr(self, "connected", frame))

    def on_message(self, frame):
        self._add(lambda: self.messages.append(frame))

    def on_receipt(self, frame):
        self._add(lambda: self.receipts.add(frame.headers.get("receipt-id")))

    def on_error(self, frame):
        self._add(lambda: self.errors.append(frame))

    def on_heartbeat(self):
        self._add(lambda: setattr(self, "heartbeats_in", self.heartbeats_in + 1))

    def on_disconnected(self):
        self._add(lambda: setattr(self, "disconnected", True))

    def wait(self, pred, timeout, what):
        with self.cond:
            ok = self.cond.wait_for(lambda: pred() or self.errors or self.disconnected, timeout)
            if pred():
                return
            if self.errors:
                e = self.errors[0]
                fail(f"ERROR frame while waiting for {what}: {e.headers} {e.body!r}")
            if not ok:
                fail(f"timed out after {timeout} s waiting for {what}")
            fail(f"the connection closed while waiting for {what}")


def fail(why):
    raise SystemExit(f"FAIL: {why}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="broker address (loopback)")
    ap.add_argument("--port", type=int, default=61613)
    ap.add_argument("--vhost", default="/", help="CONNECT host header (RabbitMQ: the virtual host)")
    ap.add_argument("--login", default="guest")
    ap.add_argument("--passcode", default="guest")
    ap.add_argument("--destination", default="/queue/stomp-codec-interop")
    ap.add_argument("--heart-beat", type=int, default=1000, help="ms, offered both ways")
    ap.add_argument("--idle", type=float, default=2.5, help="seconds idle before DISCONNECT")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per step")
    a = ap.parse_args()

    t0 = time.monotonic()
    lap = lambda: f"{(time.monotonic() - t0) * 1000:7.1f} ms"
    rec = Recorder()
    conn = stomp.Connection12(
        [(a.host, a.port)],
        heartbeats=(a.heart_beat, a.heart_beat),
        vhost=a.vhost,
        reconnect_attempts_max=1,
        auto_content_length=True,
        timeout=a.timeout,
    )
    conn.set_listener("rec", rec)
    try:
        conn.connect(a.login, a.passcode, wait=False)
    except stomp.exception.ConnectFailedException:
        fail(f"cannot connect to {a.host}:{a.port}")
    rec.wait(lambda: rec.connected is not None, a.timeout, "CONNECTED")
    h = rec.connected.headers
    print(f"{lap()}  CONNECTED version={h.get('version')} server={h.get('server')} "
          f"session={h.get('session')} heart-beat={h.get('heart-beat')}")
    if h.get("version") != "1.2":
        fail(f"expected version 1.2, got {h.get('version')}")
    try:
        sx, sy = (int(x) for x in h.get("heart-beat", "0,0").split(","))
    except ValueError:
        fail(f"bad heart-beat header {h.get('heart-beat')!r}")
    if sx == 0 or sy == 0:
        fail(f"the broker refused heart-beats: heart-beat:{sx},{sy}")

    run = f"{os.getpid()}-{time.time_ns()}"
    conn.subscribe(a.destination, id="sub-0", ack="client-individual", headers={"receipt": "sub-1"})
    rec.wait(lambda: "sub-1" in rec.receipts, a.timeout, "RECEIPT sub-1 (SUBSCRIBE)")
    print(f"{lap()}  SUBSCRIBE confirmed by RECEIPT sub-1")

    body = "hello from stomp.py: caf\u00e9 \u2713"
    conn.send(
        a.destination,
        body,
        content_type="text/plain;charset=utf-8",
        headers={"receipt": "send-1", "x-interop-escape": ESCAPE_PROBE, "x-interop-run": run},
    )
    rec.wait(lambda: "send-1" in rec.receipts, a.timeout, "RECEIPT send-1 (SEND)")
    print(f"{lap()}  SEND confirmed by RECEIPT send-1")

    def ours():
        return next((m for m in rec.messages if m.headers.get("x-interop-run") == run), None)

    rec.wait(lambda: ours() is not None, a.timeout, "the MESSAGE")
    m = ours()
    print(f"{lap()}  MESSAGE destination={m.headers.get('destination')} message-id={m.headers.get('message-id')} "
          f"ack={m.headers.get('ack')} body={m.body!r}")
    if m.body != body:
        fail(f"body changed on the way: {m.body!r}")
    if m.headers.get("x-interop-escape") != ESCAPE_PROBE:
        fail(f"header x-interop-escape changed on the way: {m.headers.get('x-interop-escape')!r}")
    if "ack" not in m.headers:
        fail("a STOMP 1.2 MESSAGE of a client-individual subscription must carry an ack header")

    conn.ack(m.headers["ack"], receipt="ack-1")
    rec.wait(lambda: "ack-1" in rec.receipts, a.timeout, "RECEIPT ack-1 (ACK)")
    print(f"{lap()}  ACK id={m.headers['ack']} confirmed by RECEIPT ack-1")

    before = rec.heartbeats_in
    time.sleep(a.idle)
    if rec.errors or rec.disconnected:
        fail("the connection ended while idle")
    got = rec.heartbeats_in - before
    print(f"{lap()}  idle {a.idle} s: {got} heart-beat(s) received from the broker")
    if got < 1:
        fail(f"no heart-beat from the broker in {a.idle} s of silence")

    conn.disconnect(receipt="disconnect-1")
    rec.wait(lambda: "disconnect-1" in rec.receipts, a.timeout, "RECEIPT disconnect-1 (DISCONNECT)")
    print(f"{lap()}  DISCONNECT confirmed by RECEIPT disconnect-1")
    print(f"OK stomp.py {importlib.metadata.version('stomp.py')} round trip with {h.get('server')} "
          f"in {(time.monotonic() - t0) * 1000:.0f} ms (includes {a.idle} s idle)")


if __name__ == "__main__":
    try:
        main()
    except SystemExit as e:
        if e.code not in (None, 0):
            print(e.code, file=sys.stderr)
            sys.exit(1)
