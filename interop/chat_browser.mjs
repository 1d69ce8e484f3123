// The chat page of examples/chat_broker in a real browser: headless Chromium driven by
// puppeteer-core (npm, pinned in package-lock.json; install with setup-clients.sh). This script
// starts chat_broker itself, on a WebSocket port it picks, so that it can kill it and start it
// again on the same port.
//
//   1. chat: two pages (two browser contexts, alice and bob) open http://127.0.0.1:PORT/, join
//      room 5 and each send a message; each page shows both, with the sender the server stamped
//      (.who) and its time (.time, HH:MM:SS).
//   2. restart: chat_broker killed (SIGKILL, by its PID) and started again on the same port; both
//      pages show "disconnected, reconnecting", reconnect by themselves (stompjs reconnectDelay,
//      the page subscribes again on connect), and chat again: each new message is seen by both,
//      once.
//   3. origin: a page from another origin (a second HTTP server on another port) opens a
//      WebSocket to ws://127.0.0.1:PORT/ws: the handshake gets 403 and the socket never opens;
//      the same code from the chat page's own origin opens it (the control).
//
// With --relay URL (and --relay-login, --relay-passcode, --relay-host, or RELAY_URL, RELAY_LOGIN,
// RELAY_PASSCODE, RELAY_HOST) the relay mode runs instead:
//   1. relay chat: two chat_broker processes A and B, both relaying to the broker at URL
//      (RabbitMQ); alice's page on A, bob's page on B, both in room 5. Once each page's
//      subscription is in the external broker (a barrier: a SEND with a receipt through the
//      page's own STOMP client; the relay answers it only after the external broker did, and
//      handles each client's frames in order), each sends a message: both pages show both, once,
//      with the sender and time stamped by the sender's chat_broker.
//   2. relay refused: a third chat_broker relaying to stomp://127.0.0.1:1 (nothing there): carol's
//      page there shows the ERROR in its log (p.error "error: relay connection lost"), not only
//      for an instant in the status line.
//
// The page loads @stomp/stompjs from cdn.jsdelivr.net; every request outside 127.0.0.1 is
// intercepted: that one is answered with node_modules/@stomp/stompjs/bundles/stomp.umd.min.js, the
// others are aborted (CI has no internet). Prints one line per step with timings and a final
// "result: ..." line; exit 0 on success, 1 with "FAIL: reason" (then the pages' console messages and
// the broker's output), 2 on bad arguments.
//
//   node chat_browser.mjs --broker ../target/debug/examples/chat_broker
//   CHROMIUM=/path/to/chrome node chat_browser.mjs --broker ... [--chromium PATH] [--timeout 100]
//     [--down-ms 2500] [--verbose yes]
//   node chat_browser.mjs --broker ... --relay stomp://127.0.0.1:61613 --relay-login guest \
//     --relay-passcode guest --relay-host /
import puppeteer from 'puppeteer-core';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

const CDN_STOMPJS = 'https://cdn.jsdelivr.net/npm/@stomp/stompjs@7.5.0/bundles/stomp.umd.min.js';
const LOCAL_STOMPJS = new URL('./node_modules/@stomp/stompjs/bundles/stomp.umd.min.js', import.meta.url);
const ROOM = '5';

const opts = {
  broker: '',
  chromium: process.env.CHROMIUM || '/usr/bin/chromium',
  timeout: '100', // the whole run, seconds
  'down-ms': '2500', // how long chat_broker stays dead in step 2 (stompjs retries every 1 s)
  verbose: 'no', // yes: the logs below also on success
  relay: process.env.RELAY_URL || '', // the relay mode: the external broker's URL
  'relay-login': process.env.RELAY_LOGIN || '',
  'relay-passcode': process.env.RELAY_PASSCODE || '',
  'relay-host': process.env.RELAY_HOST || '',
  'dead-relay': 'stomp://127.0.0.1:1', // relay mode, step 2: where nothing listens
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
if (!opts.broker) {
  console.error('usage: node chat_browser.mjs --broker PATH_TO_chat_broker [--chromium PATH] [--timeout SECONDS]');
  process.exit(2);
}

const t0 = performance.now();
const now = () => performance.now();
const stamp = () => `+${((now() - t0) / 1000).toFixed(3)}s`;
const ms = (a, b = now()) => `${Math.round(b - a)} ms`;
const sleep = (n) => new Promise((r) => setTimeout(r, n));
const nonce = Math.random().toString(36).slice(2, 8);

class Failure extends Error {}
const fail = (msg) => {
  throw new Failure(msg);
};
// p, or a Failure naming `what` after `limit` ms.
const within = (p, limit, what) => {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Failure(`${what}: nothing within ${limit} ms`)), limit);
    }),
  ]).finally(() => clearTimeout(timer));
};

