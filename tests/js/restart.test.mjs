// A restart browsers do not notice: with the listening socket held outside the daemon
// (as ilias-chat.socket does; here tests/js/socket-keeper.pl, listen-fd protocol), a
// SIGTERM saves the restart snapshot instead of telling browsers `shutdown`, and the
// next process on the same socket resumes them — rooms, presence, on-screen chat —
// without PHP calling again. A snapshot that is too old, of a changed client, or
// corrupt is logged and the original start-up clean-up runs.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { clientCfg, createTestDb, freePort, serverCfg, sleep, tempDir } from './harness.mjs';
import { Keeper, OscPage, RoomPage, backend, phpEntersRoom, waitHeartbeat, waitUntil } from './resume-helpers.mjs';

const NAME = 'ilrestart';
const AUTH = ['rk-restart', 'rs-restart'];
const ROOMS = [7, 8];

/** A database, config files and a keeper with the first daemon running. */
async function setup({ reconnectWindow, graceMs = 8000, env = {}, generation = 9 } = {}) {
  const db = await createTestDb(generation);
  for (const id of ROOMS) {
    await db.query("INSERT INTO chatroom_settings (room_id, object_id, room_type, enable_history) VALUES (?, ?, 'repository', 1)", [id, 1000 + id]);
  }
  const dir = tempDir('ilias-chat-restart-');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = serverCfg(port, reconnectWindow === undefined ? {} : { reconnect_window: reconnectWindow });
  fs.writeFileSync(path.join(dir, 'server.cfg'), JSON.stringify(server));
  fs.mkdirSync(path.join(dir, 'clients'));
  const writeClient = (overrides = {}) =>
    fs.writeFileSync(path.join(dir, 'clients', `${NAME}.cfg`), JSON.stringify(clientCfg(NAME, AUTH[0], AUTH[1], db, overrides)));
  writeClient();
  const asRoot = process.getuid?.() === 0 ? ['--user', 'root'] : [];
  const keeper = await Keeper.start(
    port,
    [...asRoot, '--state-dir', path.join(dir, 'state'), path.join(dir, 'server.cfg'), path.join(dir, 'clients')],
    { env: { ILIAS_CHAT_DISCONNECT_GRACE_MS: String(graceMs), ...env }, log: path.join(dir, 'daemon.log') },
  );
  const pid = await keeper.launch();
  await waitHeartbeat(base, NAME);
  // The start-up clean-up must be over before PHP's rows are made.
  await waitUntil(() => /chat rooms loaded/.test(keeper.logText()), { what: 'rooms loaded' });
  const snapshotFile = path.join(dir, 'state', 'snapshot', 'snapshot.json');
  return { db, dir, port, base, keeper, pid, writeClient, snapshotFile, pages: [] };
}

async function teardown(ctx, failed) {
  for (const p of ctx.pages) p.close();
  await ctx.keeper.close();
  if (failed) console.error(`----- daemon log (${ctx.dir}) -----\n${ctx.keeper.logText()}`);
  else fs.rmSync(ctx.dir, { recursive: true, force: true });
  await ctx.db.drop();
}

/** Runs `fn(ctx)` on a fresh setup; prints the daemon log when it fails. */
function restartTest(name, opts, fn) {
  test(name, { timeout: 90000 }, async () => {
    const ctx = await setup(typeof opts === 'function' ? opts() : opts);
    let failed = true;
    try {
      await fn(ctx);
      failed = false;
    } finally {
      await teardown(ctx, failed);
    }
  });
}

/** `count` users per room, each with an entered page. */
async function fillRooms(ctx, count, opts = {}, first = {}) {
  const users = [];
  for (const room of ROOMS) {
    for (let i = 0; i < count; i++) {
      const user = { id: room * 100 + i, name: `u${room}_${i}` };
      await phpEntersRoom(ctx.db, ctx.base, NAME, AUTH, room, user);
      const extra = users.length === 0 ? first : {};
      const page = new RoomPage(ctx.base, NAME, user, room, { reconnectionDelay: 200, reconnectionDelayMax: 1000, ...opts, ...extra });
      ctx.pages.push(page);
      users.push(user);
    }
  }
  await waitUntil(() => ctx.pages.every((p) => p.entered >= 1), { what: 'every page in its room' });
  return users;
}

