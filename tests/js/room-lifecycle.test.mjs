// Chat-room lifecycle: the disconnect grace period (ILIAS_CHAT_DISCONNECT_GRACE_MS),
// reconnecting within it, the start-up cleanup of chatroom_users, and SIGTERM.

import assert from 'node:assert/strict';

import { connect } from './harness.mjs';
import {
  ALICE,
  BOB,
  NAME,
  ROOM,
  SENTINEL_USER,
  TS_S,
  assertMatch,
  ev,
  roomTest,
  sleep,
} from './room-helpers.mjs';

/** Session rows of `user`, oldest first. */
const sessions = (ctx, user) =>
  ctx.query('SELECT sess_id, room_id, user_id, userdata, connected, disconnected FROM chatroom_sessions WHERE user_id = ? ORDER BY sess_id', [user]);

// reconnect_window 0: without re-entry after the grace period, as the original (see
// reconnect.test.mjs for coming back within the window).
roomTest('disconnect: after the last socket closes and the grace period, the room is told and sessions are written', { generation: 9, rooms: [ROOM, 8], graceMs: 300, serverOverrides: { reconnect_window: 0 } }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join({ ...BOB, tabs: 2 });
  // What PHP's connectUser wrote when the pages were opened.
  const aliceRow = await ctx.insertChatroomUser({ room: ROOM, user: ALICE.id, userdata: '{"login":"alice","id":101}' });
  const bobRow = await ctx.insertChatroomUser({ room: ROOM, user: BOB.id, userdata: '{"login":"bob","id":102}', connected: 1700000000 });
  // bob has a row for room 8 too, but the server never registered him there.
  await ctx.insertChatroomUser({ room: 8, user: BOB.id });

  // Closing one of two tabs starts nothing: the timer starts with the LAST socket.
  bob.tabs[0].close();
  await sleep(3 * 300);
  await ctx.expect([], { message: 'one of two tabs closed' });

  bob.tabs[1].close();
  await ctx.expect(
    [[alice, [ctx.userlist([ALICE]), ctx.notice('disconnected', { username: 'bob' })]]],
    { timeoutMs: 5000, message: 'grace period over' },
  );

  const rows = await ctx.waitRows(
    'SELECT sess_id, room_id, user_id, userdata, connected, disconnected FROM chatroom_sessions WHERE user_id = ?',
    [BOB.id],
    (r) => r.length >= 1,
    { what: 'chatroom_sessions row of bob' },
  );
  await sleep(300);
  const all = await sessions(ctx, BOB.id);
  assert.equal(all.length, 1, `exactly one session row for bob (room 7 only): ${JSON.stringify(all)}`);
  assertMatch(
    { ...all[0], sess_id: Number(all[0].sess_id) },
    { sess_id: Number(rows[0].sess_id), room_id: ROOM, user_id: BOB.id, userdata: bobRow.userdata, connected: bobRow.connected, disconnected: TS_S },
  );
  const [seq] = await ctx.query('SELECT MAX(sequence) AS s FROM chatroom_sessions_seq');
  assert.equal(Number(all[0].sess_id), Number(seq.s), 'sess_id comes from chatroom_sessions_seq');
  const users = await ctx.query('SELECT room_id, user_id, userdata, connected FROM chatroom_users ORDER BY room_id, user_id');
  assert.deepEqual(
    users.map((u) => [u.room_id, u.user_id]),
    [
      [ROOM, ALICE.id],
      [8, BOB.id],
    ],
    'only bob’s row of room 7 left chatroom_users',
  );
  assert.equal(users[0].userdata, aliceRow.userdata);

  // ILIAS 9 stores the disconnected notice.
  const hist = await ctx.waitHistory(1, `message LIKE '%"content":"disconnected"%'`);
  ctx.assertStoredNotice(hist[0], ctx.storedNotice('disconnected', { username: 'bob' }));

  // bob is gone from the room: a message reaches alice only, and bob's browser has to
  // go through PHP again.
  alice.tabs[0].say('alone');
  await ctx.expect([[alice, [ctx.message(ALICE, 'alone')]]]);
  const b = await ctx.browser('bob#3');
  b.emit('login', 'bob', BOB.id);
  await ctx.expect([], { quietMs: 500, message: 'login of a user that left the chat, without a new Connect' });
  await ctx.expectBackend('Connect', [ROOM, BOB.id], { status: 200 });
  b.emit('login', 'bob', BOB.id);
  await ctx.expect([[b, [ev('loggedIn')]]]);
  b.emit('enterRoom', ROOM);
  await ctx.expect([], { message: 'enterRoom before PHP registered him again' });
  await ctx.expectBackend('EnterPrivateRoom', [ROOM, BOB.id], { success: true });
  b.emit('enterRoom', ROOM);
  await ctx.expect([
    [
      b,
      [
        ctx.action('private_room_entered', { subscriber: { id: BOB.id, username: 'bob' } }),
        ctx.userlist([ALICE, BOB]),
        ctx.notice('welcome_to_chat', { id: BOB.id, username: 'bob', title: 'Main' }),
      ],
    ],
    [alice, [ctx.userlist([ALICE, BOB]), ctx.notice('connect', { id: BOB.id, username: 'bob', title: 'Main' })]],
  ]);
});