// ---- what the report prints on failure ----------------------------------------------------------
const brokerLog = []; // every run's output
const pageLogs = new Map(); // page name -> lines

// ---- chat_broker: started, killed and restarted by PID -----------------------------------------
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let broker = null; // the last one started: { child, run, exited: Promise }
const brokers = []; // every one started (the relay mode runs several), for the cleanup
let brokerRuns = 0;

// The arguments that make chat_broker relay to `url`.
function relayArgs(url) {
  const args = ['--relay', url];
  for (const k of ['login', 'passcode', 'host']) if (opts[`relay-${k}`]) args.push(`--relay-${k}`, opts[`relay-${k}`]);
  return args;
}

// Starts chat_broker with its WebSocket/HTTP listener on `port` (and `extra` arguments); resolves
// with the page's URL once it printed it. A port still held by the killed run is retried for up
// to 5 s.
async function startBroker(port, extra = [], label = '') {
  if (!existsSync(opts.broker)) fail(`no chat_broker at ${opts.broker}`);
  const deadline = now() + 5000;
  for (let attempt = 1; ; attempt++) {
    const run = ++brokerRuns;
    const child = spawn(opts.broker, ['--tcp', '127.0.0.1:0', '--ws', `127.0.0.1:${port}`, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const lines = [];
    let wake = () => {};
    const collect = (stream) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          lines.push(line);
          brokerLog.push(`${stamp()} [run ${run}${label ? ` ${label}` : ''}, pid ${child.pid}] ${line}`);
          wake();
        }
      });
    };
    collect(child.stdout);
    collect(child.stderr);
    child.on('error', (e) => brokerLog.push(`${stamp()} [run ${run}] cannot start: ${e.message}`));
    broker = { child, run, exited };
    brokers.push(broker);
    const url = await within(
      new Promise((resolve) => {
        const check = () => {
          const m = lines.map((l) => l.match(/^chat_broker: the chat page on (http:\/\/\S+)$/)).find(Boolean);
          if (m) resolve(m[1]);
        };
        wake = check;
        check();
        exited.then(() => resolve(null));
      }),
      10000,
      `chat_broker run ${run} printing its page URL`,
    );
    if (url) return url;
    const status = await exited;
    broker = null;
    const why = lines.filter((l) => l.trim()).slice(-1)[0] || `exit ${JSON.stringify(status)}`;
    if (/cannot listen/.test(why) && now() < deadline) {
      brokerLog.push(`${stamp()} port ${port} not free yet (attempt ${attempt}), retrying`);
      await sleep(200);
      continue;
    }
    fail(`chat_broker did not start on port ${port}: ${why}`);
  }
}

async function killBroker(signal = 'SIGKILL', which = broker) {
  if (!which) return null;
  const { child, exited } = which;
  if (which === broker) broker = null;
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  return within(exited, 5000, `chat_broker pid ${child.pid} exiting after ${signal}`);
}