const presence = (ctx) => ctx.db.query('SELECT room_id, user_id FROM chatroom_users ORDER BY room_id, user_id');
const sessions = (ctx) => ctx.db.query('SELECT room_id, user_id FROM chatroom_sessions ORDER BY room_id, user_id');

restartTest('restart on the same socket: every browser resumes in its room, nobody is told shutdown, nothing is lost', {}, async (ctx) => {
  // The first page comes back last (its message typed during the restart reaches the
  // others once they are back in the room; a message handled before a receiver's
  // enterRoom would miss that receiver).
  await fillRooms(ctx, 5, {}, { reconnectionDelay: 2500, reconnectionDelayMax: 2500, randomizationFactor: 0 });
  for (const id of [900, 901, 902, 903]) {
    await ctx.db.query("REPLACE INTO usr_pref (usr_id, keyword, value) VALUES (?, 'chat_osc_accept_msg', 'y')", [id]);
  }
  // osc0 comes back last too, so osc1 is online again when osc0's buffered message arrives.
  const late = { reconnectionDelay: 2500, reconnectionDelayMax: 2500, randomizationFactor: 0 };
  const osc = [0, 1, 2, 3].map((i) => new OscPage(ctx.base, NAME, { id: 900 + i, name: `osc${i}` }, i === 0 ? late : { reconnectionDelay: 200, reconnectionDelayMax: 1000 }));
  ctx.pages.push(...osc);
  await waitUntil(() => osc.every((p) => p.logins >= 1), { what: 'every on-screen chat page logged in' });
  osc[0].socket.emit('conversation', [{ id: 900, name: 'osc0' }, { id: 901, name: 'osc1' }]);
  await waitUntil(() => osc[0].conversations.length >= 1, { what: 'conversation-init' });
  const conversation = osc[0].conversations[0].id;
  const before = await presence(ctx);
  assert.equal(before.length, 10);

  const status = await ctx.keeper.terminate(ctx.pid);
  assert.equal(status, 0, 'the old process exits 0');
  assert.ok(fs.existsSync(ctx.snapshotFile), 'the snapshot was saved');
  assert.deepEqual(await presence(ctx), before, 'the stop kept every chatroom_users row');
  assert.deepEqual(await sessions(ctx), [], 'no session was ended');
  await waitUntil(() => ctx.pages.every((p) => p.disconnects >= 1), { what: 'every page noticed the stop' });

  // Typed while the server is away: socket.io-client sends it after reconnecting.
  const speaker = ctx.pages[0];
  speaker.say('during the restart');
  osc[0].socket.emit('message', conversation, 900, 'osc during the restart');

  await ctx.keeper.launch();
  await waitUntil(() => ctx.pages.slice(0, 10).every((p) => p.entered >= 2), { timeoutMs: 15000, what: 'every room page back in its room' });
  await waitUntil(() => osc.every((p) => p.logins >= 2), { what: 'every on-screen chat page logged in again' });

  for (const p of ctx.pages) assert.equal(p.shutdowns, 0, `${p.user.name} was not told shutdown`);
  const room7 = ctx.pages.filter((p) => p.room === 7);
  await waitUntil(() => room7.every((p) => p.texts().includes('during the restart')), { what: 'the message typed during the restart delivered' });
  for (const p of room7.slice(0, 5)) {
    assert.deepEqual(p.texts(), ['during the restart'], `${p.user.name}: delivered once`);
    assert.equal(p.noticesOf('welcome_to_chat').length, 1, `${p.user.name}: not greeted again (nobody left)`);
    assert.equal(p.noticesOf('disconnected').length, 0, `${p.user.name}: nobody was announced as gone`);
  }
  for (const p of ctx.pages.filter((p) => p.room === 8)) assert.deepEqual(p.texts(), [], `${p.user.name}: other room`);
  await waitUntil(() => osc[1].messages.some((m) => m.message === 'osc during the restart'), { what: 'the on-screen chat message delivered' });

  const stored = () => ctx.db.query(`SELECT message FROM chatroom_history WHERE message LIKE '%during the restart%'`);
  await waitUntil(async () => (await stored()).length >= 1, { what: 'the message stored' });
  await sleep(300);
  assert.equal((await stored()).length, 1, 'stored once');
  assert.deepEqual(await presence(ctx), before, 'presence rows kept');
  assert.deepEqual(await sessions(ctx), [], 'still no session ended');
  assert.ok(!fs.existsSync(ctx.snapshotFile), 'the snapshot is used once');
  assert.match(ctx.keeper.logText(), /resumed from the restart snapshot/);
});

