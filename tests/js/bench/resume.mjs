// "Nobody is dropped" benchmark (issue 15 goals), real socket.io-client 4.8 with
// reconnection on and ILIAS's default reconnection timing, websocket, loopback:
//
//   restart [rooms×browsers] — 20 rooms × 50 browsers + 200 on-screen chat users on a
//       socket held by tests/js/socket-keeper.pl (as ilias-chat.socket); SIGTERM, a new
//       process on the same socket; every 10th browser types a message while the
//       server is away. Reports refused connections, `shutdown`s, % back in their
//       rooms / logged in within 10 s of the new process answering, messages stored,
//       delivered to the room members.
//   offline [seconds] — one browser offline 120 s (longer than the 15 s grace period),
//       then its network comes back: time until it is back in its room.
//   reload [browsers] [rooms] — 2,000 browsers in one room (or spread over `rooms`), a
//       sender per room fanning a message out every 50 ms, 5 SIGHUPs 2 s apart:
//       disconnects and lost messages.
//
//   cargo build --release
//   ILIAS_CHAT_BIN=target/release/ilias-chat node tests/js/bench/resume.mjs restart|offline|reload [size] [rooms]

import fs from 'node:fs';
import path from 'node:path';

import { clientCfg, createTestDb, freePort, serverCfg, sleep, startServer, tempDir } from '../harness.mjs';
import { Keeper, OscPage, RoomPage, backend, waitHeartbeat, waitUntil } from '../resume-helpers.mjs';

const NAME = 'bench';
const AUTH = ['bench', 'bench-secret'];
const scenario = process.argv[2] ?? 'restart';
const arg = process.argv[3] ? Number(process.argv[3]) : undefined;

async function registerQuickly(base, db, room, user) {
  await db.query('REPLACE INTO chatroom_users (room_id, user_id, userdata, connected) VALUES (?, ?, ?, UNIX_TIMESTAMP())', [
    room, user.id, JSON.stringify({ login: user.name, id: user.id }),
  ]);
  await backend(base, NAME, AUTH, 'Connect', room, user.id);
  await backend(base, NAME, AUTH, 'EnterPrivateRoom', room, user.id);
}

async function rooms(db, ids) {
  for (const id of ids) {
    await db.query("INSERT INTO chatroom_settings (room_id, object_id, room_type, enable_history) VALUES (?, ?, 'repository', 1)", [id, 1000 + id]);
  }
}