// ---- a second origin: a tiny HTTP server on another port ----------------------------------------
function startForeignServer() {
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>another origin</title><p>not the chat page</p>');
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// ---- the browser ----------------------------------------------------------------------------------
const stompjsBundle = readFileSync(LOCAL_STOMPJS);
let browser = null;
let foreign = null;

async function openPage(context, name, allowedOrigins) {
  const page = await context.newPage();
  const lines = [];
  pageLogs.set(name, lines);
  const note = (l) => lines.push(`${stamp()} ${l}`);
  page.on('console', (m) => note(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => note(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => note(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => r.status() >= 400 && note(`response ${r.status()} for ${r.url()}`));
  page.on('framenavigated', (f) => note(`frame navigated${f === page.mainFrame() ? ' (main)' : ''}: ${f.url()}`));
  page.on('framedetached', (f) => note(`frame detached: ${f.url()}`));
  page.on('error', (e) => note(`page crashed: ${e.message}`));
  page.on('close', () => note('page closed'));
  // The browser's own log (WebSocket handshake failures, blocked requests) and the WebSocket
  // handshakes (their HTTP status), which puppeteer's events do not carry.
  const cdp = await page.createCDPSession();
  const handshakes = []; // { url, status }
  const wsUrls = new Map();
  cdp.on('Log.entryAdded', ({ entry }) => note(`browser ${entry.level}: ${entry.text}`));
  cdp.on('Network.webSocketCreated', ({ requestId, url }) => wsUrls.set(requestId, url));
  cdp.on('Network.webSocketHandshakeResponseReceived', ({ requestId, response }) => {
    handshakes.push({ url: wsUrls.get(requestId), status: response.status });
    note(`websocket handshake ${wsUrls.get(requestId)}: ${response.status} ${response.statusText}`);
  });
  cdp.on('Network.webSocketClosed', ({ requestId }) => note(`websocket closed: ${wsUrls.get(requestId)}`));
  await cdp.send('Log.enable');
  await cdp.send('Network.enable');
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const url = req.url();
    if (url === CDN_STOMPJS) {
      note(`intercepted ${url}: answered with ${LOCAL_STOMPJS.pathname}`);
      req.respond({ status: 200, contentType: 'application/javascript; charset=utf-8', body: stompjsBundle });
    } else if (allowedOrigins.some((o) => url.startsWith(o + '/')) || url.startsWith('data:')) {
      req.continue();
    } else {
      note(`aborted ${url} (no internet here)`);
      req.abort('blockedbyclient');
    }
  });
  page.setDefaultTimeout(10000);
  return { name, page, lines, handshakes };
}

// Runs fn(page); once more (noted in the page's log) when puppeteer reports its frame detached,
// which happened once in 51 runs here with nothing navigating (Chromium 156, puppeteer-core 24.43).
async function onPage(p, what, fn) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(p.page);
    } catch (e) {
      if (attempt < 3 && /detached/i.test(e.message)) {
        p.lines.push(`${stamp()} puppeteer: ${e.message} (reading ${what}; page at ${p.page.url()}), retrying`);
        await sleep(200);
        continue;
      }
      fail(`${p.name}: cannot read ${what}: ${e.message} (page at ${p.page.url()})`);
    }
  }
}
const statusOf = (p) => onPage(p, '#status', (page) => page.$eval('#status', (e) => e.textContent));
async function waitStatus(p, text, limit, what) {
  try {
    await p.page.waitForFunction((t) => document.querySelector('#status')?.textContent === t, { timeout: limit, polling: 20 }, text);
  } catch (e) {
    fail(`${p.name}: ${what}: status still "${await statusOf(p).catch(() => '?')}" after ${limit} ms, expected "${text}"`);
  }
}
// The page's messages: [{ time, who, text }].
const messagesOf = (p) =>
  onPage(p, '#log', (page) => page.$$eval('#log p.message', (ps) =>
    ps.map((e) => ({
      time: e.querySelector('.time')?.textContent ?? null,
      who: e.querySelector('.who')?.textContent ?? null,
      text: e.querySelector('.text')?.textContent ?? null,
    })),
  ));

async function join(p, name) {
  const room = await p.page.$eval('#room', (e) => e.value);
  if (room !== ROOM) fail(`${p.name}: the room field defaults to "${room}", expected "${ROOM}"`);
  await p.page.type('#name', name);
  await p.page.click('#join button');
  await waitStatus(p, `connected to room ${ROOM}`, 10000, 'joining');
}

async function say(p, text) {
  await p.page.waitForFunction(() => !document.querySelector('#send').disabled, { timeout: 5000, polling: 20 }).catch(() =>
    fail(`${p.name}: the send button is still disabled`),
  );
  await p.page.type('#text', text);
  await p.page.click('#send');
}

