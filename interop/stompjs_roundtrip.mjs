// STOMP 1.2 round trip with the real @stomp/stompjs client (npm, pinned in package-lock.json;
// install with setup-clients.sh), over WebSocket (the ws package) or plain TCP
// (@stomp/tcp-wrapper).
//
// Steps: CONNECT (heart-beats on) -> SUBSCRIBE ack:client-individual (receipt) -> SEND with a
// receipt -> RECEIPT -> MESSAGE (same body and headers) -> ACK with a receipt -> RECEIPT -> stay
// idle so that heart-beats flow (at least one must arrive) -> DISCONNECT with a receipt ->
// RECEIPT. Exits 0 only when every step was confirmed by the broker; otherwise prints
// FAIL: ... and exits 1.
//
//   node stompjs_roundtrip.mjs --transport tcp --host 127.0.0.1 --port 61613
//   node stompjs_roundtrip.mjs --transport ws --url ws://127.0.0.1:15674/ws
//
// RabbitMQ's Web-STOMP closes the WebSocket without the RECEIPT for DISCONNECT: pass
// --disconnect-receipt optional to accept that (it is then reported as a quirk).
import { Client } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import WebSocket from 'ws';
import { readFileSync } from 'node:fs';

// The package's "exports" map hides its package.json: read it from node_modules next to this file.
const stompjsVersion = JSON.parse(
  readFileSync(new URL('./node_modules/@stomp/stompjs/package.json', import.meta.url), 'utf8'),
).version;

const opts = {
  transport: 'tcp',
  url: 'ws://127.0.0.1:15674/ws',
  host: '127.0.0.1',
  port: '61613',
  vhost: '/',
  login: 'guest',
  passcode: 'guest',
  destination: '/queue/stomp-codec-interop',
  'heart-beat': '1000',
  idle: '2.5',
  timeout: '10',
  'disconnect-receipt': 'required',
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in opts) || argv[i + 1] === undefined) {
    console.error(`unknown or incomplete option ${argv[i]}; options: ${Object.keys(opts).map((k) => `--${k}`).join(' ')}`);
    process.exit(2);
  }
  opts[key] = argv[i + 1];
}

