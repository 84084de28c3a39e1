// A burst of messages into a busy room must reach every browser: socketioxide's
// default per-socket queue (128 packets) used to drop messages here without a word.
import assert from 'node:assert/strict';
import {
  createTestDb, freePort, serverCfg, clientCfg, startServer, iliasGet, connect, test, sleep,
} from './harness.mjs';

const ROOM = 3;
const AUTH = ['burst', 'burst-secret'];
const BROWSERS = 5;
const MESSAGES = 600;

test('a burst of 600 messages reaches all 5 browsers, in order, and is stored', { timeout: 60000 }, async (t) => {
  const db = await createTestDb(9);
  t.after(() => db.drop());
  await db.query(`INSERT INTO chatroom_settings (room_id, object_id) VALUES (${ROOM}, 1)`);
  const server = await startServer(serverCfg(await freePort()), [clientCfg('burst', AUTH[0], AUTH[1], db)]);
  t.after(() => server.stop());
  const browsers = [];
  for (let i = 0; i < BROWSERS; i++) {
    const user = 500 + i;
    await iliasGet(`${server.baseUrl}/backend/Connect/burst/${ROOM}/${user}`, AUTH);
    await iliasGet(`${server.baseUrl}/backend/EnterPrivateRoom/burst/${ROOM}/${user}`, AUTH);
    const socket = await connect(server.baseUrl, '/burst', { transports: ['websocket'] });
    t.after(() => socket.close());
    const entered = new Promise((resolve) => socket.once('private_room_entered', resolve));
    socket.once('loggedIn', () => socket.emit('enterRoom', ROOM));
    socket.emit('login', `user${user}`, user);
    await entered;
    const got = [];
    socket.on('message', (m) => got.push(m.content));
    browsers.push(got);
  }
  const sender = await connect(server.baseUrl, '/burst', { transports: ['websocket'] });
  t.after(() => sender.close());
  // The sender is the first browser's user on a second tab.
  await new Promise((resolve) => { sender.once('loggedIn', resolve); sender.emit('login', 'user500', 500); });
  for (let i = 0; i < MESSAGES; i++) sender.emit('message', { content: `m${i}`, format: {} }, ROOM);
  const expected = Array.from({ length: MESSAGES }, (_, i) => `m${i}`);
  const deadline = Date.now() + 30000;
  while (browsers.some((got) => got.length < MESSAGES) && Date.now() < deadline) await sleep(50);
  for (const got of browsers) assert.deepEqual(got, expected);
  // 600 messages plus one `connect` notice per browser. Rows arrive in batches, so wait
  // for all of them (not just for 600).
  let stored = 0;
  while (stored < MESSAGES + BROWSERS && Date.now() < deadline) {
    const rows = await db.query('SELECT COUNT(*) AS n FROM chatroom_history WHERE room_id = ?', [ROOM]);
    stored = Number(rows[0].n);
    if (stored < MESSAGES + BROWSERS) await sleep(100);
  }
  await sleep(300);
  const [{ n: final }] = await db.query('SELECT COUNT(*) AS n FROM chatroom_history WHERE room_id = ?', [ROOM]);
  assert.equal(Number(final), MESSAGES + BROWSERS, 'every row once');
  assert.ok(!/broadcast failed|emit failed/.test(server.stderr()), server.logs());
});
