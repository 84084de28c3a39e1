// History benchmark: does chatroom_history / osc_messages keep up with the chat, and
// does a database outage lose anything? Real socket.io-client 4.8 browsers over
// websocket, loopback only, release build, bounded in time (every scenario ends within
// its window plus at most 120 s of draining). Prints one JSON object per run.
//
//   cargo build --release
//   export ILIAS_CHAT_BIN=$PWD/target/release/ilias-chat
//   node tests/js/bench/history.mjs room RATE SECONDS [ROOMS] [BROWSERS_PER_ROOM]
//   node tests/js/bench/history.mjs osc PAIRS RATE SECONDS
//   node tests/js/bench/history.mjs outage kill|stop|restart OUTAGE_SECONDS [RATE]
//
// room: one sender per room sends RATE messages/s in total for SECONDS; the others
//   receive. osc: PAIRS on-screen chat pairs, each a conversation, send RATE messages/s
//   in total (alternating sides). outage: room chat at RATE (default 100) messages/s with
//   a mariadbd of the benchmark's own that is killed (kill -9) or frozen (SIGSTOP) for
//   OUTAGE_SECONDS; `restart` also restarts ilias-chat (SIGTERM, start) in the middle.
// Reported: messages sent, deliveries/s, latency p50/p99 (send to receive), rows written
// at the end of the window, seconds from the end of the window (outage: from the
// database's recovery) until every row is written, rows lost and duplicated, server RSS
// (start, max, end) in MB.
import fs from 'node:fs';
import path from 'node:path';

import {
  clientCfg, connect, createTestDb, freePort, iliasGet, nextEvent, serverCfg, sleep, startServer, tempDir,
} from '../harness.mjs';
import { startThrowawayMariaDb } from '../mariadb.mjs';

const [mode, ...args] = process.argv.slice(2);
const NAME = 'bench';
const AUTH = ['bench', 'bench-secret'];
const rssMb = (pid) => {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
  } catch {
    return NaN;
  }
};
const pct = (sorted, p) => (sorted.length ? +sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))].toFixed(1) : null);

/** RSS samples of the server, once a second. */
function rssSampler(getPid) {
  const samples = [];
  const timer = setInterval(() => {
    const v = rssMb(getPid());
    if (!Number.isNaN(v)) samples.push(v);
  }, 1000);
  return {
    stop() {
      clearInterval(timer);
      return { start: samples[0], max: Math.max(...samples), end: samples.at(-1) };
    },
  };
}

/** Calls `tick(count)` so that `rate` calls per second happen for `seconds`. */
async function paced(rate, seconds, tick) {
  const start = performance.now();
  let sent = 0;
  const total = Math.round(rate * seconds);
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    while (sent < due) tick(sent++);
    await sleep(5);
  }
  return (performance.now() - start) / 1000;
}

async function countRows(db, sql) {
  const rows = await db.query(sql);
  return Number(rows[0].n);
}

/** Polls until `count()` reaches `target`; returns seconds, or null after `limit` s. */
async function drain(count, target, limit = 120) {
  const t0 = performance.now();
  for (;;) {
    let n = -1;
    try {
      n = await count();
    } catch {
      // database restarting
    }
    if (n >= target) return +((performance.now() - t0) / 1000).toFixed(2);
    if (performance.now() - t0 > limit * 1000) return null;
    await sleep(50);
  }
}

async function enterRoom(server, room, user) {
  await iliasGet(`${server.baseUrl}/backend/Connect/${NAME}/${room}/${user}`, AUTH);
  await iliasGet(`${server.baseUrl}/backend/EnterPrivateRoom/${NAME}/${room}/${user}`, AUTH);
  const socket = await connect(server.baseUrl, `/${NAME}`, { transports: ['websocket'] });
  const entered = nextEvent(socket, 'private_room_entered', 20000);
  socket.once('loggedIn', () => socket.emit('enterRoom', room));
  socket.emit('login', `user${user}`, user);
  await entered;
  return socket;
}

const ROOM_ROWS = "SELECT COUNT(*) AS n FROM chatroom_history WHERE message LIKE '%\"type\":\"message\"%'";