restartTest('messages typed during the restart reach every member of the room once, in order, whenever each comes back', {}, async (ctx) => {
  // Speakers (the first two pages of room 7) come back at once; the other members of
  // room 7 come back 2.5 s later, after the speakers' messages were handled: they were
  // not in the room when those were broadcast, and must get them on entering.
  const early = { reconnectionDelay: 100, reconnectionDelayMax: 100, randomizationFactor: 0 };
  const late = { reconnectionDelay: 2500, reconnectionDelayMax: 2500, randomizationFactor: 0 };
  for (const room of ROOMS) {
    for (let i = 0; i < 4; i++) {
      const user = { id: room * 100 + i, name: `u${room}_${i}` };
      await phpEntersRoom(ctx.db, ctx.base, NAME, AUTH, room, user);
      ctx.pages.push(new RoomPage(ctx.base, NAME, user, room, room === 7 && i < 2 ? early : late));
    }
  }
  await waitUntil(() => ctx.pages.every((p) => p.entered >= 1), { what: 'every page in its room' });
  const room7 = ctx.pages.filter((p) => p.room === 7);
  const [a, b] = room7;
  a.say('live before');
  await waitUntil(() => room7.every((p) => p.texts().includes('live before')), { what: 'the message before the restart' });

  assert.equal(await ctx.keeper.terminate(ctx.pid), 0);
  await waitUntil(() => ctx.pages.every((p) => p.disconnects >= 1), { what: 'every page noticed the stop' });
  // Typed while the server is away (socket.io-client sends them after reconnecting).
  a.say('a1');
  a.say('a2');
  b.say('b1');
  b.say('b2');
  await ctx.keeper.launch();
  await waitUntil(() => a.texts().includes('a2') && b.texts().includes('b2'), { what: 'the speakers back and heard' });
  // Said after the speakers are back but before the late pages are.
  a.say('a3');
  await waitUntil(() => ctx.pages.every((p) => p.entered >= 2), { timeoutMs: 15000, what: 'every page back in its room' });
  b.say('after everyone is back');
  await waitUntil(() => room7.every((p) => p.texts().includes('after everyone is back')), { what: 'the last message' });
  await sleep(300);

  const expected = ['live before', 'a1', 'a2', 'b1', 'b2', 'a3', 'after everyone is back'];
  const order = (texts) => texts.filter((t) => t !== 'live before');
  const reference = order(room7[2].texts());
  for (const p of room7) {
    const texts = p.texts();
    assert.deepEqual([...texts].sort(), [...expected].sort(), `${p.user.name}: every message exactly once`);
    assert.deepEqual(order(texts), reference, `${p.user.name}: in the same order as everyone`);
    for (const [x, y] of [['a1', 'a2'], ['a2', 'a3'], ['b1', 'b2']]) {
      assert.ok(texts.indexOf(x) < texts.indexOf(y), `${p.user.name}: ${x} before ${y}`);
    }
  }
  for (const p of ctx.pages.filter((p) => p.room === 8)) assert.deepEqual(p.texts(), [], `${p.user.name}: other room`);
  assert.match(ctx.keeper.logText(), /messages missed while away replayed/);
  for (const text of expected) {
    const rows = await ctx.db.query('SELECT COUNT(*) AS n FROM chatroom_history WHERE message LIKE ?', [`%"content":"${text}"%`]);
    assert.equal(Number(rows[0].n), 1, `${text}: stored once`);
  }
});

