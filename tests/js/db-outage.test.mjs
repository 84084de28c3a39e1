// A database outage during a chat, with a mariadbd of the test's own (never the shared
// server): killed (kill -9), frozen (SIGSTOP), and killed again while ilias-chat is
// restarted. Live chat goes on throughout; afterwards every message is in
// chatroom_history exactly once, including those that waited in the journal across
// the restart.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  clientCfg, connect, createTestDb, freePort, iliasGet, nextEvent, serverCfg, sleep, startServer, tempDir, test,
} from './harness.mjs';
import mysql from 'mysql2/promise';

import { startThrowawayMariaDb } from './mariadb.mjs';

const NAME = 'outage';
const AUTH = ['ok-1f2e', 'os-9a8b'];
const ROOM = 3;

/** A browser in the room: Connect + EnterPrivateRoom (as PHP), login, enterRoom. */
async function enter(server, user) {
  await iliasGet(`${server.baseUrl}/backend/Connect/${NAME}/${ROOM}/${user}`, AUTH);
  await iliasGet(`${server.baseUrl}/backend/EnterPrivateRoom/${NAME}/${ROOM}/${user}`, AUTH);
  const socket = await connect(server.baseUrl, `/${NAME}`, { transports: ['websocket'] });
  const entered = nextEvent(socket, 'private_room_entered', 10000);
  socket.once('loggedIn', () => socket.emit('enterRoom', ROOM));
  socket.emit('login', `user${user}`, user);
  await entered;
  return socket;
}

/** Sends messages m-<from>..m-<to-1> from `sender`; each must reach `receiver` live. */
async function chat(sender, receiver, from, to) {
  for (let n = from; n < to; n++) {
    const got = nextEvent(receiver, 'message', 10000);
    sender.emit('message', { content: `m-${n}`, format: {} }, ROOM);
    const message = await got;
    assert.equal(message.content, `m-${n}`, 'delivered live while the database is out');
  }
}

/** Stored messages in hist_id order, on a fresh connection (the server is restarted). */
async function storedMessages(mariadb, db) {
  const conn = await mysql.createConnection({
    host: '127.0.0.1', port: mariadb.port, user: 'root', database: db.name, connectTimeout: 3000,
  });
  try {
    const [rows] = await conn.query(
      "SELECT message FROM chatroom_history WHERE message LIKE '%\"type\":\"message\"%' ORDER BY hist_id",
    );
    return rows.map((r) => JSON.parse(r.message).content);
  } finally {
    await conn.end().catch(() => {});
  }
}

/** Waits (at most `ms`) until `check()` is true; fails with `what` otherwise. */
async function eventually(what, check, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(200);
  }
}

async function countWhenUp(mariadb, db) {
  try {
    return (await storedMessages(mariadb, db)).length;
  } catch {
    return -1;
  }
}

test('a killed, a frozen and a killed-during-restart database lose and duplicate nothing', { timeout: 240000 }, async () => {
  const mariadb = await startThrowawayMariaDb();
  const state = tempDir('ilias-chat-js-outage-state-');
  const journal = path.join(state, 'journal', NAME, 'writes.journal');
  let db;
  let server;
  const sockets = [];
  try {
    db = await createTestDb(10, mariadb.url);
    await db.query(`INSERT INTO chatroom_settings (room_id, object_id) VALUES (${ROOM}, 1)`);
    const start = async () =>
      startServer(
        serverCfg(await freePort(), { log_level: 'info' }),
        [clientCfg(NAME, AUTH[0], AUTH[1], db)],
        { env: { STATE_DIRECTORY: state } },
      );
    server = await start();
    let alice = await enter(server, 101);
    let bob = await enter(server, 102);
    sockets.push(alice, bob);

    // Up: written.
    await chat(alice, bob, 0, 10);
    await eventually('10 rows written', async () => (await countWhenUp(mariadb, db)) === 10);

    // Killed: chat goes on, writes go to the journal, and are written after the restart.
    await mariadb.kill();
    await chat(alice, bob, 10, 30);
    await eventually('the journal is used', () => fs.existsSync(journal));
    await chat(alice, bob, 30, 40);
    await mariadb.restart();
    await eventually('40 rows after the restart of the database', async () => (await countWhenUp(mariadb, db)) === 40);
    await eventually('the drained journal is removed', () => !fs.existsSync(journal));

    // Frozen: the same, though nothing answers at all.
    mariadb.freeze();
    await chat(alice, bob, 40, 60);
    await eventually('the journal is used while the database hangs', () => fs.existsSync(journal));
    await chat(alice, bob, 60, 70);
    mariadb.thaw();
    await eventually('70 rows after the database woke up', async () => (await countWhenUp(mariadb, db)) === 70);

    // Killed, and ilias-chat restarted meanwhile: the journal outlives the process.
    await mariadb.kill();
    await chat(alice, bob, 70, 90);
    await eventually('the journal is used', () => fs.existsSync(journal));
    server.child.kill('SIGTERM');
    const exit = await server.exitPromise;
    assert.deepEqual(exit, { code: 0, signal: null }, 'a clean stop though the database is down');
    assert.ok(fs.statSync(journal).size > 100, 'unwritten messages are in the journal');
    await server.stop();
    for (const s of sockets.splice(0)) s.close();

    // The next start replays the journal before anything new (rooms are known again
    // once the database is there).
    server = await start();
    await mariadb.restart();
    await eventually('90 rows after both restarts', async () => (await countWhenUp(mariadb, db)) === 90, 90000);
    alice = await enter(server, 101);
    bob = await enter(server, 102);
    sockets.push(alice, bob);
    await chat(alice, bob, 90, 100);
    await eventually('100 rows', async () => (await countWhenUp(mariadb, db)) === 100);

    const stored = await storedMessages(mariadb, db);
    const expected = Array.from({ length: 100 }, (_, n) => `m-${n}`);
    assert.deepEqual([...stored].sort(), [...expected].sort(), 'every message once: none lost, none twice');
    assert.deepEqual(stored, expected, 'history ids follow the order of the messages');
    await eventually('the journal is drained', () => !fs.existsSync(journal));
  } finally {
    for (const s of sockets) s.close();
    await server?.stop();
    await db?.drop().catch(() => {});
    await mariadb.stop();
    fs.rmSync(state, { recursive: true, force: true });
  }
});