async function roomScenario(rate, seconds, rooms = 1, perRoom = 5, dbUrl) {
  const db = await createTestDb(10, dbUrl);
  for (let r = 1; r <= rooms; r++) await db.query(`INSERT INTO chatroom_settings (room_id, object_id) VALUES (${r}, ${r})`);
  const server = await startServer(serverCfg(await freePort(), { log_level: 'warning' }), [clientCfg(NAME, AUTH[0], AUTH[1], db)]);
  const sockets = [];
  try {
    const senders = [];
    const latencies = [];
    let delivered = 0;
    for (let r = 1; r <= rooms; r++) {
      for (let b = 0; b < perRoom; b++) {
        const s = await enterRoom(server, r, r * 1000 + b);
        sockets.push(s);
        if (b === 0) senders.push({ socket: s, room: r });
        else {
          s.on('message', (m) => {
            delivered++;
            latencies.push(performance.now() - Number(m.content));
          });
        }
      }
    }
    await sleep(500);
    const rss = rssSampler(() => server.child.pid);
    const window = await paced(rate, seconds, (i) => {
      const { socket, room } = senders[i % senders.length];
      socket.emit('message', { content: String(performance.now()), format: {} }, room);
    });
    const sent = Math.round(rate * seconds);
    const atEnd = await countRows(db, ROOM_ROWS);
    const drainS = await drain(() => countRows(db, ROOM_ROWS), sent);
    await sleep(500);
    latencies.sort((a, b) => a - b);
    return {
      scenario: `room ${rate}/s × ${seconds} s, ${rooms} room(s) × ${perRoom} browsers`,
      sent,
      window_s: +window.toFixed(2),
      deliveries_per_s: Math.round(delivered / window),
      latency_ms: { p50: pct(latencies, 50), p99: pct(latencies, 99) },
      rows_at_end_of_window: atEnd,
      seconds_to_all_rows_after_window: drainS,
      rows_final: await countRows(db, ROOM_ROWS),
      rss_mb: rss.stop(),
    };
  } finally {
    for (const s of sockets) s.close();
    await server.stop();
    await db.drop();
  }
}

async function oscScenario(pairs, rate, seconds) {
  const db = await createTestDb(10);
  const users = [];
  for (let p = 0; p < pairs * 2; p++) users.push(5000 + p);
  await db.query(
    `INSERT INTO usr_pref (usr_id, keyword, value) VALUES ${users.map((u) => `(${u}, 'chat_osc_accept_msg', 'y')`).join(',')}`,
  );
  const server = await startServer(serverCfg(await freePort(), { log_level: 'warning' }), [clientCfg(NAME, AUTH[0], AUTH[1], db)]);
  const sockets = [];
  try {
    const convs = [];
    const latencies = [];
    let delivered = 0;
    for (let p = 0; p < pairs; p++) {
      const [a, b] = [users[2 * p], users[2 * p + 1]];
      const sa = await connect(server.baseUrl, `/${NAME}-im`, { transports: ['websocket'] });
      const sb = await connect(server.baseUrl, `/${NAME}-im`, { transports: ['websocket'] });
      sockets.push(sa, sb);
      sa.emit('login', a, `u${a}`);
      sb.emit('login', b, `u${b}`);
      await sleep(20);
      const init = nextEvent(sa, 'conversation-init', 10000);
      sa.emit('conversation', [{ id: a, name: `u${a}` }, { id: b, name: `u${b}` }]);
      const conv = (await init).id;
      for (const [s, own] of [[sa, a], [sb, b]]) {
        s.on('message', (m) => {
          if (Number(m.userId) === own) return;
          delivered++;
          latencies.push(performance.now() - Number(m.message));
        });
      }
      convs.push({ conv, sides: [[sa, a], [sb, b]] });
    }
    await sleep(500);
    const rss = rssSampler(() => server.child.pid);
    const window = await paced(rate, seconds, (i) => {
      const { conv, sides } = convs[i % convs.length];
      const [socket, user] = sides[Math.floor(i / convs.length) % 2];
      socket.emit('message', conv, user, String(performance.now()));
    });
    const sent = Math.round(rate * seconds);
    const rows = 'SELECT COUNT(*) AS n FROM osc_messages';
    const atEnd = await countRows(db, rows);
    // A browser flooding faster than the server handles its events loses the excess
    // (the per-socket event queue is bounded): only what was delivered is stored.
    // Drained: the rows reach the deliveries once deliveries have stopped.
    const t0 = performance.now();
    let drainS = null;
    let lastDelivered = -1;
    let stableSince = t0;
    while (performance.now() - t0 < 120000) {
      const n = await countRows(db, rows);
      if (delivered !== lastDelivered) {
        lastDelivered = delivered;
        stableSince = performance.now();
      }
      if (n >= delivered) {
        drainS ??= +((performance.now() - t0) / 1000).toFixed(2);
        if (performance.now() - stableSince > 1000) break;
      } else drainS = null;
      await sleep(50);
    }
    const accepted = delivered;
    latencies.sort((a, b) => a - b);
    return {
      scenario: `on-screen chat ${pairs} pair(s), ${rate}/s × ${seconds} s`,
      sent,
      delivered_and_accepted: accepted,
      window_s: +window.toFixed(2),
      deliveries_per_s: Math.round(delivered / window),
      latency_ms: { p50: pct(latencies, 50), p99: pct(latencies, 99) },
      rows_at_end_of_window: atEnd,
      seconds_to_all_delivered_rows_after_window: drainS,
      rows_final: await countRows(db, rows),
      rss_mb: rss.stop(),
    };
  } finally {
    for (const s of sockets) s.close();
    await server.stop();
    await db.drop();
  }
}