/** After the stop, `spoil(ctx)`; then the next start must run the original clean-up. */
async function expectCleanStart(ctx, spoil, logLine) {
  const pages = ctx.pages;
  const before = await presence(ctx);
  assert.equal(before.length, pages.length);
  assert.equal(await ctx.keeper.terminate(ctx.pid), 0);
  assert.ok(fs.existsSync(ctx.snapshotFile), 'the snapshot was saved');
  await spoil(ctx);
  await ctx.keeper.launch();
  await waitUntil(
    async () => (await sessions(ctx)).length === before.length && (await presence(ctx)).length === 0,
    { what: 'chatroom_users moved to chatroom_sessions' },
  );
  assert.match(ctx.keeper.logText(), logLine);
  // The browsers reconnect, but nobody announced them: their login is refused.
  await waitUntil(() => pages.every((p) => p.connects >= 2), { what: 'every page reconnected' });
  await sleep(500);
  for (const p of pages) {
    assert.equal(p.loggedIn, 1, `${p.user.name}: not logged in without PHP`);
    assert.equal(p.shutdowns, 0);
  }
}

restartTest('a snapshot older than the reconnect window is ignored: original start-up clean-up, logged', { reconnectWindow: 1 }, async (ctx) => {
  await fillRooms(ctx, 1);
  await expectCleanStart(ctx, () => sleep(2100), /restart snapshot ignored.*too old/);
});

restartTest('a client whose database or ILIAS version changed is started clean, logged', {}, async (ctx) => {
  await fillRooms(ctx, 1);
  await expectCleanStart(ctx, async () => ctx.writeClient({ ilias_version: 9 }), /client changed since the restart snapshot/);
});

restartTest('a corrupt snapshot is ignored, logged, and set aside; the server starts', {}, async (ctx) => {
  await fillRooms(ctx, 1);
  await expectCleanStart(ctx, async () => fs.writeFileSync(ctx.snapshotFile, '{"format": "ilias-chat restart snapshot", "version": 1, "saved_at_ms": '), /restart snapshot ignored.*corrupt/);
  assert.ok(fs.existsSync(`${ctx.snapshotFile}.rejected`), 'kept aside for inspection');
});

// A stand-in for `systemctl list-jobs`: prints what the test wrote into its jobs file.
const systemctlDir = tempDir('ilias-chat-systemctl-');
const jobsFile = path.join(systemctlDir, 'jobs');
const fakeSystemctl = path.join(systemctlDir, 'systemctl');
fs.writeFileSync(fakeSystemctl, `#!/bin/sh\n[ "$1" = list-jobs ] || exit 1\ncat '${jobsFile}' 2>/dev/null\nexit 0\n`, { mode: 0o755 });
after(() => fs.rmSync(systemctlDir, { recursive: true, force: true }));
const socketUnit = { KEEPER_FDNAMES: 'ilias-chat.socket', ILIAS_CHAT_SYSTEMCTL: fakeSystemctl };

/** SIGTERM to the running daemon; expects a stop for good: `shutdown`, sessions ended, no snapshot. */
async function expectStopForGood(ctx, pid, reason) {
  const before = await presence(ctx);
  assert.ok(before.length > 0);
  assert.equal(await ctx.keeper.terminate(pid), 0);
  await waitUntil(() => ctx.pages.every((p) => p.shutdowns === 1), { what: 'every page told shutdown' });
  assert.ok(!fs.existsSync(ctx.snapshotFile), 'no snapshot on a stop for good');
  assert.deepEqual(await presence(ctx), [], 'the sessions were ended');
  assert.equal((await sessions(ctx)).length, before.length);
  assert.match(ctx.keeper.logText(), reason);
}

restartTest('socket activation: a stop while systemd stops the socket unit is for good; a restart of the service is a pause', () => ({ env: socketUnit }), async (ctx) => {
  await fillRooms(ctx, 1);
  fs.writeFileSync(jobsFile, '41 ilias-chat.service restart running\n');
  assert.equal(await ctx.keeper.terminate(ctx.pid), 0);
  assert.ok(fs.existsSync(ctx.snapshotFile), 'a restart saves the snapshot');
  assert.match(ctx.keeper.logText(), /stop is a pause/);
  const pid = await ctx.keeper.launch();
  await waitUntil(() => ctx.pages.every((p) => p.entered >= 2), { timeoutMs: 15000, what: 'every page back' });
  for (const p of ctx.pages) assert.equal(p.shutdowns, 0, `${p.user.name}: no shutdown on a restart`);

  // systemctl stop ilias-chat.socket ilias-chat.service (also the package's removal).
  fs.writeFileSync(jobsFile, '43 ilias-chat.socket stop waiting\n42 ilias-chat.service stop running\n');
  await expectStopForGood(ctx, pid, /stop for good.*systemd is stopping ilias-chat\.socket/);
});

