// Coming back by themselves: a browser away longer than the grace period (shortened
// here with ILIAS_CHAT_DISCONNECT_GRACE_MS) reconnects — socket.io-client with
// reconnection on, the page re-sending login and enterRoom — and is back in its room
// within the reconnect window, greeted as on entry and present in chatroom_users again;
// kicked or banned users are not let back; and what the page emitted while it was
// away is handled after its login, in order.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { clientCfg, createTestDb, freePort, serverCfg, sleep, startServer } from './harness.mjs';
import { RoomPage, backend, phpEntersRoom, waitUntil } from './resume-helpers.mjs';

const NAME = 'ilback';
const AUTH = ['rk-back', 'rs-back'];
const ROOM = 7;
const GRACE_MS = 300;
// Away well past the grace period (reconnection attempts start after this).
const AWAY = { reconnectionDelay: 1500, reconnectionDelayMax: 1500, randomizationFactor: 0 };

async function withServer(fn, graceMs = GRACE_MS) {
  const db = await createTestDb(9);
  await db.query("INSERT INTO chatroom_settings (room_id, object_id, room_type, enable_history) VALUES (?, ?, 'repository', 1)", [ROOM, 1007]);
  const server = await startServer(serverCfg(await freePort()), [clientCfg(NAME, AUTH[0], AUTH[1], db)], {
    env: { ILIAS_CHAT_DISCONNECT_GRACE_MS: String(graceMs) },
  });
  await waitUntil(() => /chat rooms loaded/.test(server.stderr() + server.stdout()), { what: 'rooms loaded' });
  const pages = [];
  const ctx = {
    db,
    server,
    base: server.baseUrl,
    pages,
    async page(user, opts = {}) {
      await phpEntersRoom(db, server.baseUrl, NAME, AUTH, ROOM, user);
      const page = new RoomPage(server.baseUrl, NAME, user, ROOM, opts);
      pages.push(page);
      await waitUntil(() => page.entered >= 1, { what: `${user.name} in the room` });
      return page;
    },
  };
  let failed = true;
  try {
    await fn(ctx);
    failed = false;
  } finally {
    for (const p of pages) p.close();
    if (failed) console.error(server.logTail(120));
    await server.stop({ failed });
    await db.drop();
  }
}

/** Cuts the page's connection as a network drop does (the page does not know). */
const drop = (page) => page.socket.io.engine.close();

const presence = (ctx, user) => ctx.db.query('SELECT userdata FROM chatroom_users WHERE room_id = ? AND user_id = ?', [ROOM, user]);

test('back after the grace period: the browser re-enters its room by itself, greeted, present again', { timeout: 60000 }, async () => {
  await withServer(async (ctx) => {
    const alice = await ctx.page({ id: 101, name: 'alice' });
    const bob = await ctx.page({ id: 102, name: 'bob' }, AWAY);
    drop(bob);
    // The grace period ends while bob is away: the room hears he left, his row becomes a session.
    await waitUntil(() => alice.noticesOf('disconnected').length === 1, { what: 'bob announced as gone' });
    await waitUntil(async () => (await presence(ctx, 102)).length === 0, { what: "bob's chatroom_users row moved" });
    assert.equal(bob.entered, 1, 'bob is still away');

    await waitUntil(() => bob.entered >= 2, { what: 'bob back in the room' });
    assert.equal(bob.loggedIn, 2);
    // The welcome is a frame of its own after private_room_entered (and the user list).
    await waitUntil(() => bob.noticesOf('welcome_to_chat').length === 2, { what: 'bob is welcomed as on entry' });
    await waitUntil(() => alice.noticesOf('connect').some((n) => n.data.username === 'bob'), { what: 'alice told bob came' });
    await waitUntil(async () => (await presence(ctx, 102)).length === 1, { what: "bob's row made again" });
    assert.deepEqual(JSON.parse((await presence(ctx, 102))[0].userdata), { login: 'bob', id: 102 });

    bob.say('back');
    await waitUntil(() => alice.texts().includes('back'), { what: "bob's message reaches alice" });
    assert.equal(bob.shutdowns + alice.shutdowns, 0);
  });
});

