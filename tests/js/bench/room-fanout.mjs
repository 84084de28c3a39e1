// Load benchmark: one chat room, N browsers (socket.io-client 4.8 over websocket), one
// sender bursting M messages. Prints connection set-up time, delivery throughput,
// per-message latency percentiles, server RSS idle and loaded, and how long the
// write-behind queue needs to store the history rows.
//
//   cargo build --release
//   ILIAS_CHAT_BIN=target/release/ilias-chat node tests/js/bench/room-fanout.mjs [clients] [messages]
//
// Bounded: at most 1000 clients and 20000 messages, loopback only, 120 s overall.
import fs from 'node:fs';
import {
  createTestDb, freePort, serverCfg, clientCfg, startServer, iliasGet, connect, sleep,
} from '../harness.mjs';

const CLIENTS = Math.min(Number(process.argv[2] ?? 100), 1000);
const MESSAGES = Math.min(Number(process.argv[3] ?? 1000), 20000);
const ROOM = 1;
const AUTH = ['bench', 'bench-secret'];

const rssKb = (pid) => {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : NaN;
};
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];

let server;
const overall = setTimeout(() => {
  console.error('benchmark took longer than 120 s');
  server?.child.kill('SIGKILL');
  process.exit(2);
}, 120000);
const db = await createTestDb(9);
await db.query(`INSERT INTO chatroom_settings (room_id, object_id) VALUES (${ROOM}, 1)`);
server = await startServer(
  { ...serverCfg(await freePort()), log_level: 'warning' },
  [clientCfg('bench', AUTH[0], AUTH[1], db)],
);
try {
  const pid = server.child.pid;
  await sleep(500);
  const idle = rssKb(pid);
  const t0 = performance.now();
  const sockets = [];
  for (let i = 0; i < CLIENTS; i++) {
    const user = 1000 + i;
    await iliasGet(`${server.baseUrl}/backend/Connect/bench/${ROOM}/${user}`, AUTH);
    await iliasGet(`${server.baseUrl}/backend/EnterPrivateRoom/bench/${ROOM}/${user}`, AUTH);
    const socket = await connect(server.baseUrl, '/bench', { transports: ['websocket'] });
    const entered = new Promise((resolve) => socket.once('private_room_entered', resolve));
    socket.once('loggedIn', () => socket.emit('enterRoom', ROOM));
    socket.emit('login', `user${user}`, user);
    await entered;
    sockets.push(socket);
  }
  const setupMs = performance.now() - t0;
  await sleep(300);
  const loaded = rssKb(pid);

  const latencies = [];
  let received = 0;
  const expected = CLIENTS * MESSAGES;
  const done = new Promise((resolve) => {
    for (const socket of sockets) {
      socket.on('message', (m) => {
        latencies.push(performance.now() - Number(m.content));
        if (++received === expected) resolve();
      });
    }
  });
  const t1 = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    sockets[0].emit('message', { content: String(performance.now()), format: {} }, ROOM);
  }
  await done;
  const fanoutMs = performance.now() - t1;

  const t2 = performance.now();
  for (;;) {
    const rows = await db.query("SELECT COUNT(*) AS n FROM chatroom_history WHERE message LIKE '%\"type\":\"message\"%'");
    if (Number(rows[0].n) >= MESSAGES) break;
    await sleep(50);
  }
  const storedMs = performance.now() - t1;
  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    clients: CLIENTS,
    messages: MESSAGES,
    deliveries: expected,
    setup_ms: Math.round(setupMs),
    fanout_ms: Math.round(fanoutMs),
    deliveries_per_s: Math.round(expected / (fanoutMs / 1000)),
    latency_ms: { p50: +pct(latencies, 50).toFixed(1), p99: +pct(latencies, 99).toFixed(1), max: +latencies.at(-1).toFixed(1) },
    history_rows_stored_after_ms: Math.round(storedMs),
    waited_for_db_after_delivery_ms: Math.round(performance.now() - t2),
    rss_kb: { idle, with_clients: loaded, per_client: Math.round((loaded - idle) / CLIENTS) },
  }, null, 2));
  for (const socket of sockets) socket.close();
} finally {
  await server.stop();
  await db.drop();
  clearTimeout(overall);
}