async function restart() {
  const ROOMS = 20;
  const PER_ROOM = arg ?? 50;
  const OSC = 200;
  const db = await createTestDb(9);
  const roomIds = Array.from({ length: ROOMS }, (_, i) => i + 1);
  await rooms(db, roomIds);
  const dir = tempDir('ilias-chat-bench-restart-');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  fs.writeFileSync(path.join(dir, 'server.cfg'), JSON.stringify({ ...serverCfg(port), log_level: 'warning' }));
  fs.mkdirSync(path.join(dir, 'clients'));
  fs.writeFileSync(path.join(dir, 'clients', 'bench.cfg'), JSON.stringify(clientCfg(NAME, AUTH[0], AUTH[1], db)));
  const asRoot = process.getuid?.() === 0 ? ['--user', 'root'] : [];
  const keeper = await Keeper.start(port, [...asRoot, '--state-dir', path.join(dir, 'state'), path.join(dir, 'server.cfg'), path.join(dir, 'clients')], { log: path.join(dir, 'daemon.log') });
  const pid = await keeper.launch();
  await waitHeartbeat(base, NAME);
  await sleep(1000);
  const pages = [];
  const osc = [];
  try {
    for (const room of roomIds) {
      for (let i = 0; i < PER_ROOM; i++) {
        const user = { id: room * 1000 + i, name: `u${room}_${i}` };
        await registerQuickly(base, db, room, user);
        pages.push(new RoomPage(base, NAME, user, room));
      }
    }
    for (let i = 0; i < OSC; i++) {
      await db.query("REPLACE INTO usr_pref (usr_id, keyword, value) VALUES (?, 'chat_osc_accept_msg', 'y')", [500000 + i]);
      osc.push(new OscPage(base, NAME, { id: 500000 + i, name: `o${i}` }));
    }
    await waitUntil(() => pages.every((p) => p.entered >= 1) && osc.every((p) => p.logins >= 1), { timeoutMs: 120000, what: 'everyone in' });
    console.log(`${pages.length} room browsers in ${ROOMS} rooms and ${osc.length} on-screen chat users connected`);

    const t0 = performance.now();
    const status = await keeper.terminate(pid);
    const stopMs = performance.now() - t0;
    const speakers = pages.filter((_, i) => i % 10 === 0);
    // Typed once the page noticed the server is away (socket.io-client buffers it); a
    // message written into the dying connection a moment before is lost by any server.
    await waitUntil(() => speakers.every((p) => p.disconnects >= 1), { timeoutMs: 10000, what: 'speakers disconnected' });
    for (const p of speakers) p.say(`during restart from ${p.user.name}`);
    const t1 = performance.now();
    await keeper.launch();
    await waitHeartbeat(base, NAME, 30000);
    const readyMs = performance.now() - t1;
    const ready = performance.now();
    let backAt = null;
    try {
      await waitUntil(() => pages.every((p) => p.entered >= 2) && osc.every((p) => p.logins >= 2), { timeoutMs: 10000, everyMs: 20, what: 'everyone back' });
      backAt = performance.now() - ready;
    } catch {
      // counted below
    }
    const backRooms = pages.filter((p) => p.entered >= 2).length;
    const backOsc = osc.filter((p) => p.logins >= 2).length;
    await sleep(2000);
    const stored = (await db.query("SELECT COUNT(*) AS n FROM chatroom_history WHERE message LIKE '%during restart from%'"))[0].n;
    let expectedDeliveries = 0;
    let deliveries = 0;
    let duplicates = 0;
    for (const p of pages) {
      const fromRoom = speakers.filter((s) => s.room === p.room).length;
      expectedDeliveries += fromRoom;
      const texts = p.texts().filter((t) => t.startsWith('during restart from'));
      deliveries += new Set(texts).size;
      duplicates += texts.length - new Set(texts).size;
    }
    const refused = [...pages, ...osc].reduce((n, p) => n + (p.connectErrors ?? 0), 0);
    const shutdowns = [...pages, ...osc].reduce((n, p) => n + p.shutdowns, 0);
    console.log(`old process exit status ${status}, stopped in ${stopMs.toFixed(0)} ms; new process answering after ${readyMs.toFixed(0)} ms`);
    console.log(`connect errors (refused) ${refused}; shutdown events ${shutdowns}`);
    console.log(`back within 10 s of the new process answering: rooms ${backRooms}/${pages.length}, on-screen chat ${backOsc}/${osc.length}` + (backAt === null ? '' : ` (all after ${backAt.toFixed(0)} ms)`));
    console.log(`messages typed during the restart: ${speakers.length}; stored ${stored}; delivered ${deliveries}/${expectedDeliveries} (room members × messages, ${(100 * deliveries / expectedDeliveries).toFixed(1)} %), duplicates ${duplicates}`);
  } finally {
    for (const p of [...pages, ...osc]) p.close();
    await keeper.close();
    fs.rmSync(dir, { recursive: true, force: true });
    await db.drop();
  }
}