async function outageScenario(kind, outageS, rate = 100) {
  const mariadb = await startThrowawayMariaDb();
  const state = tempDir('ilias-chat-bench-state-');
  const db = await createTestDb(10, mariadb.url);
  await db.query('INSERT INTO chatroom_settings (room_id, object_id) VALUES (1, 1)');
  const start = async () =>
    startServer(serverCfg(await freePort(), { log_level: 'warning' }), [clientCfg(NAME, AUTH[0], AUTH[1], db)], {
      env: { STATE_DIRECTORY: state },
    });
  let server = await start();
  let pid = server.child.pid;
  const sockets = [];
  let sent = 0;
  let delivered = 0;
  const latencies = [];
  const join = async () => {
    const sender = await enterRoom(server, 1, 1000);
    const receiver = await enterRoom(server, 1, 1001);
    receiver.on('message', (m) => {
      delivered++;
      latencies.push(performance.now() - Number(m.content.split(' ')[1]));
    });
    sockets.push(sender, receiver);
    return sender;
  };
  let sender = await join();
  const rss = rssSampler(() => pid);
  const send = (i) => {
    sender.emit('message', { content: `${i} ${performance.now()}`, format: {} }, 1);
    sent++;
  };
  const stats = (q) => mysqlCount(mariadb, db, q);
  try {
    await paced(rate, 5, (i) => send(i));
    if (kind === 'stop') mariadb.freeze();
    else await mariadb.kill();
    const outageStart = performance.now();
    let restartedAt = null;
    if (kind === 'restart') {
      await paced(rate, outageS / 2, () => send(sent));
      server.child.kill('SIGTERM');
      await server.exitPromise;
      for (const s of sockets.splice(0)) s.close();
      const tStop = performance.now();
      server = await start();
      pid = server.child.pid;
      restartedAt = +((performance.now() - tStop) / 1000).toFixed(2);
      // Rooms are loaded from the database, so browsers come back once it is up.
      await sleep(Math.max(0, outageS * 1000 - (performance.now() - outageStart)));
    } else {
      await paced(rate, outageS, () => send(sent));
    }
    const journalBytes = dirBytes(path.join(state, 'journal'));
    if (kind === 'stop') mariadb.thaw();
    else await mariadb.restart();
    const backlog = sent;
    const drainS = await drain(() => stats(ROOM_ROWS), backlog, 300);
    if (kind === 'restart') sender = await join();
    await paced(rate, 5, () => send(sent));
    await drain(() => stats(ROOM_ROWS), sent, 120);
    const rows = await stats(ROOM_ROWS);
    const distinct = await stats(
      "SELECT COUNT(DISTINCT SUBSTRING_INDEX(JSON_UNQUOTE(JSON_EXTRACT(message, '$.content')), ' ', 1)) AS n FROM chatroom_history WHERE message LIKE '%\"type\":\"message\"%'",
    );
    latencies.sort((a, b) => a - b);
    return {
      scenario: `database ${kind === 'stop' ? 'frozen (SIGSTOP)' : 'killed (kill -9)'} for ${outageS} s at ${rate}/s${kind === 'restart' ? ', ilias-chat restarted in the middle' : ''}`,
      sent,
      delivered_live: delivered,
      latency_ms: { p50: pct(latencies, 50), p99: pct(latencies, 99) },
      journal_bytes_before_recovery: journalBytes,
      ilias_chat_restart_s: restartedAt,
      seconds_to_backlog_written_after_recovery: drainS,
      rows_written: rows,
      rows_lost: sent - distinct,
      rows_duplicated: rows - distinct,
      rss_mb: rss.stop(),
    };
  } finally {
    for (const s of sockets) s.close();
    await server.stop();
    await mariadb.stop();
    fs.rmSync(state, { recursive: true, force: true });
  }
}

async function mysqlCount(mariadb, db, sql) {
  const { default: mysql } = await import('mysql2/promise');
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: mariadb.port, user: 'root', database: db.name, connectTimeout: 2000 });
  try {
    const [rows] = await conn.query(sql);
    return Number(rows[0].n);
  } finally {
    await conn.end().catch(() => {});
  }
}

function dirBytes(dir) {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath ?? entry.path, entry.name)).size;
  }
  return total;
}

const guard = setTimeout(() => {
  console.error('benchmark took longer than its bound (window + 15 min)');
  process.exit(2);
}, 15 * 60 * 1000 + 1000 * Number(args.find((a) => /^\d+$/.test(a)) ?? 0) * 3);
guard.unref();
let result;
if (mode === 'room') result = await roomScenario(Number(args[0] ?? 1000), Number(args[1] ?? 60), Number(args[2] ?? 1), Number(args[3] ?? 5));
else if (mode === 'osc') result = await oscScenario(Number(args[0] ?? 10), Number(args[1] ?? 1000), Number(args[2] ?? 60));
else if (mode === 'outage') result = await outageScenario(args[0] ?? 'kill', Number(args[1] ?? 60), Number(args[2] ?? 100));
else {
  console.error('usage: history.mjs room RATE SECONDS [ROOMS] [PER_ROOM] | osc PAIRS RATE SECONDS | outage kill|stop|restart SECONDS [RATE]');
  process.exit(64);
}
console.log(JSON.stringify(result, null, 2));
process.exit(0);