// Waits until every page shows each of `expected` ({ who, text }) exactly once, stamped with a time.
async function seenByAll(pages, expected, limit, what) {
  const deadline = now() + limit;
  for (;;) {
    let missing = null;
    for (const p of pages) {
      const got = await messagesOf(p);
      for (const e of expected) {
        const same = got.filter((m) => m.text === e.text);
        if (same.length > 1) fail(`${what}: ${p.name} shows "${e.text}" ${same.length} times: ${JSON.stringify(same)}`);
        if (same.length === 0) {
          missing = `${p.name} does not show "${e.text}" (it shows ${JSON.stringify(got)})`;
          continue;
        }
        const [m] = same;
        if (m.who !== e.who) fail(`${what}: ${p.name} shows "${e.text}" from "${m.who}", expected "${e.who}"`);
        if (!m.time) fail(`${what}: ${p.name} shows "${e.text}" with no time`);
        if (!/^\d\d:\d\d:\d\d$/.test(m.time)) fail(`${what}: ${p.name} shows "${e.text}" with time "${m.time}", not HH:MM:SS`);
      }
    }
    if (!missing) return;
    if (now() > deadline) fail(`${what}: after ${limit} ms ${missing}`);
    await sleep(25);
  }
}

// Opens a WebSocket from the page with the STOMP subprotocol; resolves with what happened.
const probeSocket = (p, url) =>
  p.page.evaluate(
    (u) =>
      new Promise((resolve) => {
        const events = [];
        const ws = new WebSocket(u, ['v12.stomp']);
        const done = () => resolve({ origin: location.origin, events, protocol: ws.protocol });
        ws.onopen = () => {
          events.push('open');
          ws.close(1000);
        };
        ws.onerror = () => events.push('error');
        ws.onclose = (e) => {
          events.push(`close ${e.code}`);
          done();
        };
        setTimeout(() => {
          events.push('no close within 5 s');
          done();
        }, 5000);
      }),
    url,
  );