roomTest('disconnect of a user in two rooms: both rooms are told, both session rows written', { generation: 9, rooms: [ROOM, 8], graceMs: 300 }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const carol = await ctx.join({ id: 103, name: 'carol', room: 8 });
  const bob = await ctx.join(BOB);
  await ctx.expectBackend('EnterPrivateRoom', [8, BOB.id], { success: true });
  bob.tabs[0].enter(8);
  await ctx.settle();
  await ctx.insertChatroomUser({ room: ROOM, user: BOB.id });
  await ctx.insertChatroomUser({ room: 8, user: BOB.id });

  bob.tabs[0].close();
  await ctx.expect(
    [
      [alice, [ctx.userlist([ALICE]), ctx.notice('disconnected', { username: 'bob' })]],
      [carol, [ctx.userlist([{ id: 103, name: 'carol' }], 8), ctx.notice('disconnected', { username: 'bob' }, 8)]],
    ],
    { message: 'grace period over' },
  );
  const rows = await ctx.waitRows('SELECT room_id FROM chatroom_sessions WHERE user_id = ? ORDER BY room_id', [BOB.id], (r) => r.length >= 2);
  await sleep(300);
  assert.deepEqual((await sessions(ctx, BOB.id)).map((r) => r.room_id), [ROOM, 8]);
  assert.equal(rows.length, 2);
  assert.deepEqual(await ctx.query('SELECT room_id FROM chatroom_users WHERE user_id = ?', [BOB.id]), []);
});

for (const [label, resume] of [
  ['page reload (Connect, EnterPrivateRoom, new socket, login, enterRoom)', 'reload'],
  ['a new socket logs in (no Connect)', 'login'],
  ['PHP calls Connect (no socket)', 'connect'],
]) {
  roomTest(`reconnect within the grace period: ${label} cancels the disconnect`, { generation: 9, graceMs: 1200 }, async (ctx) => {
    const alice = await ctx.join(ALICE);
    const bob = await ctx.join(BOB);
    await ctx.insertChatroomUser({ room: ROOM, user: BOB.id });

    bob.tabs[0].close();
    await sleep(150);
    if (resume === 'reload') {
      await ctx.expectBackend('Connect', [ROOM, BOB.id], { status: 200 });
      await ctx.expectBackend('EnterPrivateRoom', [ROOM, BOB.id], { success: true });
      const b = await ctx.browser('bob#2');
      await b.login('bob', BOB.id);
      b.events.length = 0;
      b.emit('enterRoom', ROOM);
      // bob never left: no welcome/connect notices.
      await ctx.expect(
        [
          [b, [ctx.action('private_room_entered', { subscriber: { id: BOB.id, username: 'bob' } }), ctx.userlist([ALICE, BOB])]],
          [alice, [ctx.userlist([ALICE, BOB])]],
        ],
        { message: 'reload' },
      );
    } else if (resume === 'login') {
      const b = await ctx.browser('bob#2');
      await b.login('bob', BOB.id);
      b.events.length = 0;
    } else {
      await ctx.expectBackend('Connect', [ROOM, BOB.id], { status: 200 });
    }

    // Well past the grace period: nothing happened.
    await sleep(1200 + 800);
    await ctx.expect([], { message: 'after the grace period' });
    assert.deepEqual(await sessions(ctx, BOB.id), [], 'no session row');
    assert.equal((await ctx.query('SELECT * FROM chatroom_users WHERE user_id = ?', [BOB.id])).length, 1, 'chatroom_users row kept');
    assert.deepEqual(await ctx.history(`message LIKE '%disconnected%'`), [], 'no disconnected notice stored');

    // bob is still in the room.
    alice.tabs[0].say('still there?');
    const expected = [[alice, [ctx.message(ALICE, 'still there?')]]];
    const b2 = ctx.browsers.find((b) => b.label === 'bob#2');
    if (resume === 'reload') expected.push([b2, [ctx.message(ALICE, 'still there?')]]);
    await ctx.expect(expected);
    if (resume !== 'reload') {
      // Registered and joined as before: the user list still shows him.
      alice.tabs[0].enter(ROOM);
      await ctx.expect([
        [alice, [ctx.action('private_room_entered', { subscriber: { id: ALICE.id, username: 'alice' } }), ctx.userlist([ALICE, BOB])]],
      ]);
    }
  });
}

