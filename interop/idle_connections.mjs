// Idle STOMP connections with heart-beats against one broker, and its memory per connection.
//
//   node idle_connections.mjs --tcp HOST:PORT --ws URL [--count TCP+WS] [--heart-beat MS]
//        [--hold SECS] [--login L --passcode P] [--host VHOST] [--pid PID] [--label NAME]
//        [--parallel N]
//
// Opens TCP connections (raw STOMP over `net` sockets) and then WebSocket connections (`ws`,
// subprotocol v12.stomp), each with CONNECT accept-version:1.2, heart-beat:MS,MS and the login,
// at most --parallel (50) CONNECTs in flight. Each connection sends a heart-beat EOL at the
// negotiated rate (max(MS, the server's receive value)). All of them are held open for --hold
// seconds (20) counted from the moment the last one got CONNECTED. At the end every connection
// must still be open (no ERROR, no close, no socket error) and have received at least one server
// heart-beat (an EOL more than 1 s after its CONNECTED: RabbitMQ writes an EOL after each frame,
// which is not a heart-beat).
//
// With --pid, the broker's VmRSS (/proc/PID/status) is read before the first connection (median
// of 5 samples over 2 s), once the TCP connections are all open (after 2 s of settling), once the
// WebSocket ones are too, and every second of the hold; bytes per connection are (RSS at the end
// of the hold - RSS before) / count, and per transport from the two intermediate samples; 3 s
// after closing them, once more (rss_after_close, for information).
//
// Progress on stderr; the last stdout line is one JSON object. Exit 0 when every connection
// passed, 1 otherwise (reasons on stderr).

import net from 'node:net';
import fs from 'node:fs';
import WebSocket from 'ws';