// ---- the run ----------------------------------------------------------------------------------------
async function main() {
  if (!existsSync(opts.chromium)) fail(`no Chromium at ${opts.chromium} (set CHROMIUM or --chromium)`);
  const port = await freePort();
  let t = now();
  const pageUrl = await startBroker(port);
  const origin = pageUrl.replace(/\/$/, '');
  const wsUrl = `ws://127.0.0.1:${port}/ws`;
  console.log(`${stamp()} chat_broker pid ${broker.child.pid} serving ${pageUrl} (started in ${ms(t)})`);

  t = now();
  browser = await within(
    puppeteer.launch({
      executablePath: opts.chromium,
      headless: true,
      // CI runs as root: Chromium's sandbox needs an unprivileged user.
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
      timeout: 30000,
    }),
    35000,
    'launching Chromium',
  );
  const version = await browser.version();
  console.log(`${stamp()} ${version} (${opts.chromium}) launched in ${ms(t)}`);

  // 1. two pages chat in room 5.
  t = now();
  const alice = await openPage(await browser.createBrowserContext(), 'alice', [origin]);
  const bob = await openPage(await browser.createBrowserContext(), 'bob', [origin]);
  const pages = [alice, bob];
  for (const p of pages) {
    await p.page.goto(pageUrl, { waitUntil: 'load', timeout: 15000 });
    const loaded = await p.page.evaluate(() => typeof StompJs !== 'undefined' && typeof StompJs.Client === 'function');
    if (!loaded) fail(`${p.name}: StompJs not defined after loading the page (the intercepted CDN script)`);
  }
  const tLoaded = now();
  await Promise.all(pages.map((p) => join(p, p.name)));
  const tJoined = now();
  const first = [
    { who: 'alice', text: `hello from alice ${nonce}` },
    { who: 'bob', text: `hi alice, bob here ${nonce}` },
  ];
  await say(alice, first[0].text);
  await say(bob, first[1].text);
  await seenByAll(pages, first, 10000, 'step 1');
  console.log(
    `${stamp()} step 1 chat: alice and bob joined room ${ROOM}, each sees both messages with sender and time ` +
      `(pages loaded in ${ms(t, tLoaded)}, joined in ${ms(tLoaded, tJoined)}, messages in ${ms(tJoined)})`,
  );
  const step1 = now() - tJoined;

  // 2. chat_broker killed and restarted on the same port.
  const killedPid = broker.child.pid;
  const tKill = now();
  const exit = await killBroker('SIGKILL');
  if (exit.signal !== 'SIGKILL') fail(`chat_broker pid ${killedPid} ended with ${JSON.stringify(exit)}, not SIGKILL`);
  await Promise.all(pages.map((p) => waitStatus(p, 'disconnected, reconnecting', 5000, 'after the kill')));
  const tDown = now();
  for (const p of pages) {
    if (!(await onPage(p, '#send', (page) => page.$eval('#send', (e) => e.disabled)))) fail(`${p.name}: the send button is enabled while disconnected`);
  }
  await sleep(Number(opts['down-ms']));
  // Still waiting to reconnect, with no error shown, while nothing listens.
  for (const p of pages) {
    const s = await statusOf(p);
    if (s !== 'disconnected, reconnecting') fail(`${p.name}: status "${s}" while chat_broker is down`);
  }
  const tRestart = now();
  await startBroker(port);
  const tUp = now();
  await Promise.all(pages.map((p) => waitStatus(p, `connected to room ${ROOM}`, 10000, 'reconnecting after the restart')));
  const tReconnected = now();
  const second = [
    { who: 'alice', text: `alice again after the restart ${nonce}` },
    { who: 'bob', text: `bob again after the restart ${nonce}` },
  ];
  await say(alice, second[0].text);
  await say(bob, second[1].text);
  await seenByAll(pages, [...first, ...second], 10000, 'step 2');
  for (const p of pages) {
    const n = (await messagesOf(p)).length;
    if (n !== 4) fail(`step 2: ${p.name} shows ${n} messages, expected 4: ${JSON.stringify(await messagesOf(p))}`);
  }
  console.log(
    `${stamp()} step 2 restart: chat_broker pid ${killedPid} killed (SIGKILL), both pages showed "disconnected, reconnecting" ` +
      `after ${ms(tKill, tDown)}; restarted on port ${port} as pid ${broker.child.pid} after ${ms(tKill, tRestart)} down ` +
      `(listening in ${ms(tRestart, tUp)}); both pages reconnected ${ms(tUp, tReconnected)} later; ` +
      `new messages seen by both, once, in ${ms(tReconnected)}`,
  );
  const reconnectMs = tReconnected - tUp;

  // 3. another origin cannot open the WebSocket; the page's own origin can.
  t = now();
  foreign = await startForeignServer();
  const foreignOrigin = `http://127.0.0.1:${foreign.address().port}`;
  const eve = await openPage(await browser.createBrowserContext(), 'eve (other origin)', [foreignOrigin, origin]);
  await eve.page.goto(foreignOrigin + '/', { waitUntil: 'load', timeout: 15000 });
  const refused = await probeSocket(eve, wsUrl);
  if (refused.origin !== foreignOrigin) fail(`step 3: the probe ran in ${refused.origin}, not ${foreignOrigin}`);
  if (refused.events.includes('open')) fail(`step 3: a page from ${foreignOrigin} opened ${wsUrl}: ${JSON.stringify(refused)}`);
  if (!refused.events.some((e) => e.startsWith('close'))) fail(`step 3: the socket from ${foreignOrigin} neither opened nor closed: ${JSON.stringify(refused)}`);
  // The handshake's status, as Chromium saw it (CDP); its log line names it too.
  await sleep(100);
  const status = eve.handshakes.find((h) => h.url === wsUrl)?.status;
  const logged = eve.lines.find((l) => /WebSocket connection to .* failed/.test(l));
  if (status !== undefined && status !== 403) fail(`step 3: the handshake from ${foreignOrigin} got ${status}, expected 403`);
  if (status === undefined && !(logged && /403/.test(logged)))
    fail(`step 3: no 403 seen for the handshake from ${foreignOrigin} (browser log: ${logged ?? 'nothing'})`);
  const allowed = await probeSocket(alice, wsUrl);
  if (!allowed.events.includes('open') || allowed.protocol !== 'v12.stomp')
    fail(`step 3: the control from the page's own origin ${allowed.origin} did not open: ${JSON.stringify(allowed)}`);
  console.log(
    `${stamp()} step 3 origin: a page from ${foreignOrigin} got ${status ?? '403 (browser log)'} on ${wsUrl} ` +
      `(events ${refused.events.join(', ')}); the same from ${origin} opened it (subprotocol ${allowed.protocol}) (${ms(t)})`,
  );
  if (logged) console.log(`${stamp()}   browser: ${logged.replace(/^\+\S+ (console\.\w+|browser \w+): /, '')}`);

  // The chat pages are still connected (the probe did not disturb them).
  for (const p of pages) {
    const s = await statusOf(p);
    if (s !== `connected to room ${ROOM}`) fail(`${p.name}: status "${s}" at the end`);
  }
  console.log(
    `result: chat ${Math.round(step1)} ms, reconnect after restart ${Math.round(reconnectMs)} ms, ` +
      `other origin refused (${status ?? 403}), total ${((now() - t0) / 1000).toFixed(1)} s`,
  );
}