restartTest('socket activation: the stop marker in the state directory makes the stop for good, once', {}, async (ctx) => {
  await fillRooms(ctx, 1);
  const marker = path.join(ctx.dir, 'state', 'stop-for-good');
  fs.writeFileSync(marker, '');
  await expectStopForGood(ctx, ctx.pid, /stop for good.*stop marker/);
  assert.ok(!fs.existsSync(marker), 'the marker is used once');
});

restartTest('ILIAS 8: private rooms of the snapshot stay open and are served again; the others are closed as at any start', { generation: 8 }, async (ctx) => {
  const alice = { id: 101, name: 'alice' };
  const bob = { id: 102, name: 'bob' };
  const now = Math.floor(Date.now() / 1000);
  for (const user of [alice, bob]) await phpEntersRoom(ctx.db, ctx.base, NAME, AUTH, 7, user);
  // PHP inserts the private room, then tells the server; alice is in it.
  await ctx.db.query('INSERT INTO chatroom_prooms (proom_id, parent_id, title, owner, created, closed, is_public) VALUES (3, 7, ?, ?, ?, 0, 1)', ['Three', alice.id, now]);
  assert.equal((await backend(ctx.base, NAME, AUTH, 'CreatePrivateRoom', 7, 3, alice.id, 'Three')).success, true);
  assert.equal((await backend(ctx.base, NAME, AUTH, 'EnterPrivateRoom', 7, 3, alice.id)).success, true);
  // A private room the server does not know (open in the database only), and stale
  // sessions: bob's in room 3 (he is not registered there), carol's in room 4.
  await ctx.db.query('INSERT INTO chatroom_prooms (proom_id, parent_id, title, owner, created, closed, is_public) VALUES (4, 7, ?, ?, ?, 0, 1)', ['Four', bob.id, now]);
  await ctx.db.query('INSERT INTO chatroom_psessions (psess_id, proom_id, user_id, connected, disconnected) VALUES (1, 3, 101, ?, 0), (2, 3, 102, ?, 0), (3, 4, 103, ?, 0)', [now, now, now]);

  assert.equal(await ctx.keeper.terminate(ctx.pid), 0);
  assert.ok(fs.existsSync(ctx.snapshotFile), 'the snapshot was saved');
  await ctx.keeper.launch();
  await waitHeartbeat(ctx.base, NAME);
  const rooms = () => ctx.db.query('SELECT proom_id, closed FROM chatroom_prooms ORDER BY proom_id');
  await waitUntil(async () => Number((await rooms())[1].closed) > 0, { what: 'the unknown private room closed' });
  await sleep(300);
  const [three, four] = await rooms();
  assert.equal(Number(three.closed), 0, 'the private room of the snapshot stays open');
  assert.ok(Math.abs(Number(four.closed) - now) < 60, 'the other one is closed now');
  const psessions = await ctx.db.query('SELECT proom_id, user_id, disconnected FROM chatroom_psessions ORDER BY psess_id');
  assert.deepEqual(psessions.map((r) => [Number(r.proom_id), Number(r.user_id), Number(r.disconnected) > 0]), [
    [3, 101, false],
    [3, 102, true],
    [4, 103, true],
  ]);
  assert.match(ctx.keeper.logText(), /private rooms of the snapshot kept open/);
  // Served again: alice's page enters it without PHP calling again.
  const page = new RoomPage(ctx.base, NAME, alice, 7);
  ctx.pages.push(page);
  await waitUntil(() => page.entered >= 1, { what: 'alice in the main room' });
  page.socket.emit('enterRoom', 7, 3);
  await waitUntil(() => page.entered >= 2, { what: 'alice in the private room' });
  const listed = await backend(ctx.base, NAME, AUTH, 'EnterPrivateRoom', 7, 4, bob.id);
  assert.equal(listed.success, false, 'the closed room is not served');
});