// A header value with the three characters STOMP 1.2 escapes in headers (and a colon).
const ESCAPE_PROBE = 'colon:back\\slash\nnewline';
const t0 = performance.now();
const lap = () => `${(performance.now() - t0).toFixed(1).padStart(7)} ms`;
const timeoutMs = Number(opts.timeout) * 1000;
const heartBeatMs = Number(opts['heart-beat']);
const fail = (msg) => {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
};
const within = (p, what) =>
  Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${opts.timeout} s waiting for ${what}`)), timeoutMs)),
  ]);

let pongsIn = 0;
let pingsOut = 0;
const connectHeaders = { login: opts.login, passcode: opts.passcode };
if (opts.vhost !== '') connectHeaders.host = opts.vhost;

const client = new Client({
  webSocketFactory: () =>
    opts.transport === 'tcp'
      ? new TCPWrapper(opts.host, Number(opts.port))
      : new WebSocket(opts.url, ['v12.stomp', 'v11.stomp', 'v10.stomp'], { perMessageDeflate: false }),
  connectHeaders,
  disconnectHeaders: { receipt: 'disconnect-1' },
  heartbeatIncoming: heartBeatMs,
  heartbeatOutgoing: heartBeatMs,
  reconnectDelay: 0,
  debug: (line) => {
    // stompjs logs each heart-beat it receives as PONG and each one it sends as PING.
    if (line.includes('<<< PONG')) pongsIn++;
    if (line.includes('>>> PING')) pingsOut++;
    if (process.env.STOMPJS_DEBUG) console.log(`   debug: ${line}`);
  },
});

// Any ERROR frame, transport error or unexpected close fails whatever step is waiting.
let closedOnPurpose = false;
const failed = new Promise((_, reject) => {
  client.onStompError = (f) => reject(new Error(`ERROR frame: ${JSON.stringify(f.headers)} ${f.body}`));
  client.onWebSocketError = (e) => reject(new Error(`transport error: ${(e && (e.message || e.type)) || e}`));
  client.onWebSocketClose = (evt) => {
    if (!closedOnPurpose) reject(new Error(`transport closed (code ${evt && evt.code})`));
  };
});
failed.catch(() => {});
const step = (p, what) => within(Promise.race([p, failed]), what);

try {
  const connected = new Promise((resolve) => {
    client.onConnect = resolve;
  });
  client.activate();
  const c = await step(connected, 'CONNECTED');
  console.log(
    `${lap()}  CONNECTED version=${c.headers.version} server=${c.headers.server} ` +
      `session=${c.headers.session} heart-beat=${c.headers['heart-beat']}`,
  );
  if (c.headers.version !== '1.2') fail(`expected version 1.2, got ${c.headers.version}`);
  const [sx, sy] = (c.headers['heart-beat'] || '0,0').split(',').map(Number);
  if (!(sx > 0 && sy > 0)) fail(`the broker refused heart-beats: heart-beat:${c.headers['heart-beat']}`);

  const run = `${process.pid}-${Date.now()}`;
  let gotMessage;
  const message = new Promise((resolve) => {
    gotMessage = resolve;
  });
  const subscribed = new Promise((resolve) => client.watchForReceipt('sub-1', resolve));
  client.subscribe(
    opts.destination,
    (m) => {
      if (m.headers['x-interop-run'] === run) gotMessage(m);
    },
    { id: 'sub-0', ack: 'client-individual', receipt: 'sub-1' },
  );
  await step(subscribed, 'RECEIPT sub-1 (SUBSCRIBE)');
  console.log(`${lap()}  SUBSCRIBE confirmed by RECEIPT sub-1`);

  const sent = new Promise((resolve) => client.watchForReceipt('send-1', resolve));
  const body = `hello from stompjs over ${opts.transport}: caf\u00e9 \u2713`;
  client.publish({
    destination: opts.destination,
    body,
    headers: {
      receipt: 'send-1',
      'content-type': 'text/plain;charset=utf-8',
      'x-interop-escape': ESCAPE_PROBE,
      'x-interop-run': run,
    },
  });
  await step(sent, 'RECEIPT send-1 (SEND)');
  console.log(`${lap()}  SEND confirmed by RECEIPT send-1`);

  const m = await step(message, 'the MESSAGE');
  console.log(
    `${lap()}  MESSAGE destination=${m.headers.destination} message-id=${m.headers['message-id']} ` +
      `ack=${m.headers.ack} body=${JSON.stringify(m.body)}`,
  );
  if (m.body !== body) fail(`body changed on the way: ${JSON.stringify(m.body)}`);
  if (m.headers['x-interop-escape'] !== ESCAPE_PROBE) {
    fail(`header x-interop-escape changed on the way: ${JSON.stringify(m.headers['x-interop-escape'])}`);
  }
  if (!m.headers.ack) fail('a STOMP 1.2 MESSAGE of a client-individual subscription must carry an ack header');

  const acked = new Promise((resolve) => client.watchForReceipt('ack-1', resolve));
  m.ack({ receipt: 'ack-1' });
  await step(acked, 'RECEIPT ack-1 (ACK)');
  console.log(`${lap()}  ACK id=${m.headers.ack} confirmed by RECEIPT ack-1`);

  const pongsBefore = pongsIn;
  await step(new Promise((resolve) => setTimeout(resolve, Number(opts.idle) * 1000)), 'the end of the idle time');
  const pongs = pongsIn - pongsBefore;
  console.log(`${lap()}  idle ${opts.idle} s: ${pongs} heart-beat(s) received, ${pingsOut} sent in all`);
  if (pongs < 1) fail(`no heart-beat from the broker in ${opts.idle} s of silence`);

  // Either the RECEIPT for DISCONNECT arrives (onDisconnect) or the transport closes first.
  closedOnPurpose = true;
  const disconnected = new Promise((resolve) => {
    client.onDisconnect = (f) => resolve({ receipt: f });
    client.onWebSocketClose = (evt) => resolve({ close: evt });
  });
  const deactivated = client.deactivate();
  const r = await within(disconnected, 'RECEIPT disconnect-1 (DISCONNECT)');
  if (r.receipt) {
    if (r.receipt.headers['receipt-id'] !== 'disconnect-1') fail(`unexpected RECEIPT ${JSON.stringify(r.receipt.headers)}`);
    await within(deactivated, 'the transport to close');
    console.log(`${lap()}  DISCONNECT confirmed by RECEIPT disconnect-1`);
  } else {
    const how = `transport closed (code ${r.close && r.close.code}) without the RECEIPT for DISCONNECT`;
    if (opts['disconnect-receipt'] !== 'optional') fail(how);
    console.log(`${lap()}  QUIRK: ${how}`);
  }
  console.log(
    `OK @stomp/stompjs ${stompjsVersion} over ${opts.transport} round trip with ${c.headers.server} ` +
      `in ${(performance.now() - t0).toFixed(0)} ms (includes ${opts.idle} s idle)`,
  );
  process.exit(0);
} catch (e) {
  fail(e.message);
}