function parseArgs(argv) {
  const a = {
    tcp: null, ws: null, tcpCount: 1000, wsCount: 1000, heartBeat: 5000, hold: 20,
    login: 'guest', passcode: 'guest', host: '/', pid: null, label: 'broker', parallel: 50,
  };
  for (let i = 0; i < argv.length; i++) {
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case '--tcp': a.tcp = v(); break;
      case '--ws': a.ws = v(); break;
      case '--count': {
        const m = /^(\d+)(?:\+(\d+))?$/.exec(v());
        if (!m) throw new Error('--count expects TCP+WS, e.g. 1000+1000');
        a.tcpCount = Number(m[1]);
        a.wsCount = m[2] === undefined ? Number(m[1]) : Number(m[2]);
        break;
      }
      case '--heart-beat': a.heartBeat = Number(v()); break;
      case '--hold': a.hold = Number(v()); break;
      case '--login': a.login = v(); break;
      case '--passcode': a.passcode = v(); break;
      case '--host': a.host = v(); break;
      case '--pid': a.pid = Number(v()); break;
      case '--label': a.label = v(); break;
      case '--parallel': a.parallel = Number(v()); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (a.tcpCount > 0 && !a.tcp) throw new Error('--tcp HOST:PORT is required (or --count 0+N)');
  if (a.wsCount > 0 && !a.ws) throw new Error('--ws URL is required (or --count N+0)');
  return a;
}

const log = (msg) => process.stderr.write(`idle_connections: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rss(pid) {
  if (!pid) return null;
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : null;
}

/// One STOMP session over a transport with `write(string)` and `close()`; `feed(Buffer)` takes
/// what arrives. Tracks CONNECTED, heart-beats after it, and anything that ends the session.
class Session {
  constructor(id, kind, args) {
    Object.assign(this, {
      id, kind, args, buf: Buffer.alloc(0), connectedAt: 0, serverBeats: 0, lastBeat: 0,
      failure: null, closed: false, timer: null, sendEvery: 0, negotiated: null,
    });
    this.ready = new Promise((resolve, reject) => { this.resolve = resolve; this.reject = reject; });
  }

  connectFrame() {
    const hb = this.args.heartBeat;
    return `CONNECT\naccept-version:1.2\nhost:${this.args.host}\nlogin:${this.args.login}\n`
      + `passcode:${this.args.passcode}\nheart-beat:${hb},${hb}\n\n\0`;
  }

  fail(reason) {
    if (!this.failure) this.failure = reason;
    clearInterval(this.timer);
    this.reject(new Error(reason));
  }

  feed(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      // EOLs between frames: heart-beats once CONNECTED has been seen for a second.
      let i = 0;
      while (i < this.buf.length && (this.buf[i] === 0x0a || this.buf[i] === 0x0d)) {
        if (this.buf[i] === 0x0a && this.connectedAt && Date.now() - this.connectedAt > 1000) {
          this.serverBeats += 1;
          this.lastBeat = Date.now();
        }
        i += 1;
      }
      this.buf = this.buf.subarray(i);
      const end = this.buf.indexOf(0);
      if (end < 0) return;
      const text = this.buf.subarray(0, end).toString('utf8');
      this.buf = this.buf.subarray(end + 1);
      this.frame(text);
    }
  }

  frame(text) {
    const [head, ...rest] = text.split('\n\n');
    const lines = head.split(/\r?\n/);
    const command = lines[0];
    const headers = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      if (c > 0 && !(l.slice(0, c) in headers)) headers[l.slice(0, c)] = l.slice(c + 1);
    }
    if (command === 'CONNECTED') {
      this.connectedAt = Date.now();
      const [sx, sy] = (headers['heart-beat'] || '0,0').split(',').map(Number);
      this.negotiated = headers['heart-beat'] || '0,0';
      const hb = this.args.heartBeat;
      // We send every max(ours, what the server wants to receive); it sends every max(sx, ours).
      this.sendEvery = sy === 0 ? 0 : Math.max(hb, sy);
      this.serverEvery = sx === 0 ? 0 : Math.max(hb, sx);
      if (this.sendEvery) this.timer = setInterval(() => this.write('\n'), this.sendEvery);
      this.resolve();
    } else if (command === 'ERROR') {
      this.fail(`ERROR ${headers.message || ''} ${rest.join('\n\n').slice(0, 200)}`.trim());
      this.close();
    } else {
      this.fail(`unexpected ${command} frame`);
    }
  }
}

function openTcp(id, args) {
  const s = new Session(id, 'tcp', args);
  const [host, port] = args.tcp.split(/:(?=\d+$)/);
  const sock = net.connect({ host, port: Number(port) });
  s.write = (t) => { if (!s.closed) sock.write(t); };
  s.close = () => sock.destroy();
  sock.setNoDelay(true);
  sock.on('connect', () => sock.write(s.connectFrame()));
  sock.on('data', (d) => s.feed(d));
  sock.on('error', (e) => s.fail(`socket error: ${e.code || e.message}`));
  sock.on('close', () => { s.closed = true; s.fail('closed by the server'); });
  return s;
}

function openWs(id, args) {
  const s = new Session(id, 'ws', args);
  const ws = new WebSocket(args.ws, ['v12.stomp'], { perMessageDeflate: false });
  s.write = (t) => { if (!s.closed && ws.readyState === WebSocket.OPEN) ws.send(t); };
  s.close = () => ws.terminate();
  ws.on('open', () => {
    if (ws.protocol !== 'v12.stomp') s.fail(`subprotocol ${JSON.stringify(ws.protocol)}`);
    ws.send(s.connectFrame());
  });
  ws.on('message', (d) => s.feed(Buffer.isBuffer(d) ? d : Buffer.from(d)));
  ws.on('error', (e) => s.fail(`websocket error: ${e.code || e.message}`));
  ws.on('unexpected-response', (_req, res) => s.fail(`HTTP ${res.statusCode} on upgrade`));
  ws.on('close', (code) => { s.closed = true; s.fail(`closed by the server (${code})`); });
  return s;
}

/// Opens `count` sessions with `open`, at most `parallel` CONNECTs in flight at once.
async function openMany(count, open, args, sessions, label) {
  let next = 0;
  let failed = 0;
  const t0 = Date.now();
  async function worker() {
    while (next < count) {
      const s = open(next++, args);
      sessions.push(s);
      const timeout = setTimeout(() => s.fail('no CONNECTED within 15 s'), 15000);
      try { await s.ready; } catch { failed += 1; } finally { clearTimeout(timeout); }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, args.parallel) }, worker));
  log(`${label}: ${count - failed}/${count} ${open === openTcp ? 'TCP' : 'WebSocket'} connections `
    + `got CONNECTED in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return failed;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const L = args.label;
  const samples = {};
  // The baseline: the median of 5 samples over 2 s (an Erlang VM's RSS moves on its own).
  const base = [];
  for (let i = 0; i < 5; i++) { base.push(rss(args.pid)); if (i < 4) await sleep(500); }
  samples.before = args.pid ? base.sort((a, b) => a - b)[2] : null;
  const sessions = [];
  const t0 = Date.now();
  await openMany(args.tcpCount, openTcp, args, sessions, L);
  await sleep(2000);
  samples.tcp_open = rss(args.pid);
  await openMany(args.wsCount, openWs, args, sessions, L);
  await sleep(2000);
  samples.all_open = rss(args.pid);
  const negotiated = sessions.find((s) => s.negotiated)?.negotiated;
  log(`${L}: holding ${sessions.length} connections for ${args.hold} s (server heart-beat ${negotiated})`);
  const holdStart = Date.now();
  let peak = samples.all_open;
  while (Date.now() - holdStart < args.hold * 1000) {
    await sleep(1000);
    const r = rss(args.pid);
    if (r !== null && r > peak) peak = r;
    const down = sessions.filter((s) => s.failure).length;
    if ((Date.now() - holdStart) % 5000 < 1000) log(`${L}: ${Math.round((Date.now() - holdStart) / 1000)} s, ${down} failed`);
  }
  samples.end = rss(args.pid);
  samples.peak = peak && samples.end ? Math.max(peak, samples.end) : null;

  // Verdict, before anything is closed.
  const problems = [];
  const failed = sessions.filter((s) => s.failure);
  const noBeat = sessions.filter((s) => !s.failure && s.serverEvery && s.serverBeats === 0);
  const noHb = sessions.filter((s) => !s.failure && !s.serverEvery);
  if (failed.length) {
    const reasons = {};
    for (const s of failed) reasons[`${s.kind}: ${s.failure}`] = (reasons[`${s.kind}: ${s.failure}`] || 0) + 1;
    problems.push(`${failed.length} connection(s) failed: ${JSON.stringify(reasons)}`);
  }
  if (noHb.length) problems.push(`${noHb.length} connection(s) negotiated no server heart-beat`);
  if (noBeat.length) problems.push(`${noBeat.length} connection(s) received no server heart-beat`);
  const beats = sessions.filter((s) => !s.failure).map((s) => s.serverBeats).sort((a, b) => a - b);
  const n = args.tcpCount + args.wsCount;
  const per = (a, b, k) => (a !== null && b !== null && k > 0 ? Math.round((b - a) / k) : null);
  const result = {
    broker: L,
    tcp: args.tcpCount,
    ws: args.wsCount,
    open_at_end: sessions.length - failed.length,
    held_s: Math.round((Date.now() - holdStart) / 100) / 10,
    client_heart_beat_ms: args.heartBeat,
    server_heart_beat: negotiated || null,
    server_beats_min: beats.length ? beats[0] : 0,
    server_beats_median: beats.length ? beats[beats.length >> 1] : 0,
    rss_before: samples.before,
    rss_tcp_open: samples.tcp_open,
    rss_all_open: samples.all_open,
    rss_end: samples.end,
    rss_peak: samples.peak,
    bytes_per_tcp_conn: per(samples.before, samples.tcp_open, args.tcpCount),
    bytes_per_ws_conn: per(samples.tcp_open, samples.all_open, args.wsCount),
    bytes_per_conn: per(samples.before, samples.end, n),
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    ok: problems.length === 0,
  };
  for (const p of problems) log(`${L}: FAIL ${p}`);

  // Close politely (DISCONNECT, then the socket), without counting these closes as failures.
  for (const s of sessions) {
    clearInterval(s.timer);
    s.fail = () => {};
    if (!s.closed) { s.write('DISCONNECT\n\n\0'); }
  }
  await sleep(500);
  for (const s of sessions) s.close();
  // For information: what the broker gives back 3 s after the connections are gone.
  if (args.pid) { await sleep(3000); result.rss_after_close = rss(args.pid); }
  console.log(JSON.stringify(result));
  process.exit(problems.length ? 1 : 0);
}

main().catch((e) => { log(`FAIL ${e.message}`); process.exit(2); });