// ---- the relay mode ------------------------------------------------------------------------------

// Resolves once the page's STOMP client got the RECEIPT of a SEND to a topic nobody subscribes:
// the relay forwards the page's frames in order over the page's own relay connection and answers
// the receipt once the external broker did, so by then the external broker has the page's room
// subscription too. Uses the page's `client` (a top-level `let` of its script).
async function relayBarrier(p) {
  const id = `barrier-${p.name}-${nonce}`;
  const got = await onPage(p, 'a receipt through the page\'s client', (page) =>
    page.evaluate(
      (id, dest) =>
        new Promise((resolve) => {
          if (typeof client === 'undefined' || !client || !client.connected) return resolve('not connected');
          const timer = setTimeout(() => resolve('no receipt within 10 s'), 10000);
          client.watchForReceipt(id, () => {
            clearTimeout(timer);
            resolve('receipt');
          });
          client.publish({ destination: dest, body: 'barrier', headers: { receipt: id } });
        }),
      id,
      `/topic/relay-barrier.${nonce}`,
    ),
  );
  if (got !== 'receipt') fail(`${p.name}: the barrier SEND through the relay: ${got}`);
}

// The texts of the page's error lines (p.error).
const errorsOf = (p) => onPage(p, '#log', (page) => page.$$eval('#log p.error', (ps) => ps.map((e) => e.textContent)));

