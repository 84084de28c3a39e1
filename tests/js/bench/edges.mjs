// Benchmarks of issue 11's goals ("hardened at the edges"), on real websocket clients:
//
//   waves   RSS at start, at the peak and after N connections (engine.io websocket +
//           socket.io namespace) came and went, three times.
//   big     a 10 MB message over websocket and over polling: close code / session end,
//           what a bystander got, RSS growth.
//   slow    a websocket that stops reading in a busy room: time until it is out of
//           the user list; the others' delivery latency p50/p99 with and without it.
//   flood   100,000 malformed events from one socket: log lines, time until the
//           socket is cut off; a bystander's round-trip p99 before and during.
//
//   cargo build --release
//   ILIAS_CHAT_BIN=target/release/ilias-chat node tests/js/bench/edges.mjs [waves|big|slow|flood|all] [connections]
//
// Bounded: at most 19,000 connections (fd limit of the test machine: 20,000), loopback
// only, 600 s overall.
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import {
  createTestDb, freePort, serverCfg, clientCfg, startServer, iliasGet, connect, sleep,
} from '../harness.mjs';

const WHAT = process.argv[2] ?? 'all';
const CONNECTIONS = Math.min(Number(process.argv[3] ?? 19000), 19000);
const ROOM = 1;
const AUTH = ['bench', 'bench-secret'];

const rssKb = (pid) => {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : NaN;
};
const mb = (kb) => (kb / 1024).toFixed(1);
const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
};

const overall = setTimeout(() => {
  console.error('benchmark took longer than 600 s');
  process.exit(2);
}, 600000);

async function withServer(overrides, fn) {
  const db = await createTestDb(9);
  await db.query(`INSERT INTO chatroom_settings (room_id, object_id) VALUES (${ROOM}, 1)`);
  const server = await startServer(
    { ...serverCfg(await freePort()), log_level: 'info', ...overrides },
    [clientCfg('bench', AUTH[0], AUTH[1], db)],
  );
  try {
    return await fn(server, db);
  } finally {
    await server.stop();
  }
}

/** A browser in the room: Connect, EnterPrivateRoom, socket, login, enterRoom. */
async function browser(server, user) {
  await iliasGet(`${server.baseUrl}/backend/Connect/bench/${ROOM}/${user}`, AUTH);
  await iliasGet(`${server.baseUrl}/backend/EnterPrivateRoom/bench/${ROOM}/${user}`, AUTH);
  const socket = await connect(server.baseUrl, '/bench', { transports: ['websocket'] });
  const entered = new Promise((resolve) => socket.once('private_room_entered', resolve));
  socket.once('loggedIn', () => socket.emit('enterRoom', ROOM));
  socket.emit('login', `user${user}`, user);
  await entered;
  return socket;
}

/** One raw websocket that connects to the namespace; resolves once connected. */
function rawSocket(port, localAddress) {
  return new Promise((resolve, reject) => {
    // Each wave from its own loopback address: the ports of the previous one may
    // still be in TIME_WAIT.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { localAddress });
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('0')) ws.send('40/bench,');
      else if (text.startsWith('40/bench,')) resolve(ws);
      else if (text === '2') ws.send('3');
    });
    ws.on('error', reject);
  });
}

async function waves() {
  return withServer({}, async (server) => {
    const pid = server.child.pid;
    await sleep(1000);
    const start = rssKb(pid);
    console.log(`waves: ${CONNECTIONS} connections each; RSS at start ${mb(start)} MB`);
    for (let wave = 1; wave <= 3; wave++) {
      const t0 = performance.now();
      const sockets = [];
      for (let i = 0; i < CONNECTIONS; i += 500) {
        const batch = [];
        for (let j = i; j < Math.min(CONNECTIONS, i + 500); j++) batch.push(rawSocket(server.port, `127.0.0.${1 + wave}`));
        sockets.push(...(await Promise.all(batch)));
      }
      const openMs = performance.now() - t0;
      const peak = rssKb(pid);
      const closed = sockets.map((ws) => new Promise((r) => { ws.once('close', r); ws.close(); }));
      await Promise.all(closed);
      const closedAt = performance.now();
      // The server still ends its side of thousands of sessions; give it 30 s.
      let after = rssKb(pid);
      let settledMs = 0;
      for (let s = 0; s < 30; s++) {
        await sleep(1000);
        const now = rssKb(pid);
        if (now < after) settledMs = performance.now() - closedAt;
        after = Math.min(after, now);
      }
      console.log(
        `  wave ${wave}: all open in ${(openMs / 1000).toFixed(1)} s, RSS peak ${mb(peak)} MB, ` +
          `after closing ${mb(after)} MB (${(((after - start) / start) * 100).toFixed(0)} % over start; ` +
          `reached ${(settledMs / 1000).toFixed(0)} s after the last close)`,
      );
    }
  });
}

