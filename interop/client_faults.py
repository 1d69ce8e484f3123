#!/usr/bin/env python3
"""Drives the `stomp` command-line tool (stomp-tokio/examples/stomp.rs) against real brokers and faults.

Standard library only; loopback only; every wait is bounded; it kills only processes it started
itself (by their PID), plus, in `crash`, the one broker PID it is given.

    client_faults.py roundtrip --stomp BIN --url URL --dest DEST [--count N] [--ca FILE]
        send --receipt --count N, then subscribe --count N: the bodies must come back in order.
    client_faults.py crash --stomp BIN --url URL --dest DEST --broker-pid-file F --restart CMD
        a durable queue, a publisher (--receipt, persistent) and a subscriber (client-individual)
        running while the broker is killed with SIGKILL and restarted by CMD: both must
        reconnect by themselves, every message must arrive, duplicates stay bounded.
    client_faults.py silent --stomp BIN --target HOST:PORT --dest DEST
        a subscriber with heart-beats 1000,1000 behind a proxy that stops forwarding (SIGSTOP)
        without closing anything: it must notice within 3.5 s, reconnect once the proxy goes
        on (SIGCONT), and receive a message sent afterwards.
    client_faults.py proxy --target HOST:PORT --port-file F
        the TCP proxy `silent` runs as a child process (its own PID, so it can be stopped).

Each test prints what it does, and ends with one line "result: ..." (exit 0) or
"FAILED: ..." (exit 1). The stderr lines of each CLI are kept with their time since the start
in LOGDIR (--log-dir) for the post mortem.
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

LOGIN = ["--login", "guest", "--passcode", "guest"]


def die_with_parent():
    """For Popen(preexec_fn=...): the child gets SIGTERM when this driver dies, even by SIGKILL
    (Linux prctl PR_SET_PDEATHSIG), so that no CLI or proxy outlives a killed run."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def say(text):
    print(text, flush=True)


class Failed(Exception):
    """A check that did not hold: the test fails with this message."""


# ---- a CLI process whose output lines are read, and timestamped, as they come -----------------