async function relayMain() {
  if (!existsSync(opts.chromium)) fail(`no Chromium at ${opts.chromium} (set CHROMIUM or --chromium)`);
  let t = now();
  const [portA, portB] = [await freePort(), await freePort()];
  const pageA = await startBroker(portA, relayArgs(opts.relay), 'A');
  const pidA = broker.child.pid;
  const pageB = await startBroker(portB, relayArgs(opts.relay), 'B');
  const pidB = broker.child.pid;
  console.log(`${stamp()} chat_broker A pid ${pidA} serving ${pageA}, B pid ${pidB} serving ${pageB}, both relaying to ${opts.relay} (started in ${ms(t)})`);

  t = now();
  browser = await within(
    puppeteer.launch({
      executablePath: opts.chromium,
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
      timeout: 30000,
    }),
    35000,
    'launching Chromium',
  );
  console.log(`${stamp()} ${await browser.version()} (${opts.chromium}) launched in ${ms(t)}`);

  // 1. alice on A, bob on B, in room 5, through the external broker.
  t = now();
  const alice = await openPage(await browser.createBrowserContext(), 'alice (A)', [pageA.replace(/\/$/, '')]);
  const bob = await openPage(await browser.createBrowserContext(), 'bob (B)', [pageB.replace(/\/$/, '')]);
  const pages = [alice, bob];
  for (const [p, url] of [[alice, pageA], [bob, pageB]]) {
    await p.page.goto(url, { waitUntil: 'load', timeout: 15000 });
    const loaded = await p.page.evaluate(() => typeof StompJs !== 'undefined' && typeof StompJs.Client === 'function');
    if (!loaded) fail(`${p.name}: StompJs not defined after loading the page (the intercepted CDN script)`);
  }
  const tLoaded = now();
  await Promise.all([join(alice, 'alice'), join(bob, 'bob')]);
  const tJoined = now();
  await Promise.all(pages.map(relayBarrier));
  const tReady = now();
  const chat = [
    { who: 'alice', text: `alice on A ${nonce}` },
    { who: 'bob', text: `bob on B ${nonce}` },
  ];
  await say(alice, chat[0].text);
  await say(bob, chat[1].text);
  await seenByAll(pages, chat, 10000, 'relay chat');
  await sleep(300); // a duplicate would come about as fast as the message itself
  for (const p of pages) {
    const got = await messagesOf(p);
    if (got.length !== 2) fail(`relay chat: ${p.name} shows ${got.length} messages, expected 2: ${JSON.stringify(got)}`);
    const errors = await errorsOf(p);
    if (errors.length) fail(`relay chat: ${p.name} shows errors: ${JSON.stringify(errors)}`);
  }
  const chatMs = now() - tReady;
  console.log(
    `${stamp()} step 1 relay chat: alice's page on A and bob's page on B, room ${ROOM}, each sees both messages once ` +
      `with sender and time (pages loaded in ${ms(t, tLoaded)}, joined in ${ms(tLoaded, tJoined)}, ` +
      `subscriptions in the external broker ${ms(tJoined, tReady)} later, messages in ${Math.round(chatMs)} ms)`,
  );

  // 2. a chat_broker whose relay has nothing to talk to: the page keeps the ERROR in its log.
  t = now();
  const portC = await freePort();
  const pageC = await startBroker(portC, relayArgs(opts['dead-relay']), 'C');
  const carol = await openPage(await browser.createBrowserContext(), 'carol (C)', [pageC.replace(/\/$/, '')]);
  await carol.page.goto(pageC, { waitUntil: 'load', timeout: 15000 });
  await carol.page.type('#name', 'carol');
  await carol.page.click('#join button');
  try {
    await carol.page.waitForFunction(() => document.querySelectorAll('#log p.error').length > 0, { timeout: 10000, polling: 20 });
  } catch (e) {
    fail(`relay refused: carol's page shows no error line within 10 s (status "${await statusOf(carol).catch(() => '?')}")`);
  }
  const tError = now();
  const errors = await errorsOf(carol);
  if (!/^error: relay connection lost$/.test(errors[0]))
    fail(`relay refused: carol's first error line is ${JSON.stringify(errors[0])}, expected "error: relay connection lost"`);
  if ((await messagesOf(carol)).length) fail(`relay refused: carol's page shows messages: ${JSON.stringify(await messagesOf(carol))}`);
  // It stays in the log while stompjs goes on reconnecting (each attempt gets the same ERROR).
  await sleep(1500);
  const later = await errorsOf(carol);
  if (!later.includes(errors[0])) fail(`relay refused: the error line is gone: ${JSON.stringify(later)}`);
  const status = await statusOf(carol);
  console.log(
    `${stamp()} step 2 relay refused: chat_broker C relaying to ${opts['dead-relay']}: carol's page shows "${errors[0]}" ` +
      `in its log ${ms(t, tError)} after joining; 1.5 s later ${later.length} error line(s), status "${status}"`,
  );
  console.log(
    `result: relay chat through ${opts.relay} between two chat_brokers ${Math.round(chatMs)} ms, ` +
      `relay refused shown in the log, total ${((now() - t0) / 1000).toFixed(1)} s`,
  );
}

async function cleanup() {
  if (browser) {
    const proc = browser.process();
    await within(browser.close(), 10000, 'closing Chromium').catch(() => {
      if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    });
  }
  if (foreign) foreign.close();
  for (const b of brokers) await killBroker('SIGTERM', b).catch(() => {});
}

const overall = setTimeout(() => {
  finish(new Failure(`no result within --timeout ${opts.timeout} s`));
}, Number(opts.timeout) * 1000);

let finished = false;
async function finish(err) {
  if (finished) return;
  finished = true;
  clearTimeout(overall);
  if (err) console.log(`FAIL: ${err instanceof Failure ? err.message : err.stack || err}`);
  if (err || opts.verbose === 'yes') {
    for (const [name, lines] of pageLogs) {
      console.log(`--- page ${name}: console and browser log (${lines.length} lines)`);
      for (const l of lines) console.log(`  ${l}`);
    }
    console.log(`--- chat_broker output (${brokerLog.length} lines)`);
    for (const l of brokerLog) console.log(`  ${l}`);
  }
  await within(cleanup(), 15000, 'cleanup').catch((e) => console.log(`cleanup: ${e.message}`));
  process.exit(err ? 1 : 0);
}

(opts.relay ? relayMain() : main()).then(
  () => finish(null),
  (e) => finish(e),
);