test('kicked or banned users are not let back after the grace period', { timeout: 60000 }, async () => {
  await withServer(async (ctx) => {
    const alice = await ctx.page({ id: 101, name: 'alice' });
    const carol = await ctx.page({ id: 103, name: 'carol' }, AWAY);
    const dave = await ctx.page({ id: 104, name: 'dave' }, AWAY);
    // Kicked and banned while their browsers are away (ILIAS pages that got
    // userjustkicked/userjustbanned leave; these ones were offline and did not).
    const announced = alice.noticesOf('connect').length;
    drop(carol);
    drop(dave);
    await sleep(100);
    assert.deepEqual(await backend(ctx.base, NAME, AUTH, 'Kick', ROOM, 103), { success: true });
    assert.deepEqual(await backend(ctx.base, NAME, AUTH, 'Ban', ROOM, 104), { success: true });
    await waitUntil(() => carol.connects >= 2 && dave.connects >= 2, { what: 'both reconnected' });
    await sleep(800);
    assert.equal(carol.loggedIn, 1, 'carol (kicked) is not logged in again');
    assert.equal(dave.loggedIn, 1, 'dave (banned) is not logged in again');
    assert.equal(carol.entered + dave.entered, 2, 'neither is back in the room');
    carol.say('let me in');
    dave.say('let me in');
    await sleep(500);
    assert.ok(!alice.texts().includes('let me in'), 'they cannot speak in the room');
    assert.equal(alice.noticesOf('connect').length, announced, 'nobody was announced as back');
  });
});

test('emits buffered while disconnected are handled after the re-login, in order', { timeout: 60000 }, async () => {
  await withServer(async (ctx) => {
    const alice = await ctx.page({ id: 101, name: 'alice' });
    const bob = await ctx.page({ id: 102, name: 'bob' }, { reconnectionDelay: 500, reconnectionDelayMax: 500, randomizationFactor: 0 });
    drop(bob);
    await waitUntil(() => bob.disconnects === 1, { what: 'bob disconnected' });
    // socket.io-client keeps these and sends them on reconnect, before `connect` (and
    // so before the page's login).
    const texts = ['one', 'two', 'three', 'four', 'five'];
    for (const t of texts) bob.say(t);
    await waitUntil(() => alice.texts().length >= texts.length, { what: 'the buffered messages delivered' });
    assert.deepEqual(alice.texts(), texts, 'delivered once each, in order');
    await waitUntil(() => bob.texts().length >= texts.length, { what: 'bob sees his own messages' });
    assert.deepEqual(bob.texts(), texts);
    await waitUntil(async () => (await ctx.db.query('SELECT COUNT(*) AS n FROM chatroom_history WHERE message LIKE \'%"type":"message"%\''))[0].n >= texts.length, { what: 'stored' });
    const rows = await ctx.db.query('SELECT message FROM chatroom_history WHERE message LIKE \'%"type":"message"%\' ORDER BY hist_id');
    assert.deepEqual(rows.map((r) => JSON.parse(r.message).content), texts, 'stored once each, in order');
    assert.ok(!/ignored: socket has not logged in/.test(ctx.server.stderr()), 'nothing refused for want of a login');
  });
});

test('back within the grace period: the room\'s messages of the time away arrive once, in order; a reloaded page gets none', { timeout: 60000 }, async () => {
  await withServer(async (ctx) => {
    const alice = await ctx.page({ id: 1, name: 'alice' });
    const bob = await ctx.page({ id: 2, name: 'bob' }, { reconnectionDelay: 1000, reconnectionDelayMax: 1000, randomizationFactor: 0 });
    const carol = await ctx.page({ id: 3, name: 'carol' });
    alice.say('before');
    await waitUntil(() => bob.texts().includes('before'), { what: 'bob hears the first message' });
    drop(bob);
    await waitUntil(() => bob.disconnects >= 1, { what: 'bob dropped' });
    await sleep(200); // the server has seen the connection close
    alice.say('while away 1');
    alice.say('while away 2');
    await waitUntil(() => bob.entered >= 2, { what: 'bob back' });
    alice.say('after');
    await waitUntil(() => bob.texts().includes('after'), { what: 'bob hears the last message' });
    await sleep(200);
    assert.deepEqual(bob.texts(), ['before', 'while away 1', 'while away 2', 'after']);
    assert.equal(bob.noticesOf('welcome_to_chat').length, 1, 'not greeted again within the grace period');

    // A reload: the page closes, PHP announces the user again (the new page shows the
    // room's past messages from the database itself), the new page enters.
    carol.close();
    await sleep(200);
    alice.say('during the reload');
    const again = await ctx.page({ id: 3, name: 'carol' });
    alice.say('after the reload');
    await waitUntil(() => again.texts().includes('after the reload'), { what: 'the reloaded page hears' });
    await sleep(200);
    assert.deepEqual(again.texts(), ['after the reload'], 'nothing replayed to a reloaded page');
  }, 5000);
});