for (const generation of [8, 9, 10]) {
  const leftovers = [
    { room: ROOM, user: 201, userdata: '{"login":"u201","id":201}', connected: 1700000001 },
    { room: ROOM, user: 202, userdata: '{"login":"Ünïcödé \\"q\\"","id":202}', connected: 1700000002 },
    { room: 8, user: 201, userdata: '{"login":"u201","id":201}', connected: 1700000003 },
  ];
  roomTest(`start-up cleanup (ILIAS ${generation}): leftover chatroom_users rows move to chatroom_sessions exactly once`, { generation, rooms: [ROOM, 8], chatroomUsers: leftovers }, async (ctx) => {
    const rows = await ctx.waitRows(
      'SELECT sess_id, room_id, user_id, userdata, connected, disconnected FROM chatroom_sessions ORDER BY sess_id',
      [],
      (r) => r.length >= leftovers.length + 1,
      { what: 'the leftover rows (and the sentinel) in chatroom_sessions' },
    );
    await sleep(1000); // a second cleanup run would have happened by now
    const again = await ctx.query('SELECT sess_id, room_id, user_id, userdata, connected, disconnected FROM chatroom_sessions ORDER BY sess_id');
    assert.equal(again.length, leftovers.length + 1, `no duplicate session rows: ${JSON.stringify(again)}`);
    assert.deepEqual(again, rows);
    const ids = again.map((r) => Number(r.sess_id));
    assert.equal(new Set(ids).size, ids.length, 'distinct sess_ids');
    const [seq] = await ctx.query('SELECT MAX(sequence) AS s FROM chatroom_sessions_seq');
    assert.equal(Math.max(...ids), Number(seq.s), 'sess_id comes from chatroom_sessions_seq');
    const mine = again
      .filter((r) => r.user_id !== SENTINEL_USER)
      .map(({ room_id, user_id, userdata, connected, disconnected }) => ({ room_id, user_id, userdata, connected, disconnected }))
      .sort((a, b) => a.connected - b.connected);
    assertMatch(
      mine,
      leftovers.map((l) => ({ room_id: l.room, user_id: l.user, userdata: l.userdata, connected: l.connected, disconnected: TS_S })),
    );
    assert.deepEqual(await ctx.query('SELECT * FROM chatroom_users'), [], 'chatroom_users emptied');
  });
}

roomTest('SIGTERM: queued writes are flushed, every socket gets shutdown, sessions are written, exit 0', { generation: 9, graceMs: 5000 }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join(BOB);
  await ctx.insertChatroomUser({ room: ROOM, user: ALICE.id });
  await ctx.insertChatroomUser({ room: ROOM, user: BOB.id });
  const im = await connect(ctx.base, `/${NAME}-im`, { transports: ['websocket'] });
  const imEvents = [];
  im.onAny((event, ...args) => imEvents.push({ event, args }));
  const fresh = await ctx.browser('not logged in');

  alice.tabs[0].say('last words');
  await Promise.all([alice.tabs[0].waitFor('message'), bob.tabs[0].waitFor('message')]);
  // No waiting for the history row: SIGTERM must flush it.
  ctx.server.child.kill('SIGTERM');
  const exit = await Promise.race([ctx.server.exitPromise, sleep(15000).then(() => 'still running 15 s after SIGTERM')]);
  assert.deepEqual(exit, { code: 0, signal: null }, 'exit status');

  const names = (b) => b.events.map((e) => e.event).filter((n) => n !== '(disconnect)');
  assert.deepEqual(names(alice.tabs[0]), ['message', 'shutdown']);
  assert.deepEqual(names(bob.tabs[0]), ['message', 'shutdown']);
  assert.deepEqual(names(fresh), ['shutdown']);
  for (const b of [alice.tabs[0], bob.tabs[0], fresh]) {
    assert.deepEqual(b.events.find((e) => e.event === 'shutdown').args, [], 'shutdown has no payload');
  }
  assert.deepEqual(imEvents.map((e) => e.event), ['shutdown'], 'the on-screen chat socket gets shutdown too');
  im.close();

  const hist = await ctx.history(`message LIKE '%"type":"message"%'`);
  assert.equal(hist.length, 1, 'the message sent just before SIGTERM was stored');
  ctx.assertStored(hist[0], ctx.storedMessage(ALICE, 'last words'));
  assert.deepEqual(await ctx.query('SELECT * FROM chatroom_users'), [], 'chatroom_users emptied');
  for (const user of [ALICE.id, BOB.id]) {
    const s = await sessions(ctx, user);
    assert.equal(s.length, 1, `one session row for ${user}: ${JSON.stringify(s)}`);
    assertMatch(s[0].disconnected, TS_S);
  }
});
