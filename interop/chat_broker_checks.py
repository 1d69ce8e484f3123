#!/usr/bin/env python3
"""Checks of what examples/chat_broker.rs promises (stomp-tokio/examples/chat_broker.rs), driven by the real stomp.py client over TCP:
topic fan-out, queue round-robin and backlog, transactions (COMMIT applies, ABORT discards,
all or nothing), ACK modes (client = cumulative, client-individual), NACK drops, redelivery of
unacknowledged queue messages after a disconnect, ACK/NACK inside transactions (also across an
UNSUBSCRIBE), ERROR with receipt-id and a short message for a bad ACK, a STOMP 1.1 session; with
raw sockets: a RECEIPT for a frame followed by DISCONNECT in the same packet, the CONNECT
deadline, and the broker's limits (queue backlog by count and bytes, destinations, unacknowledged
messages, transaction size); and (with --ws-url) the WebSocket transport: subprotocol choice,
STOMP frames split across and packed into WebSocket messages, close status 1002 after a protocol
error. Each check uses destinations of its own.

  .venv/bin/python chat_broker_checks.py --port 40123 --ws-url ws://127.0.0.1:40124/ws

Prints one line per check and exits 0 only when all pass.
"""

import argparse
import os
import socket
import sys
import threading
import time

import stomp
import websocket  # websocket-client, a dependency of stomp.py (pinned in requirements.txt)

TIMEOUT = 5.0  # seconds to wait for something that must arrive
QUIET = 0.3  # seconds of silence that show that something did not arrive


class Failed(Exception):
    pass


class Client(stomp.ConnectionListener):
    """One stomp.py connection and what it received."""

    def __init__(self, port, version="1.2"):
        self.cond = threading.Condition()
        self.messages, self.receipts, self.errors = [], set(), []
        self.next_receipt = 0
        cls = {"1.1": stomp.Connection11, "1.2": stomp.Connection12}[version]
        self.conn = cls([("127.0.0.1", port)], heartbeats=(0, 0), reconnect_attempts_max=1)
        self.conn.set_listener("c", self)
        self.conn.connect("guest", "guest", wait=True)

    def _add(self, fn):
        with self.cond:
            fn()
            self.cond.notify_all()

    def on_message(self, frame):
        self._add(lambda: self.messages.append(frame))

    def on_receipt(self, frame):
        self._add(lambda: self.receipts.add(frame.headers["receipt-id"]))

    def on_error(self, frame):
        self._add(lambda: self.errors.append(frame))

    def _wait(self, pred, what, timeout=TIMEOUT):
        with self.cond:
            if not self.cond.wait_for(lambda: pred() or self.errors, timeout) or not pred():
                raise Failed(f"waiting for {what}: " + (f"ERROR {self.errors[0].headers}" if self.errors else "timed out"))

    def confirmed(self, what, send):
        """Sends a frame with a receipt (`send` gets the receipt id) and waits for the RECEIPT."""
        self.next_receipt += 1
        receipt = f"r-{self.next_receipt}"
        send(receipt)
        self._wait(lambda: receipt in self.receipts, f"RECEIPT {receipt} for {what}")

    def subscribe(self, dest, sub_id, ack="auto"):
        self.confirmed("SUBSCRIBE", lambda r: self.conn.subscribe(dest, sub_id, ack, headers={"receipt": r}))

    def send(self, dest, body, transaction=None):
        extra = {"transaction": transaction} if transaction else {}
        self.confirmed("SEND", lambda r: self.conn.send(dest, body, headers={"receipt": r, **extra}))

    def received(self, n, what):
        """Waits until n messages have arrived (and a little longer), then returns them all."""
        self._wait(lambda: len(self.messages) >= n, f"{n} message(s) of {what}")
        time.sleep(QUIET)
        return self.messages

    def ack(self, msg, transaction=None):
        self.confirmed("ACK", lambda r: self.conn.ack(msg.headers["ack"], transaction=transaction, receipt=r))

    def nack(self, msg, transaction=None):
        self.confirmed("NACK", lambda r: self.conn.nack(msg.headers["ack"], transaction=transaction, receipt=r))

    def begin(self, tx):
        self.confirmed("BEGIN", lambda r: self.conn.begin(tx, headers={"receipt": r}))

    def commit(self, tx):
        self.confirmed("COMMIT", lambda r: self.conn.commit(tx, headers={"receipt": r}))

    def abort(self, tx):
        self.confirmed("ABORT", lambda r: self.conn.abort(tx, headers={"receipt": r}))

    def disconnect(self):
        self.next_receipt += 1
        receipt = f"r-{self.next_receipt}"
        self.conn.disconnect(receipt=receipt)
        self._wait(lambda: receipt in self.receipts, "RECEIPT for DISCONNECT")