async function offline() {
  const seconds = arg ?? 120;
  const db = await createTestDb(9);
  await rooms(db, [1]);
  const server = await startServer({ ...serverCfg(await freePort()), log_level: 'warning' }, [clientCfg(NAME, AUTH[0], AUTH[1], db)]);
  try {
    await sleep(1000);
    const alice = { id: 1, name: 'alice' };
    const bob = { id: 2, name: 'bob' };
    await registerQuickly(server.baseUrl, db, 1, alice);
    await registerQuickly(server.baseUrl, db, 1, bob);
    const a = new RoomPage(server.baseUrl, NAME, alice, 1);
    // Bob's network is "down": his reconnection attempts fail until `seconds` passed.
    const b = new RoomPage(server.baseUrl, NAME, bob, 1);
    await waitUntil(() => a.entered && b.entered, { what: 'both in' });
    b.socket.io.reconnection(false);
    b.socket.io.engine.close();
    console.log(`bob offline for ${seconds} s (grace period 15 s)...`);
    await sleep(seconds * 1000);
    const t0 = performance.now();
    b.socket.io.reconnection(true);
    b.socket.connect();
    await waitUntil(() => b.entered >= 2, { timeoutMs: 10000, everyMs: 5, what: 'bob back' });
    console.log(`bob back in his room ${(performance.now() - t0).toFixed(0)} ms after his network came back; alice saw him leave ${a.noticesOf('disconnected').length}× and come back ${a.noticesOf('connect').length - 1}×`);
    a.close();
    b.close();
  } finally {
    await server.stop();
    await db.drop();
  }
}

async function reload() {
  const BROWSERS = arg ?? 2000;
  // Optional: spread the browsers over this many rooms (one sender each). Entering one
  // room costs O(n) per browser (everyone gets the whole user list on every entry), so
  // 2,000 in one room take the load client many minutes to set up.
  const ROOMS = process.argv[4] ? Number(process.argv[4]) : 1;
  const roomIds = Array.from({ length: ROOMS }, (_, i) => i + 1);
  const db = await createTestDb(9);
  await rooms(db, roomIds);
  const server = await startServer({ ...serverCfg(await freePort()), log_level: 'info' }, [clientCfg(NAME, AUTH[0], AUTH[1], db)]);
  const pages = [];
  try {
    await sleep(1000);
    const t0 = performance.now();
    for (let i = 0; i < BROWSERS; i++) {
      const user = { id: 10 + i, name: `u${i}` };
      const room = roomIds[i % ROOMS];
      await registerQuickly(server.baseUrl, db, room, user);
      pages.push(new RoomPage(server.baseUrl, NAME, user, room));
    }
    await waitUntil(() => pages.every((p) => p.entered >= 1), { timeoutMs: 1800000, what: 'everyone in' });
    console.log(`${BROWSERS} browsers in ${ROOMS} room(s), all in after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const senders = roomIds.map((room) => pages.find((p) => p.room === room));
    const sent = new Map(roomIds.map((room) => [room, 0]));
    const timer = setInterval(() => {
      for (const sender of senders) {
        const n = sent.get(sender.room);
        sender.say(`m${n}`);
        sent.set(sender.room, n + 1);
      }
    }, 50);
    for (let i = 0; i < 5; i++) {
      await sleep(2000);
      server.child.kill('SIGHUP');
    }
    await sleep(2000);
    clearInterval(timer);
    await sleep(5000);
    const disconnects = pages.reduce((n, p) => n + p.disconnects, 0);
    const expected = pages.reduce((n, p) => n + sent.get(p.room), 0);
    const lost = pages.reduce((n, p) => n + (sent.get(p.room) - p.messages.length), 0);
    const reloads = (server.stderr().match(/configuration reloaded/g) || []).length;
    const total = [...sent.values()].reduce((a, b) => a + b, 0);
    console.log(`${reloads} reloads during ${total} messages (${ROOMS} sender(s), one each per 50 ms) to ${BROWSERS} browsers: disconnects ${disconnects}, deliveries ${expected - lost}/${expected}, lost ${lost}`);
  } finally {
    for (const p of pages) p.close();
    await server.stop();
    await db.drop();
  }
}

const run = { restart, offline, reload }[scenario];
if (!run) {
  console.error('usage: resume.mjs restart|offline|reload [size]');
  process.exit(2);
}
await run();
process.exit(0);