async function big() {
  return withServer({}, async (server, db) => {
    const pid = server.child.pid;
    const bystander = await browser(server, 2000);
    let delivered = 0;
    bystander.on('message', () => delivered++);
    for (const transport of ['websocket', 'polling']) {
      const sender = await (async () => {
        await iliasGet(`${server.baseUrl}/backend/Connect/bench/${ROOM}/2001`, AUTH);
        await iliasGet(`${server.baseUrl}/backend/EnterPrivateRoom/bench/${ROOM}/2001`, AUTH);
        const s = await connect(server.baseUrl, '/bench', { transports: [transport] });
        const entered = new Promise((resolve) => s.once('private_room_entered', resolve));
        s.once('loggedIn', () => s.emit('enterRoom', ROOM));
        s.emit('login', 'user2001', 2001);
        await entered;
        return s;
      })();
      await sleep(500);
      const before = rssKb(pid);
      let code = 'none';
      if (transport === 'websocket') {
        sender.io.engine.transport.ws.addEventListener('close', (e) => (code = e.code));
      }
      const gone = new Promise((r) => sender.once('disconnect', r));
      const t0 = performance.now();
      sender.emit('message', { content: 'x'.repeat(10_000_000), format: {} }, ROOM);
      await Promise.race([gone, sleep(20000)]);
      const closeMs = performance.now() - t0;
      await sleep(2000);
      const after = rssKb(pid);
      const [rows] = await db.conn.query('SELECT COUNT(*) AS n FROM chatroom_history WHERE LENGTH(message) > 100000');
      console.log(
        `big (${transport}): closed after ${closeMs.toFixed(0)} ms` +
          (transport === 'websocket' ? ` with code ${code}` : '') +
          `, delivered ${delivered}, stored ${rows[0].n}, RSS ${mb(before)} → ${mb(after)} MB (+${mb(after - before)})`,
      );
      sender.close();
    }
    bystander.close();
  });
}

/** Latency of room messages as the readers see them, for `seconds`, one sender. */
async function roomLatency(sender, readers, seconds, rate) {
  const latencies = [];
  latencies.sentAt = [];
  const handlers = readers.map((s) => {
    const h = (m) => {
      const sent = Number(m.content);
      if (Number.isFinite(sent)) {
        latencies.push(Date.now() - sent);
        latencies.sentAt.push(sent);
      }
    };
    s.on('message', h);
    return [s, h];
  });
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    sender.emit('message', { content: String(Date.now()), format: {} }, ROOM);
    await sleep(1000 / rate);
  }
  await sleep(500);
  for (const [s, h] of handlers) s.off('message', h);
  return latencies;
}

async function slow() {
  return withServer({}, async (server) => {
    const readers = [];
    for (let i = 0; i < 20; i++) readers.push(await browser(server, 3000 + i));
    const sender = await browser(server, 2999);
    const base = await roomLatency(sender, readers, 5, 100);
    const slowOne = await browser(server, 3999);
    slowOne.io.engine.transport.ws._socket.pause();
    const t0 = Date.now();
    let goneMs = null;
    readers[0].on('userlist', (list) => {
      if (goneMs === null && !Object.keys(list.users ?? {}).includes('3999')) goneMs = Date.now() - t0;
    });
    // A busy room: 3 KB messages at 100/s (the non-reader's buffers fill in seconds).
    const filler = 'z'.repeat(3000);
    const busy = (async () => {
      while (goneMs === null && Date.now() - t0 < 90000) {
        sender.emit('message', { content: `${Date.now()}${filler}`.slice(0, 3000), format: {} }, ROOM);
        await sleep(10);
      }
    })();
    const during = await roomLatency(sender, readers, 20, 100);
    await busy;
    const expected = 20 * 100 * readers.length;
    console.log(
      `slow: non-reading websocket out of the user list after ${goneMs === null ? '>90000' : goneMs} ms ` +
        `(write_timeout 30 s); others' latency p50/p99 ${pct(base, 50)}/${pct(base, 99)} ms before, ` +
        `${pct(during, 50)}/${pct(during, 99)} ms meanwhile; ${during.length} of about ${expected} timed deliveries`,
    );
    for (const s of [...readers, sender, slowOne]) s.close();
  });
}

async function flood() {
  return withServer({}, async (server) => {
    const a = await browser(server, 4000);
    const b = await browser(server, 4001);
    await iliasGet(`${server.baseUrl}/backend/Connect/bench/${ROOM}/4666`, AUTH);
    await iliasGet(`${server.baseUrl}/backend/EnterPrivateRoom/bench/${ROOM}/4666`, AUTH);
    const child = spawn(process.execPath, [new URL('./flooder.mjs', import.meta.url).pathname, server.baseUrl, '100000'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = [];
    let notify = () => {};
    child.stdout.on('data', (d) => {
      lines.push(...d.toString().trim().split('\n'));
      notify();
    });
    const line = async (prefix) => {
      for (;;) {
        const hit = lines.find((l) => l.startsWith(prefix));
        if (hit) return hit;
        await new Promise((r) => (notify = r));
      }
    };
    await line('ready');
    const base = await roomLatency(a, [b], 5, 100);
    const linesBefore = server.stderr().split('\n').length;
    const t0 = Date.now();
    child.stdin.write('go\n');
    const [all, cut] = await Promise.all([roomLatency(a, [b], 10, 100), line('cut')]);
    const cutMs = Number(cut.split(' ')[1]);
    // Only what was sent while the flood lasted.
    const during = all.filter((_, i) => all.sentAt[i] <= t0 + cutMs);
    await sleep(1000);
    const logLines = server.stderr().split('\n').length - linesBefore;
    console.log(
      `flood: 100,000 malformed events → ${logLines} log lines, socket cut off after ${cutMs} ms; ` +
        `bystander latency p50/p99 ${pct(base, 50)}/${pct(base, 99)} ms before, ${pct(during, 50)}/${pct(during, 99)} ms during (${during.length} samples)`,
    );
    for (const s of [a, b]) s.close();
    child.kill();
  });
}

const runs = { waves, big, slow, flood };
for (const [name, run] of Object.entries(runs)) {
  if (WHAT === 'all' || WHAT === name) await run();
}
clearTimeout(overall);
process.exit(0);