def expect(cond, why):
    if not cond:
        raise Failed(why)


class Raw:
    """A TCP connection speaking raw STOMP bytes, to control what goes into one packet."""

    CONNECT = b"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0"

    def __init__(self, port, connect=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.received = b""
        self.closed = False
        if connect:
            self.send(self.CONNECT)
            self.until(lambda: self.count(b"CONNECTED\n") == 1, "CONNECTED")

    def send(self, data):
        self.sock.sendall(data)

    def count(self, start):
        """How many received frames begin with `start` (e.g. b"MESSAGE\n")."""
        return sum(1 for f in self.frames() if f.startswith(start))

    def frames(self):
        """The frames received so far (bodies here never contain NUL), EOLs between them dropped."""
        return [f.lstrip(b"\r\n") for f in self.received.split(b"\0")[:-1]]

    def until(self, done, what, timeout=TIMEOUT):
        """Reads until done() holds; fails on timeout, or at EOF if done() still does not hold."""
        deadline = time.monotonic() + timeout
        while not done():
            if self.closed:
                raise Failed(f"connection closed while waiting for {what}; frames {self.frames()[-3:]!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"timed out waiting for {what}; frames {self.frames()[-3:]!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
            self.received += data

    def until_closed(self, what, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"the broker did not close the connection ({what}); frames {self.frames()[-3:]!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
            self.received += data

    def settle(self):
        """Reads whatever else arrives until QUIET passes without data."""
        while not self.closed:
            self.sock.settimeout(QUIET)
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                return
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
            self.received += data

    def disconnect(self):
        self.send(b"DISCONNECT\nreceipt:bye\n\n\0")
        self.until(lambda: b"receipt-id:bye" in self.received, "the RECEIPT for DISCONNECT")
        self.close()

    def error(self):
        """The first ERROR frame received, as (headers dict, body)."""
        for f in self.frames():
            if f.startswith(b"ERROR\n"):
                head, _, body = f.partition(b"\n\n")
                headers = dict(line.split(b":", 1) for line in head.split(b"\n")[1:] if b":" in line)
                return headers, body
        return None

    def close(self):
        self.sock.close()


def bodies(messages):
    return [m.body for m in messages]


def check_topic_fanout(port, run):
    a, b, c = Client(port), Client(port), Client(port)
    room = f"/topic/room-{run}"
    a.subscribe(room, "s")
    b.subscribe(room, "s")
    c.send(room, "hello room")
    expect(bodies(a.received(1, room)) == ["hello room"], f"A got {bodies(a.messages)}")
    expect(bodies(b.received(1, room)) == ["hello room"], f"B got {bodies(b.messages)}")
    expect(c.messages == [], "the sender, not subscribed, got a copy")
    for x in (a, b, c):
        x.disconnect()


def check_queue_round_robin(port, run):
    a, b, c = Client(port), Client(port), Client(port)
    queue = f"/queue/rr-{run}"
    a.subscribe(queue, "s")
    b.subscribe(queue, "s")
    for i in range(4):
        c.send(queue, f"m{i}")
    deadline = time.monotonic() + TIMEOUT
    while len(a.messages) + len(b.messages) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(QUIET)
    expect(len(a.messages) == 2 and len(b.messages) == 2, f"A got {bodies(a.messages)}, B got {bodies(b.messages)}")
    expect(sorted(bodies(a.messages) + bodies(b.messages)) == ["m0", "m1", "m2", "m3"], "messages lost or duplicated")
    for x in (a, b, c):
        x.disconnect()


def check_queue_backlog(port, run):
    a, c = Client(port), Client(port)
    queue = f"/queue/backlog-{run}"
    c.send(queue, "first")
    c.send(queue, "second")
    a.subscribe(queue, "s")
    expect(bodies(a.received(2, queue)) == ["first", "second"], f"got {bodies(a.messages)}")
    a.disconnect()
    c.disconnect()


def check_transactions(port, run):
    a, c = Client(port), Client(port)
    queue = f"/queue/tx-{run}"
    a.subscribe(queue, "s")
    c.begin("t1")
    c.send(queue, "in t1 (1)", transaction="t1")
    c.send(queue, "in t1 (2)", transaction="t1")
    time.sleep(QUIET)
    expect(a.messages == [], "a SEND inside a transaction was delivered before COMMIT")
    c.commit("t1")
    expect(bodies(a.received(2, queue)) == ["in t1 (1)", "in t1 (2)"], f"after COMMIT got {bodies(a.messages)}")
    c.begin("t2")
    c.send(queue, "in t2", transaction="t2")
    c.abort("t2")
    time.sleep(QUIET)
    expect(len(a.messages) == 2, f"an aborted SEND was delivered: {bodies(a.messages)}")
    c.begin("t3")
    c.send(queue, "in t3", transaction="t3")
    c.disconnect()  # t3 is never committed: discarded
    time.sleep(QUIET)
    expect(len(a.messages) == 2, f"a SEND of a transaction left open at DISCONNECT was delivered: {bodies(a.messages)}")
    a.disconnect()


def check_client_ack_is_cumulative(port, run):
    a, b, c = Client(port), Client(port), Client(port)
    queue = f"/queue/cumulative-{run}"
    a.subscribe(queue, "s", ack="client")
    for i in range(3):
        c.send(queue, f"m{i}")
    got = a.received(3, queue)
    a.ack(got[1])  # covers m0 and m1
    a.disconnect()  # m2 is not acknowledged: back to the queue
    b.subscribe(queue, "s")
    again = b.received(1, queue)
    expect(bodies(again) == ["m2"], f"redelivered {bodies(again)}, expected only m2")
    expect(again[0].headers.get("redelivered") == "true", "a redelivered message lacks redelivered:true")
    b.disconnect()
    c.disconnect()


def check_client_individual_ack_and_nack(port, run):
    a, b, c = Client(port), Client(port), Client(port)
    queue = f"/queue/individual-{run}"
    a.subscribe(queue, "s", ack="client-individual")
    for i in range(4):
        c.send(queue, f"m{i}")
    got = a.received(4, queue)
    a.ack(got[2])  # only m2
    a.nack(got[0])  # m0 is dropped
    a.disconnect()  # m1 and m3 go back to the queue
    b.subscribe(queue, "s")
    again = b.received(2, queue)
    expect(bodies(again) == ["m1", "m3"], f"redelivered {bodies(again)}, expected m1 and m3")
    b.disconnect()
    c.disconnect()


def check_acks_in_transactions(port, run):
    a, b, c = Client(port), Client(port), Client(port)
    queue = f"/queue/txack-{run}"
    a.subscribe(queue, "s", ack="client-individual")
    c.send(queue, "kept by COMMIT")
    c.send(queue, "back after ABORT")
    got = a.received(2, queue)
    a.begin("ok")
    a.ack(got[0], transaction="ok")
    a.commit("ok")
    a.begin("no")
    a.ack(got[1], transaction="no")
    a.abort("no")
    a.disconnect()
    b.subscribe(queue, "s")
    again = b.received(1, queue)
    expect(bodies(again) == ["back after ABORT"], f"redelivered {bodies(again)}")
    b.disconnect()
    c.disconnect()


def check_unacked_topic_messages_are_dropped(port, run):
    a, b, c = Client(port), Client(port), Client(port)
    room = f"/topic/unacked-{run}"
    a.subscribe(room, "s", ack="client-individual")
    c.send(room, "never acked")
    a.received(1, room)
    a.disconnect()
    b.subscribe(room, "s")
    time.sleep(QUIET)
    expect(b.messages == [], f"a topic message was redelivered: {bodies(b.messages)}")
    b.disconnect()
    c.disconnect()


def check_bad_ack_gets_error_with_receipt_id(port, run):
    a = Client(port)
    a.conn.ack("no-such-message", receipt="bad-ack")
    a._wait(lambda: a.errors, "ERROR for an ACK of an unknown message")
    e = a.errors[0]
    expect(e.headers.get("receipt-id") == "bad-ack", f"ERROR without receipt-id:bad-ack: {e.headers}")
    # a short description in `message`, the details in the body.
    message = e.headers.get("message", "")
    expect(0 < len(message) <= 40 and "no-such-message" not in message, f"ERROR message header {message!r}")
    expect("no-such-message" in (e.body or ""), f"ERROR body without the details: {e.body!r}")


def check_receipt_before_disconnect_in_one_packet(port, run):
    # SEND with a receipt and DISCONNECT without one in the same packet: the broker processes
    # the SEND, confirms it, then closes.
    c = Raw(port)
    c.send(b"SEND\ndestination:/topic/rd-" + run.encode() + b"\nreceipt:r1\n\nhi\0DISCONNECT\n\n\0")
    c.until_closed("after DISCONNECT")
    expect(c.count(b"RECEIPT\n") == 1 and b"receipt-id:r1" in c.received, f"got {c.frames()}")
    c.close()


def check_commit_is_all_or_nothing(port, run):
    # An ACK of an unknown message inside a transaction is refused when it arrives: the SENDs
    # held before it are never published, the ones after it never held, COMMIT never applied.
    queue = f"/queue/atomic-{run}".encode()
    a = Client(port)
    a.subscribe(queue.decode(), "s")
    c = Raw(port)
    c.send(b"BEGIN\ntransaction:t\n\n\0SEND\ndestination:" + queue + b"\ntransaction:t\n\nA\0"
           b"ACK\nid:bogus\ntransaction:t\nreceipt:bad\n\n\0SEND\ndestination:" + queue
           + b"\ntransaction:t\n\nB\0COMMIT\ntransaction:t\nreceipt:c\n\n\0")
    c.until_closed("after the ERROR")
    headers, _ = c.error() or ({}, b"")
    expect(headers.get(b"receipt-id") == b"bad", f"expected an ERROR about the ACK: {c.frames()}")
    expect(c.count(b"RECEIPT\n") == 0, f"the COMMIT was confirmed: {c.frames()}")
    time.sleep(QUIET)
    expect(a.messages == [], f"part of a refused transaction was published: {bodies(a.messages)}")
    a.disconnect()
    c.close()


def check_acks_in_transactions_survive_unsubscribe(port, run):
    # Messages acknowledged in an open transaction stay reserved by it when their subscription
    # ends: COMMIT consumes them, ABORT gives them back to the queue (redelivered).
    a, b, c = Client(port), Client(port), Client(port)
    queue = f"/queue/txunsub-{run}"
    a.subscribe(queue, "s", ack="client-individual")
    c.send(queue, "consumed by COMMIT")
    c.send(queue, "back after ABORT")
    got = a.received(2, queue)
    b.subscribe(queue, "s")
    a.begin("t1")
    a.ack(got[0], transaction="t1")
    a.begin("t2")
    a.ack(got[1], transaction="t2")
    a.confirmed("UNSUBSCRIBE", lambda r: a.conn.unsubscribe("s", headers={"receipt": r}))
    a.commit("t1")
    a.abort("t2")
    again = b.received(1, queue)
    expect(bodies(again) == ["back after ABORT"], f"B got {bodies(again)}")
    expect(again[0].headers.get("redelivered") == "true", "the message given back lacks redelivered:true")
    for x in (a, b, c):
        x.disconnect()


def check_idle_connection_is_closed_after_the_connect_timeout(port, run):
    # A client that sends nothing gets ERROR and is closed after 10 s.
    c = Raw(port, connect=False)
    t = time.monotonic()
    c.until_closed("a client that sends nothing", timeout=15)
    took = time.monotonic() - t
    headers, _ = c.error() or ({}, b"")
    expect(headers.get(b"message") == b"connect timeout", f"got {c.frames()}")
    expect(8 <= took <= 13, f"closed after {took:.1f} s, expected 10 s")
    c.close()


def check_queue_backlog_limits(port, run):
    # A queue keeps at most 1000 waiting messages: the oldest go first.
    queue = f"/queue/limit-{run}".encode()
    c = Raw(port)
    c.send(b"".join(b"SEND\ndestination:" + queue + b"\n\nm%d\0" % i for i in range(1001))
           + b"SEND\ndestination:/topic/x\nreceipt:done\n\n\0")
    c.until(lambda: b"receipt-id:done" in c.received, "the RECEIPT after 1001 SENDs")
    a = Raw(port)
    a.send(b"SUBSCRIBE\nid:s\ndestination:" + queue + b"\n\n\0")
    a.until(lambda: a.count(b"MESSAGE\n") >= 1000, "1000 waiting messages")
    a.settle()
    got = [f.rsplit(b"\n", 1)[-1] for f in a.frames() if f.startswith(b"MESSAGE\n")]
    expect(len(got) == 1000 and got[0] == b"m1" and got[-1] == b"m1000", f"got {len(got)}: {got[:2]}..{got[-1:]}")
    # ... and at most 16 MiB: of three 6 MiB messages, the last two.
    big = f"/queue/limit-bytes-{run}".encode()
    c.send(b"".join(b"SEND\ndestination:" + big + b"\n\n" + bytes([65 + i]) * (6 << 20) + b"\0" for i in range(3))
           + b"SEND\ndestination:/topic/x\nreceipt:big\n\n\0")
    c.until(lambda: b"receipt-id:big" in c.received, "the RECEIPT after three 6 MiB SENDs", timeout=30)
    b = Raw(port)
    b.send(b"SUBSCRIBE\nid:s\ndestination:" + big + b"\n\n\0")
    b.until(lambda: b.count(b"MESSAGE\n") >= 2, "2 waiting messages", timeout=30)
    b.settle()
    firsts = [f.split(b"\n\n", 1)[1][:1] for f in b.frames() if f.startswith(b"MESSAGE\n")]
    expect(firsts == [b"B", b"C"], f"got messages starting with {firsts}")
    for x in (a, b, c):
        x.close()


def check_destinations_are_capped_and_forgotten(port, run):
    # 1024 destinations at most; topics without subscribers take none; unused ones are forgotten.
    c = Raw(port)
    c.send(b"".join(b"SEND\ndestination:/topic/nobody-%d\n\nx\0" % i for i in range(1100))
           + b"SEND\ndestination:/topic/nobody\nreceipt:sent\n\n\0")
    c.until(lambda: b"receipt-id:sent" in c.received, "the RECEIPT after 1100 SENDs to topics")
    conns, confirmed, error = [], 0, None
    for k in range(5):  # 256 subscriptions each (the per-connection limit)
        x = Raw(port)
        conns.append(x)
        x.send(b"".join(b"SUBSCRIBE\nid:%d\ndestination:/topic/cap-%s-%d-%d\nreceipt:%d\n\n\0"
                        % (i, run.encode(), k, i, i) for i in range(256)))
        x.until(lambda: x.count(b"RECEIPT\n") == 256 or x.error(), "256 RECEIPTs or an ERROR")
        confirmed += x.count(b"RECEIPT\n")
        if x.error():
            error = x.error()
            break
    expect(error is not None, f"{confirmed} destinations accepted, expected at most 1024")
    expect(error[0].get(b"message") == b"too many destinations", f"ERROR {error}")
    # Other checks' destinations may still be known (a few at most); the topics without
    # subscriber above must not count.
    expect(1000 <= confirmed <= 1024, f"{confirmed} new destinations accepted before the ERROR")
    for x in conns:
        if x.error():
            x.close()
        else:
            x.disconnect()
    # Their destinations are forgotten: there is room again.
    y = Raw(port)
    y.send(b"".join(b"SUBSCRIBE\nid:%d\ndestination:/topic/again-%s-%d\nreceipt:%d\n\n\0"
                    % (i, run.encode(), i, i) for i in range(256)))
    y.until(lambda: y.count(b"RECEIPT\n") == 256 or y.error(), "256 RECEIPTs or an ERROR")
    expect(not y.error(), f"after the others left: ERROR {y.error()}")
    y.disconnect()
    c.close()


def check_unacknowledged_messages_are_capped(port, run):
    # A subscriber slower than its publisher is paused by its prefetch window (the SUBSCRIBE's
    # prefetch-count, as RabbitMQ's), not disconnected: the rest waits in the queue and comes
    # as it acks.
    queue = f"/queue/prefetch-{run}".encode()
    a = Raw(port)
    a.send(b"SUBSCRIBE\nid:s\ndestination:" + queue + b"\nack:client\nprefetch-count:10\nreceipt:sub\n\n\0")
    a.until(lambda: b"receipt-id:sub" in a.received, "the RECEIPT for SUBSCRIBE")
    c = Raw(port)
    c.send(b"".join(b"SEND\ndestination:" + queue + b"\n\nm%d\0" % i for i in range(25)))
    a.until(lambda: a.count(b"MESSAGE\n") == 10, "the first 10 messages")
    a.settle()
    expect(a.count(b"MESSAGE\n") == 10, f"{a.count(b'MESSAGE')} messages in flight, the window is 10")
    expect(not a.closed and a.error() is None, "the slow subscriber was not disconnected")
    last = [f for f in a.frames() if f.startswith(b"MESSAGE\n")][-1]
    ack = next(line[4:] for line in last.split(b"\n") if line.startswith(b"ack:"))
    a.send(b"ACK\nid:" + ack + b"\n\n\0")  # cumulative: all ten
    a.until(lambda: a.count(b"MESSAGE\n") == 20, "the next 10 after the ACK")
    a.close()
    c.close()


def check_transactions_are_capped(port, run):
    c = Raw(port)
    c.send(b"BEGIN\ntransaction:t\n\n\0"
           + b"".join(b"SEND\ndestination:/queue/held-%s\ntransaction:t\n\nm%d\0" % (run.encode(), i)
                      for i in range(1001)))
    c.until_closed("a transaction holding 1001 SENDs")
    headers, _ = c.error() or ({}, b"")
    expect(headers.get(b"message") == b"transaction too large", f"got {c.frames()[-1:]}")
    c.close()


def check_stomp_1_1_session(port, run):
    a = Client(port, version="1.1")
    queue = f"/queue/v11-{run}"
    a.subscribe(queue, "s", ack="client-individual")
    a.send(queue, "hello 1.1")
    m = a.received(1, queue)[0]
    expect("ack" not in m.headers, "a 1.1 MESSAGE carries the 1.2 ack header")
    # 1.1 ACK: message-id and subscription.
    a.confirmed("ACK", lambda r: a.conn.ack(m.headers["message-id"], m.headers["subscription"], receipt=r))
    a.disconnect()



class RawWs:
    """A WebSocket speaking raw STOMP bytes, to control how frames are cut into messages."""

    def __init__(self, url, protocols):
        self.ws = websocket.create_connection(url, timeout=TIMEOUT, subprotocols=protocols)
        self.received = b""
        self.text_messages = self.binary_messages = 0

    def send(self, data, binary=False):
        if binary:
            self.ws.send_binary(data)
        else:
            self.ws.send_text(data.decode())

    def frames_until(self, needle, what):
        """Reads messages until `needle` is in the stream; returns the frames received so far."""
        deadline = time.monotonic() + TIMEOUT
        while needle not in self.received:
            if time.monotonic() > deadline:
                raise Failed(f"timed out waiting for {what}; received {self.received!r}")
            opcode, data = self.ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self.text_messages += 1
            elif opcode == websocket.ABNF.OPCODE_BINARY:
                self.binary_messages += 1
            else:
                raise Failed(f"unexpected WebSocket opcode {opcode} while waiting for {what}")
            self.received += data
        return [f.lstrip(b"\n") for f in self.received.split(b"\0") if f.strip(b"\n")]


def check_websocket_framing(ws_url, run):
    queue = f"/queue/ws-{run}".encode()
    c = RawWs(ws_url, ["v12.stomp", "v11.stomp", "v10.stomp"])
    expect(c.ws.getsubprotocol() == "v12.stomp", f"subprotocol {c.ws.getsubprotocol()!r}, expected v12.stomp")
    # CONNECT cut in two messages (text, then binary), SUBSCRIBE and half a SEND in one binary
    # message, the rest of the SEND and heart-beat EOLs in a text message.
    c.send(b"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n")
    c.send(b"\n\0", binary=True)
    c.send(b"SUBSCRIBE\nid:0\ndestination:" + queue + b"\nreceipt:r-1\n\n\0SEND\ndestination:" + queue
           + b"\nreceipt:r-2\ncontent-length:6\n\ncaf", binary=True)
    c.send("é!\0\n\n".encode())
    c.frames_until(b"receipt-id:r-2", "the RECEIPT for SEND")
    frames = c.frames_until(b"caf\xc3\xa9!", "the MESSAGE")
    commands = [f.split(b"\n", 1)[0] for f in frames]
    expect(commands[0] == b"CONNECTED" and b"version:1.2" in frames[0], f"first frame {frames[0]!r}")
    expect(commands.count(b"RECEIPT") == 2 and commands.count(b"MESSAGE") == 1, f"got {commands}")
    expect(c.binary_messages == 0, "UTF-8 STOMP frames were sent as binary WebSocket messages")
    c.send(b"DISCONNECT\nreceipt:bye\n\n\0")
    c.frames_until(b"receipt-id:bye", "the RECEIPT for DISCONNECT")
    c.ws.close()


def close_status(c, what):
    """Reads until the broker's WebSocket close frame; returns its status code."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        opcode, data = c.ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big") if len(data) >= 2 else None
        c.received += data
    raise Failed(f"no close frame {what}")


def check_websocket_close_status(ws_url, run):
    # W-8: after a protocol error, ERROR then close status 1002 (as Spring); after DISCONNECT, 1000.
    c = RawWs(ws_url, ["v12.stomp"])
    c.send(b"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0")
    c.frames_until(b"CONNECTED", "CONNECTED")
    c.send(b"BOGUS\n\n\0")
    status = close_status(c, "after a malformed frame")
    expect(b"ERROR\n" in c.received, f"no ERROR before the close: {c.received!r}")
    expect(status == 1002, f"close status {status}, expected 1002")
    c.ws.close()
    c = RawWs(ws_url, ["v12.stomp"])
    c.send(b"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0DISCONNECT\nreceipt:bye\n\n\0")
    status = close_status(c, "after DISCONNECT")
    expect(b"receipt-id:bye" in c.received, f"no RECEIPT before the close: {c.received!r}")
    expect(status == 1000, f"close status {status}, expected 1000")
    c.ws.close()


def check_websocket_subprotocol_caps_version(ws_url, run):
    c = RawWs(ws_url, ["v11.stomp", "v12.stomp"])
    expect(c.ws.getsubprotocol() == "v11.stomp", f"subprotocol {c.ws.getsubprotocol()!r}, expected the client's first")
    c.send(b"CONNECT\naccept-version:1.1,1.2\nhost:/\n\n\0")
    frames = c.frames_until(b"\0", "CONNECTED")
    expect(b"version:1.1" in frames[0], f"v11.stomp should cap STOMP at 1.1: {frames[0]!r}")
    c.ws.close()
    try:
        websocket.create_connection(ws_url.rsplit("/", 1)[0] + "/elsewhere", timeout=TIMEOUT,
                                    subprotocols=["v12.stomp"]).close()
    except websocket.WebSocketBadStatusException as e:
        expect(e.status_code == 404, f"a wrong path got status {e.status_code}")
    else:
        raise Failed("a WebSocket on a path other than /ws was accepted")

CHECKS = [
    check_topic_fanout,
    check_queue_round_robin,
    check_queue_backlog,
    check_transactions,
    check_client_ack_is_cumulative,
    check_client_individual_ack_and_nack,
    check_acks_in_transactions,
    check_unacked_topic_messages_are_dropped,
    check_bad_ack_gets_error_with_receipt_id,
    check_stomp_1_1_session,
    check_receipt_before_disconnect_in_one_packet,
    check_commit_is_all_or_nothing,
    check_acks_in_transactions_survive_unsubscribe,
    check_queue_backlog_limits,
    check_destinations_are_capped_and_forgotten,
    check_unacknowledged_messages_are_capped,
    check_transactions_are_capped,
    check_idle_connection_is_closed_after_the_connect_timeout,
]
WS_CHECKS = [check_websocket_framing, check_websocket_subprotocol_caps_version, check_websocket_close_status]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True, help="chat_broker's TCP port on 127.0.0.1")
    ap.add_argument("--ws-url", help="chat_broker's WebSocket URL (ws://127.0.0.1:PORT/ws)")
    a = ap.parse_args()
    run = f"{os.getpid()}-{time.time_ns()}"
    checks = [(c, a.port) for c in CHECKS] + [(c, a.ws_url) for c in WS_CHECKS if a.ws_url]
    failed = 0
    for check, where in checks:
        name = check.__name__.removeprefix("check_")
        t = time.monotonic()
        try:
            check(where, run)
            print(f"ok   {name} ({time.monotonic() - t:.1f} s)")
        except (Failed, stomp.exception.StompException, websocket.WebSocketException, OSError) as e:
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    print(f"{len(checks) - failed} of {len(checks)} chat_broker checks passed")
    sys.stdout.flush()
    # Connections of a failed check may still be open; do not wait for their threads.
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