class Cli:
    """One `stomp` process. Its stdout and stderr lines are collected with time.monotonic()
    timestamps by two reader threads, and logged with their time since t0 in
    LOG_DIR/NAME.stderr.log and LOG_DIR/NAME.stdout.log as they come."""

    def __init__(self, name, argv, log_dir, t0):
        self.name = name
        self.argv = argv
        self.t0 = t0
        self.out = []  # [(t, line)]
        self.err = []  # [(t, line)]
        self.messages = []  # stdout lines parsed as JSON (a subscriber's messages)
        self.bad = []  # stdout lines that are not JSON
        self.seen = set()  # the distinct bodies among them
        self.cond = threading.Condition()
        self.log = open(os.path.join(log_dir, f"{name}.stderr.log"), "w", encoding="utf-8")
        self.log.write("$ " + " ".join(argv) + "\n")
        self.log.flush()
        self.out_log = open(os.path.join(log_dir, f"{name}.stdout.log"), "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            preexec_fn=die_with_parent,
        )
        self.threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out, self.out_log), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err, self.log), daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _read(self, pipe, into, log):
        for line in pipe:
            now = time.monotonic()
            line = line.rstrip("\n")
            with self.cond:
                into.append((now, line))
                if into is self.out:
                    try:
                        message = json.loads(line)
                        self.messages.append(message)
                        self.seen.add(message.get("body"))
                    except ValueError:
                        self.bad.append(line)
                self.cond.notify_all()
            log.write(f"{now - self.t0:9.3f} {line}\n")
            log.flush()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, predicate, timeout):
        """Waits (at most timeout s) until predicate() holds; the condition's lock is held while
        it is evaluated. Returns its last value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate()
                left = deadline - time.monotonic()
                if value or left <= 0:
                    return value
                self.cond.wait(min(left, 0.1))

    def err_after(self, t, pattern):
        """The time of the first stderr line at or after t matching pattern, or None."""
        rx = re.compile(pattern)
        for when, line in self.err:
            if when >= t and rx.search(line):
                return when
        return None

    def exited(self):
        return self.proc.poll() is not None

    def finish(self, timeout):
        """Waits for the exit (at most timeout s) and for the readers to drain; the exit code,
        or None when it did not exit."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self.threads:
            t.join(timeout=5)
        return rc

    def stop(self):
        """Ends the process (by its PID: SIGTERM, then SIGKILL) if it still runs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for t in self.threads:
            t.join(timeout=5)
        self.log.close()
        self.out_log.close()

    def last_err(self):
        lines = [line for _, line in self.err if line.strip()]
        return lines[-1] if lines else "(nothing on stderr)"


def bodies(cli):
    """The JSON messages the subscriber printed (after it exited); a Failed if a line was not
    JSON."""
    if cli.bad:
        raise Failed(f"{cli.name}: a stdout line is not JSON: {cli.bad[0][:200]}")
    return cli.messages


# ---- roundtrip -----------------------------------------------------------------------------------


def roundtrip(a):
    """send --receipt --count N, then subscribe --count N; bodies in order, both exit 0."""
    t0 = time.monotonic()
    extra = LOGIN + (["--ca", a.ca] if a.ca else [])
    template = "roundtrip {seq} " + a.dest
    send = Cli("send", [a.stomp, "send", a.url, a.dest, *extra, "--receipt", "--count",
                        str(a.count), "--body", template], a.log_dir, t0)
    rc = send.finish(30)
    send.stop()
    if rc != 0:
        raise Failed(f"send exited {rc}: {send.last_err()}")
    sub = Cli("subscribe", [a.stomp, "subscribe", a.url, a.dest, *extra, "--ack", "client-individual",
                            "--count", str(a.count), "--timeout", "20"], a.log_dir, t0)
    rc = sub.finish(30)
    sub.stop()
    if rc != 0:
        raise Failed(f"subscribe exited {rc}: {sub.last_err()}")
    got = [m.get("body") for m in bodies(sub)]
    want = [template.replace("{seq}", str(i)) for i in range(a.count)]
    if got != want:
        first = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        raise Failed(f"bodies differ at #{first}: got {got[first:first + 3]}, want {want[first:first + 3]}"
                     f" ({len(got)} received, {a.count} sent)")
    if any(m.get("destination") != a.dest for m in bodies(sub)):
        raise Failed("a message came with another destination header")
    return f"{a.count} messages sent with receipts and received in order in {time.monotonic() - t0:.1f} s"


# ---- crash ---------------------------------------------------------------------------------------


def broker_pid(pid_file):
    """The PID in pid_file, if it is a running Erlang VM (beam), else a Failed."""
    try:
        pid = int(open(pid_file).read().strip())
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
    except (OSError, ValueError) as e:
        raise Failed(f"no running broker PID in {pid_file}: {e}")
    if b"beam" not in cmdline:
        raise Failed(f"PID {pid} from {pid_file} is not a beam process; not killing it")
    return pid


def crash(a):
    n, rate = a.count, a.rate
    t0 = time.monotonic()
    url_args = [a.url, a.dest, *LOGIN]
    # The subscriber first, so that the queue exists (RabbitMQ declares /queue/ destinations
    # durable) before anything is published. No --count: duplicates must not end it early; this
    # driver ends it (by PID) once every body has been seen. --timeout is only a safety net.
    sub = Cli("crash-subscriber", [a.stomp, "subscribe", *url_args, "--ack", "client-individual",
                                   "--timeout", str(a.deadline + 30)], a.log_dir, t0)
    pub = None
    try:
        if not sub.wait_for(lambda: any("connected" in l for _, l in sub.err) or sub.exited(), 15) \
                or sub.exited():
            raise Failed(f"the subscriber did not connect: {sub.last_err()}")
        time.sleep(0.3)  # the SUBSCRIBE reaches the broker
        # The publisher: persistent messages, every SEND confirmed by a RECEIPT (RabbitMQ sends
        # it once the message is safe: publisher confirms). Heart-beats off: a broker throttling
        # a publisher with heart-beats hits a RabbitMQ 3.10 bug (see interop/README.md).
        pub = Cli("crash-publisher", [a.stomp, "send", *url_args, "--receipt", "--count", str(n),
                                      "--rate", str(rate), "--body", "{seq}", "--header",
                                      "persistent:true", "--heart-beat", "0,0"], a.log_dir, t0)
        # 2. Let both work for a while, then kill the broker mid-stream.
        kill_after = max(10, int(n * a.kill_at))
        if not sub.wait_for(lambda: len(sub.out) >= kill_after or sub.exited() or pub.exited(), 30):
            raise Failed(f"only {len(sub.out)} messages received in 30 s before the kill")
        if sub.exited() or pub.exited():
            raise Failed(f"a CLI exited before the kill: publisher {pub.proc.poll()} "
                         f"({pub.last_err()}), subscriber {sub.proc.poll()} ({sub.last_err()})")
        pid = broker_pid(a.broker_pid_file)
        with sub.cond:
            received_at_kill = len(sub.out)
            recent = sum(1 for t, _ in sub.out if t >= time.monotonic() - 1.0)
        t_kill = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        say(f"killed the broker (pid {pid}, SIGKILL) at {t_kill - t0:.2f} s, "
            f"{received_at_kill} messages received, {recent} in the last second")
        # 3. Restart it with the same data (durable queue, persistent messages survive).
        for _ in range(50):  # the VM's exit takes a moment; its ports close with it
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)
        t_restart = time.monotonic()
        restart = subprocess.run(a.restart, shell=True, capture_output=True, text=True, timeout=150)
        for line in (restart.stdout + restart.stderr).splitlines():
            say(f"  {line}")
        if restart.returncode != 0:
            raise Failed(f"the broker did not restart: {(restart.stdout + restart.stderr).strip().splitlines()[-1:]}")
        t_up = time.monotonic()
        say(f"broker restarted in {t_up - t_restart:.1f} s ({t_up - t_kill:.1f} s after the kill)")

        # 4. Wait until every body has been seen and the publisher is done, then a quiet moment
        # for late redeliveries.
        want = set(str(i) for i in range(n))

        def seen():
            return sub.seen

        deadline = t0 + a.deadline
        while time.monotonic() < deadline:
            if sub.exited():
                raise Failed(f"the subscriber exited {sub.proc.poll()}: {sub.last_err()}")
            done = sub.wait_for(lambda: want <= seen(), 0.5)
            if done and pub.exited():
                break
        else:
            missing = sorted(want - seen(), key=int)
            raise Failed(f"after {a.deadline} s: {len(missing)} of {n} bodies never arrived "
                         f"(first {missing[:10]}), publisher "
                         f"{'exited ' + str(pub.proc.poll()) if pub.exited() else 'still running'}: "
                         f"{pub.last_err()}")
        pub_rc = pub.finish(5)
        if pub_rc != 0:
            raise Failed(f"the publisher exited {pub_rc}: {pub.last_err()}")
        quiet = time.monotonic()
        while time.monotonic() - quiet < 60:  # at most a minute
            count = len(sub.out)
            time.sleep(1.5)
            if len(sub.out) == count:
                break
        if sub.exited():
            raise Failed(f"the subscriber exited {sub.proc.poll()}: {sub.last_err()}")
    finally:
        sub.stop()
        if pub:
            pub.stop()

    # 5. The figures.
    messages = bodies(sub)
    total = len(messages)
    duplicates = total - n
    redelivered = sum(1 for m in messages if m.get("redelivered"))
    recon = {}
    for who, cli in (("publisher", pub), ("subscriber", sub)):
        t = cli.err_after(t_kill, r"^stomp: connected \(")
        if t is None:
            raise Failed(f"the {who} printed no 'connected' line after the kill: {cli.last_err()}")
        recon[who] = t - t_kill
        # And it noticed the loss on its own.
        if cli.err_after(t_kill, r"^stomp: disconnected") is None:
            raise Failed(f"the {who} printed no 'disconnected' line after the kill")
    # Bound: what was unconfirmed at the kill. Publisher side: the SENDs without a RECEIPT yet,
    # which it sends again (at-least-once), at most its receipt window (1000; `send` waits for
    # receipts 1000 at a time, so the rate does not bound it). Subscriber side: what was
    # delivered but maybe not acked (or the ack not yet on disk), at most what it received in
    # the last second before the kill.
    bound = min(1000, n) + recent
    order_breaks = sum(1 for x, y in zip(messages, messages[1:]) if int(y["body"]) < int(x["body"]))
    summary = (f"{n} messages (rate {rate:g}/s, broker killed after {received_at_kill} received, "
               f"{recent} of them in the last second): all arrived, {total} deliveries, "
               f"{duplicates} duplicates (bound {bound} = receipt window {min(1000, n)} + {recent}), "
               f"{redelivered} redelivered:true, {order_breaks} out of order; reconnected "
               f"{recon['publisher']:.1f} s (publisher) and {recon['subscriber']:.1f} s "
               f"(subscriber) after the kill, broker restart took {t_up - t_restart:.1f} s")
    if duplicates > bound:
        raise Failed("too many duplicates: " + summary)
    return summary


# ---- proxy and silent network ------------------------------------------------------------------


def proxy(a):
    """A plain TCP proxy: every accepted connection is copied both ways to --target, one thread
    per direction; when either side ends, both are closed. Prints nothing; writes its port."""
    host, port = a.target.rsplit(":", 1)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.replace(tmp, a.port_file)

    def pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


def send_one(a, body, url):
    """One message with a receipt, straight to the broker (not through the proxy)."""
    r = subprocess.run([a.stomp, "send", url, a.dest, *LOGIN, "--receipt", "--count", "1",
                        "--body", body, "--no-reconnect"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise Failed(f"sending '{body}' failed: {r.stderr.strip().splitlines()[-1:]}")


def silent(a):
    t0 = time.monotonic()
    direct = f"stomp://{a.target}"
    port_file = os.path.join(a.log_dir, "silent-proxy.port")
    if os.path.exists(port_file):
        os.remove(port_file)
    prox = subprocess.Popen([sys.executable, os.path.abspath(__file__), "proxy", "--target", a.target,
                             "--port-file", port_file], stdin=subprocess.DEVNULL,
                            preexec_fn=die_with_parent)
    sub = None
    stopped = False
    try:
        for _ in range(100):
            if os.path.exists(port_file) or prox.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(port_file):
            raise Failed("the proxy did not start")
        port = int(open(port_file).read())
        # 1. A subscriber through the proxy, heart-beats both ways every second;
        # client-individual, so that a message caught on the dead connection is redelivered.
        sub = Cli("silent-subscriber", [a.stomp, "subscribe", f"stomp://127.0.0.1:{port}", a.dest, *LOGIN,
                                        "--heart-beat", "1000,1000", "--ack", "client-individual",
                                        "--count", "2", "--timeout", "90"], a.log_dir, t0)
        if not sub.wait_for(lambda: any("connected" in l for _, l in sub.err) or sub.exited(), 15) \
                or sub.exited():
            raise Failed(f"the subscriber did not connect through the proxy: {sub.last_err()}")
        time.sleep(0.3)
        send_one(a, "before", direct)
        if not sub.wait_for(lambda: len(sub.out) >= 1, 10):
            raise Failed("the first message did not arrive through the proxy")
        time.sleep(1.5)  # a few heart-beats go through while all is well
        # 2. Silence: the proxy stops copying (SIGSTOP); both TCP connections stay open.
        t_stop = time.monotonic()
        prox.send_signal(signal.SIGSTOP)
        stopped = True
        if not sub.wait_for(lambda: sub.err_after(t_stop, r"^stomp: disconnected") or sub.exited(), 10):
            raise Failed("no 'disconnected' within 10 s of the silence")
        t_det = sub.err_after(t_stop, r"^stomp: disconnected")
        if t_det is None:
            raise Failed(f"the subscriber exited {sub.proc.poll()}: {sub.last_err()}")
        detection = t_det - t_stop
        reason = next(l for t, l in sub.err if t == t_det)
        say(f"silence: '{reason}' {detection:.2f} s after the proxy stopped")
        # 3. Forwarding resumes a little later; the client must reconnect by itself.
        time.sleep(1.0)
        t_cont = time.monotonic()
        prox.send_signal(signal.SIGCONT)
        stopped = False
        if not sub.wait_for(lambda: sub.err_after(t_det, r"^stomp: connected \(") or sub.exited(), 30):
            raise Failed(f"no reconnection within 30 s of the proxy going on: {sub.last_err()}")
        t_re = sub.err_after(t_det, r"^stomp: connected \(")
        if t_re is None:
            raise Failed(f"the subscriber exited {sub.proc.poll()}: {sub.last_err()}")
        # 4. A message sent now must reach the resubscribed client.
        time.sleep(0.3)
        send_one(a, "after", direct)
        rc = sub.finish(30)
        if rc != 0:
            raise Failed(f"the subscriber exited {rc} instead of receiving 'after': {sub.last_err()}")
        got = [m.get("body") for m in bodies(sub)]
        if got != ["before", "after"]:
            raise Failed(f"received {got}, expected ['before', 'after']")
    finally:
        if sub:
            sub.stop()
        if stopped:
            prox.send_signal(signal.SIGCONT)
        prox.terminate()
        try:
            prox.wait(timeout=5)
        except subprocess.TimeoutExpired:
            prox.kill()
            prox.wait(timeout=5)
    if detection > a.max_detection:
        raise Failed(f"'disconnected' came {detection:.2f} s after the silence began, more than "
                     f"{a.max_detection} s (heart-beat 1000,1000)")
    return (f"silence noticed after {detection:.2f} s (heart-beat 1000,1000, limit {a.max_detection} s): "
            f"'{reason[len('stomp: '):]}'; reconnected {t_re - t_det:.2f} s after that, "
            f"{t_re - t_cont:.2f} s after forwarding resumed; a message sent afterwards was received")


# ---- main ----------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="test", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stomp", required=True, help="the stomp binary (target/release/examples/stomp)")
    common.add_argument("--dest", required=True)
    common.add_argument("--log-dir", default=".")

    r = sub.add_parser("roundtrip", parents=[common])
    r.add_argument("--url", required=True)
    r.add_argument("--ca")
    r.add_argument("--count", type=int, default=50)

    c = sub.add_parser("crash", parents=[common])
    c.add_argument("--url", required=True)
    c.add_argument("--broker-pid-file", required=True)
    c.add_argument("--restart", required=True, help="shell command that starts the broker again")
    c.add_argument("--count", type=int, default=2000)
    c.add_argument("--rate", type=float, default=400)
    c.add_argument("--kill-at", type=float, default=0.3, help="kill after this share received")
    c.add_argument("--deadline", type=int, default=150, help="seconds for the whole test")

    s = sub.add_parser("silent", parents=[common])
    s.add_argument("--target", required=True, help="the broker's HOST:PORT")
    s.add_argument("--max-detection", type=float, default=3.5)

    x = sub.add_parser("proxy")
    x.add_argument("--target", required=True)
    x.add_argument("--port-file", required=True)

    a = p.parse_args()
    # SIGTERM (from `timeout`, say) ends the test through its `finally` blocks, which stop the
    # processes it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.test == "proxy":
        proxy(a)
        return 0
    os.makedirs(a.log_dir, exist_ok=True)
    try:
        result = {"roundtrip": roundtrip, "crash": crash, "silent": silent}[a.test](a)
    except Failed as e:
        say(f"FAILED: {e}")
        return 1
    say(f"result: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
