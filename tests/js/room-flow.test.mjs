// Repository chat rooms, ILIAS 9 (the baseline): the PHP → browser flow, messages,
// whispers, typing, user lists and every backend action PHP triggers (Kick, Ban,
// ClearMessages, InvitePrivateRoom, LeavePrivateRoom, CreatePrivateRoom, GetRooms),
// with the complete list of events every socket receives.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { httpRequest } from './harness.mjs';
import {
  ALICE,
  BOB,
  CAROL,
  DAVE,
  ACCESS_DENIED,
  BAD_AUTHS,
  NAME,
  NONEMPTY_STRING,
  ROOM,
  ev,
  roomTest,
  sleep,
} from './room-helpers.mjs';

/**
 * bob's (registered) tab `bobTab` enters room ROOM where alice and carol are: it gets
 * private_room_entered, the user list and welcome_to_chat; alice and carol the user
 * list and the connect notice.
 */
async function bobEntersMain(ctx, bobTab, alice, carol, message) {
  const joined = { id: BOB.id, username: 'bob', title: 'Main' };
  bobTab.enter(ROOM, 0, { wait: false });
  await ctx.expect(
    [
      [
        bobTab,
        [
          ctx.action('private_room_entered', { subscriber: { id: BOB.id, username: 'bob' } }),
          ctx.userlist([ALICE, CAROL, BOB]),
          ctx.notice('welcome_to_chat', joined),
        ],
      ],
      [alice, [ctx.userlist([ALICE, CAROL, BOB]), ctx.notice('connect', joined)]],
      [carol, [ctx.userlist([ALICE, CAROL, BOB]), ctx.notice('connect', joined)]],
    ],
    { message },
  );
}

roomTest('full PHP → browser flow: Connect, EnterPrivateRoom, login, enterRoom', { generation: 9 }, async (ctx) => {
  // PHP: showRoom calls Connect, then EnterPrivateRoom.
  await ctx.expectBackend('Connect', [ROOM, ALICE.id], { status: 200 });
  await ctx.expectBackend('EnterPrivateRoom', [ROOM, ALICE.id], { success: true });

  // The browser (default transports, like ILIAS: polling, then the upgrade).
  const a = await ctx.browser('alice', { transports: ['polling', 'websocket'] });
  a.emit('login', ALICE.name, ALICE.id);
  await ctx.expect([[a, [ev('loggedIn')]]], { message: 'login' });

  a.emit('enterRoom', ROOM);
  await ctx.expect(
    [
      [
        a,
        [
          ctx.action('private_room_entered', { subscriber: { id: ALICE.id, username: 'alice' } }),
          ctx.userlist([ALICE]),
          ctx.notice('welcome_to_chat', { id: ALICE.id, username: 'alice', title: 'Main' }),
        ],
      ],
    ],
    { message: 'first enterRoom of alice' },
  );

  // Second user: the first one sees the user list and the connect notice.
  await ctx.expectBackend('Connect', [ROOM, BOB.id], { status: 200 });
  await ctx.expectBackend('EnterPrivateRoom', [ROOM, BOB.id], { success: true });
  const b = await ctx.browser('bob');
  b.emit('login', BOB.name, BOB.id);
  await ctx.expect([[b, [ev('loggedIn')]]]);
  b.emit('enterRoom', ROOM, 0); // ILIAS 9 browsers still send a 0 sub room, which is ignored
  await ctx.expect(
    [
      [
        b,
        [
          ctx.action('private_room_entered', { subscriber: { id: BOB.id, username: 'bob' } }),
          ctx.userlist([ALICE, BOB]),
          ctx.notice('welcome_to_chat', { id: BOB.id, username: 'bob', title: 'Main' }),
        ],
      ],
      [a, [ctx.userlist([ALICE, BOB]), ctx.notice('connect', { id: BOB.id, username: 'bob', title: 'Main' })]],
    ],
    { message: 'first enterRoom of bob' },
  );

  // ILIAS 9 persists the connect notices (the room's view, not the welcome).
  const rows = await ctx.waitHistory(2);
  assert.equal(rows.length, 2, `history rows: ${JSON.stringify(rows)}`);
  ctx.assertStored(rows[0], ctx.storedNotice('connect', { id: ALICE.id, username: 'alice', title: 'Main' }));
  ctx.assertStored(rows[1], ctx.storedNotice('connect', { id: BOB.id, username: 'bob', title: 'Main' }));
  const [seq] = await ctx.query('SELECT MAX(sequence) AS s FROM chatroom_history_seq');
  assert.equal(Number(rows[1].hist_id), Number(seq.s), 'hist_id comes from chatroom_history_seq');
  assert.ok(Number(rows[0].hist_id) < Number(rows[1].hist_id));
});

/**
 * 20 browsers of a room enter at once (each logged in first). Returns how many user
 * lists they got in all, after checking what must hold however lists are paced: each
 * entering browser gets a list and one welcome, each ends with the whole room in its
 * list, and of any two users the one who entered second was announced to the first,
 * never the other way round.
 */
async function roomFillsAtOnce(ctx) {
  const users = Array.from({ length: 20 }, (_, i) => ({ id: 201 + i, name: `student${i + 1}` }));
  const tabs = [];
  for (const user of users) {
    const [tab] = (await ctx.join({ ...user, enter: false })).tabs;
    tabs.push(tab);
  }
  for (const tab of tabs) tab.enter(ROOM, 0, { wait: false });

  const everyone = new Set(users.map((u) => String(u.id)));
  const lastList = (tab) => Object.keys(tab.lastPayload('userlist')?.users ?? {});
  const deadline = Date.now() + 10000;
  while (!tabs.every((tab) => lastList(tab).length === everyone.size)) {
    if (Date.now() > deadline) assert.fail(`not every browser saw the whole room: ${tabs.map((t) => lastList(t).length)}`);
    await sleep(20);
  }
  await sleep(500);

  let lists = 0;
  const announced = new Set();
  for (const [i, tab] of tabs.entries()) {
    const seen = tab.events.map((e) => e.event);
    const entered = seen.indexOf('private_room_entered');
    assert.ok(entered >= 0, `${users[i].name}: private_room_entered`);
    assert.ok(seen.indexOf('userlist', entered) > entered, `${users[i].name}: a list after entering: ${seen.join(', ')}`);
    const welcomes = tab.events.filter((e) => e.event === 'notice' && e.args[0].content === 'welcome_to_chat');
    assert.equal(welcomes.length, 1, `${users[i].name}: one welcome`);
    assert.deepEqual(new Set(lastList(tab)), everyone, `${users[i].name}: the last list is the whole room`);
    lists += seen.filter((e) => e === 'userlist').length;
    for (const e of tab.events) {
      if (e.event === 'notice' && e.args[0].content === 'connect') announced.add(`${e.args[0].data.id} to ${users[i].id}`);
    }
  }
  for (const a of users) {
    for (const b of users) {
      // Exactly one way: the one who entered first cannot have been announced to the
      // one who was not in the room yet.
      if (a.id < b.id) assert.ok(announced.has(`${a.id} to ${b.id}`) !== announced.has(`${b.id} to ${a.id}`), `${a.name} and ${b.name}: ${announced.has(`${a.id} to ${b.id}`) ? 'both ways' : 'neither way'}`);
    }
  }
  for (const tab of tabs) tab.events.length = 0;
  return lists;
}

// By protocol every entry sends the whole list to everyone in the room: 20 browsers
// entering at once get 1 + 2 + … + 20 = 210 lists from the original. The server sends a
// room's list at once only when the room had none for `userlist_interval` (100 ms by
// default); the entries within it are announced by one list at its end.
const ONE_LIST_PER_ENTRY_PER_MEMBER = 210;

roomTest('a room filling at once: user lists paced, every browser ends with the whole room', { generation: 10 }, async (ctx) => {
  const lists = await roomFillsAtOnce(ctx);
  assert.ok(lists < ONE_LIST_PER_ENTRY_PER_MEMBER, `user lists: ${lists}, one per entry per member would be 210`);
  console.error(`# 20 entries at once: ${lists} user lists (one per entry per member: 210)`);
});

roomTest('userlist_interval 0 (set by a reload): a user list for every entry, as the original', { generation: 10 }, async (ctx) => {
  const cfgPath = path.join(ctx.server.dir, 'server.cfg');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  fs.writeFileSync(cfgPath, JSON.stringify({ ...cfg, userlist_interval: 0 }, null, 4) + '\n');
  ctx.server.child.kill('SIGHUP');
  const deadline = Date.now() + 10000;
  while (!ctx.server.stderr().includes('configuration reloaded')) {
    if (Date.now() > deadline) assert.fail('no "configuration reloaded" in the log');
    await sleep(20);
  }
  // Entries are handled one at a time from the join to the notice: each list goes to
  // the room as it is then, exactly the original's count.
  const lists = await roomFillsAtOnce(ctx);
  assert.equal(lists, ONE_LIST_PER_ENTRY_PER_MEMBER, `user lists: ${lists}`);
});

roomTest('user list updates: second tab, re-entering, a second room', { generation: 9, rooms: [ROOM, 8] }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join(BOB);
  const [a1] = alice.tabs;
  const [b1] = bob.tabs;

  // A second tab of bob: loggedIn, then private_room_entered and a user list for
  // everybody, but no notices (bob has already joined).
  const b2 = await ctx.browser('bob#2');
  b2.emit('login', BOB.name, BOB.id);
  await ctx.expect([[b2, [ev('loggedIn')]]]);
  b2.emit('enterRoom', ROOM);
  await ctx.expect(
    [
      [b2, [ctx.action('private_room_entered', { subscriber: { id: BOB.id, username: 'bob' } }), ctx.userlist([ALICE, BOB])]],
      [b1, [ctx.userlist([ALICE, BOB])]],
      [a1, [ctx.userlist([ALICE, BOB])]],
    ],
    { message: 'second tab enters' },
  );

  // Re-entering on the same socket behaves the same.
  a1.emit('enterRoom', ROOM);
  await ctx.expect(
    [
      [a1, [ctx.action('private_room_entered', { subscriber: { id: ALICE.id, username: 'alice' } }), ctx.userlist([ALICE, BOB])]],
      [b1, [ctx.userlist([ALICE, BOB])]],
      [b2, [ctx.userlist([ALICE, BOB])]],
    ],
    { message: 'alice re-enters' },
  );

  // Registered but not entered users are not listed: carol is registered only.
  await ctx.join({ ...CAROL, enter: false });
  await ctx.expect([], { message: 'registration alone emits nothing' });

  // A second room: separate user list, nothing leaks into room 7.
  await ctx.expectBackend('EnterPrivateRoom', [8, ALICE.id], { success: true });
  a1.emit('enterRoom', 8);
  await ctx.expect(
    [
      [
        a1,
        [
          ctx.action('private_room_entered', { subscriber: { id: ALICE.id, username: 'alice' } }, 8),
          ctx.userlist([ALICE], 8),
          ctx.notice('welcome_to_chat', { id: ALICE.id, username: 'alice', title: 'Main' }, 8),
        ],
      ],
    ],
    { message: 'alice enters room 8' },
  );
  b1.say('only room 7');
  await ctx.expect(
    [
      [a1, [ctx.message(BOB, 'only room 7')]],
      [b1, [ctx.message(BOB, 'only room 7')]],
      [b2, [ctx.message(BOB, 'only room 7')]],
    ],
    { message: 'message in room 7' },
  );
  a1.say('only room 8', { room: 8 });
  await ctx.expect([[a1, [ctx.message(ALICE, 'only room 8', { room: 8 })]]], { message: 'message in room 8' });
});

roomTest('public message reaches all three users and is stored for ILIAS', { generation: 9 }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join(BOB);
  const carol = await ctx.join(CAROL);
  const before = (await ctx.waitHistory(3)).length;

  const format = { style: 'italic', color: '#ff0000', family: 'serif', size: '12' };
  alice.tabs[0].say('Hello all', { format });
  const m = ctx.message(ALICE, 'Hello all', { format });
  await ctx.expect([
    [alice, [m]],
    [bob, [m]],
    [carol, [m]],
  ]);
  bob.tabs[0].say('Hi alice');
  const m2 = ctx.message(BOB, 'Hi alice');
  await ctx.expect([
    [alice, [m2]],
    [bob, [m2]],
    [carol, [m2]],
  ]);

  assert.ok(before >= 3, 'the connect notices were stored');
  const rows = await ctx.waitHistory(2, `message LIKE '%"type":"message"%'`);
  assert.equal(rows.length, 2);
  ctx.assertStored(rows[0], ctx.storedMessage(ALICE, 'Hello all', { format }));
  ctx.assertStored(rows[1], ctx.storedMessage(BOB, 'Hi alice'));
  const [seq] = await ctx.query('SELECT MAX(sequence) AS s FROM chatroom_history_seq');
  const [max] = await ctx.query('SELECT MAX(hist_id) AS h FROM chatroom_history');
  assert.equal(Number(max.h), Number(seq.s), 'hist_id comes from chatroom_history_seq');
});

roomTest('whisper (public 0) reaches only sender and target; address (public 1) the room', { generation: 9 }, async (ctx) => {
  const alice = await ctx.join({ ...ALICE, tabs: 2 });
  const bob = await ctx.join({ ...BOB, tabs: 2 });
  const carol = await ctx.join(CAROL);

  // The browser holds the target id as a string (from the DOM).
  const whisper = { username: 'bob', id: String(BOB.id), public: 0 };
  alice.tabs[0].say('psst bob', { target: whisper });
  const w = ctx.message(ALICE, 'psst bob', { target: whisper });
  await ctx.expect(
    [
      [alice, [w]],
      [bob, [w]],
    ],
    { message: 'whisper: every tab of sender and target, nobody else' },
  );

  const address = { username: 'carol', id: CAROL.id, public: 1 };
  bob.tabs[1].say('hey carol', { target: address });
  const p = ctx.message(BOB, 'hey carol', { target: address });
  await ctx.expect(
    [
      [alice, [p]],
      [bob, [p]],
      [carol, [p]],
    ],
    { message: 'public target: the whole room' },
  );

  // A whisper to an unknown user is dropped (nothing delivered, nothing stored).
  carol.tabs[0].say('to nobody', { target: { username: 'ghost', id: '55555', public: 0 } });
  await ctx.expect([], { message: 'whisper to unknown user' });

  // Barrier: a later public message is stored after the earlier ones.
  carol.tabs[0].say('barrier');
  await ctx.expect([
    [alice, [ctx.message(CAROL, 'barrier')]],
    [bob, [ctx.message(CAROL, 'barrier')]],
    [carol, [ctx.message(CAROL, 'barrier')]],
  ]);
  const rows = await ctx.waitHistory(3, `message LIKE '%"type":"message"%'`);
  assert.equal(rows.length, 3, `stored messages: ${rows.map((r) => r.message).join('\n')}`);
  ctx.assertStored(rows[0], ctx.storedMessage(ALICE, 'psst bob', { target: whisper }));
  assert.ok(rows[0].message.includes('"target":{"username":"bob","id":"102","public":0}'), rows[0].message);
  ctx.assertStored(rows[1], ctx.storedMessage(BOB, 'hey carol', { target: address }));
  ctx.assertStored(rows[2], ctx.storedMessage(CAROL, 'barrier'));
});

roomTest('typing indicators go to every other registered user, as a JSON string', { generation: 9 }, async (ctx) => {
  const alice = await ctx.join({ ...ALICE, tabs: 2 });
  const bob = await ctx.join({ ...BOB, tabs: 2 });
  const carol = await ctx.join(CAROL);
  // dave: registered by PHP and logged in, but his browser has not entered the room.
  const dave = await ctx.join({ ...DAVE, enter: false });
  // erin: logged in, not registered in the room.
  const erin = await ctx.join({ id: 105, name: 'erin', register: false, enter: false });
  const before = (await ctx.waitHistory(3)).length;

  const subscriber = JSON.stringify({ id: ALICE.id, username: 'alice' });
  alice.tabs[1].emit('userStartedTyping', ROOM);
  const started = ctx.action('user_started_typing', { subscriber });
  await ctx.expect(
    [
      [bob, [started]],
      [carol, [started]],
      [dave, [started]],
    ],
    { message: 'userStartedTyping' },
  );
  alice.tabs[0].emit('userStoppedTyping', ROOM);
  const stopped = ctx.action('user_stopped_typing', { subscriber });
  await ctx.expect(
    [
      [bob, [stopped]],
      [carol, [stopped]],
      [dave, [stopped]],
    ],
    { message: 'userStoppedTyping' },
  );
  const bobSub = JSON.stringify({ id: BOB.id, username: 'bob' });
  bob.tabs[0].emit('userStartedTyping', ROOM);
  await ctx.expect(
    [
      [alice, [ctx.action('user_started_typing', { subscriber: bobSub })]],
      [carol, [ctx.action('user_started_typing', { subscriber: bobSub })]],
      [dave, [ctx.action('user_started_typing', { subscriber: bobSub })]],
    ],
    { message: 'bob types' },
  );

  // Not registered in the room: ignored.
  erin.tabs[0].emit('userStartedTyping', ROOM);
  erin.tabs[0].emit('userStoppedTyping', ROOM);
  await ctx.expect([], { message: 'typing of an unregistered user' });

  // Nothing is persisted.
  carol.tabs[0].say('barrier');
  const bar = ctx.message(CAROL, 'barrier');
  await ctx.expect([
    [alice, [bar]],
    [bob, [bar]],
    [carol, [bar]],
  ]);
  const rows = await ctx.waitHistory(before + 1);
  assert.equal(rows.length, before + 1, `history: ${rows.map((r) => r.message).join('\n')}`);
  assert.ok(!rows.some((r) => /typing/.test(r.message)));
});

roomTest('Kick: the kicked user is told and removed; the room is told; kicked sockets are muted', { generation: 9 }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join({ ...BOB, tabs: 2 });
  const carol = await ctx.join(CAROL);

  await ctx.expectBackend('Kick', [ROOM, BOB.id], { success: true });
  await ctx.expect(
    [
      [bob, [ctx.action('userjustkicked'), ctx.notice('kicked_from_private_room', { title: 'Main' })]],
      [alice, [ctx.userlist([ALICE, CAROL]), ctx.notice('user_kicked', { user: 'bob' })]],
      [carol, [ctx.userlist([ALICE, CAROL]), ctx.notice('user_kicked', { user: 'bob' })]],
    ],
    { message: 'Kick' },
  );

  // The kicked user's sockets can no longer speak or type there.
  bob.tabs[0].say('still here?');
  bob.tabs[1].say('whisper', { target: { username: 'alice', id: String(ALICE.id), public: 0 } });
  bob.tabs[0].emit('userStartedTyping', ROOM);
  await ctx.expect([], { message: 'kicked user posts and types' });
  // ... and no longer receive the room's messages.
  alice.tabs[0].say('after the kick');
  await ctx.expect([
    [alice, [ctx.message(ALICE, 'after the kick')]],
    [carol, [ctx.message(ALICE, 'after the kick')]],
  ]);
  const stored = await ctx.waitHistory(1, `message LIKE '%after the kick%'`);
  const all = await ctx.history(`message LIKE '%"type":"message"%'`);
  assert.deepEqual(
    all.map((r) => JSON.parse(r.message).content),
    ['after the kick'],
    'the kicked user’s messages were not stored',
  );
  assert.equal(stored.length, 1);

  // Until PHP registers him again: then he can enter and speak.
  await ctx.expectBackend('EnterPrivateRoom', [ROOM, BOB.id], { success: true });
  await bobEntersMain(ctx, bob.tabs[0], alice, carol, 're-registered after the kick');
  bob.tabs[0].say('back');
  await ctx.expect([
    [alice, [ctx.message(BOB, 'back')]],
    [bob.tabs[0], [ctx.message(BOB, 'back')]],
    [carol, [ctx.message(BOB, 'back')]],
  ]);

  // A second Kick: again every tab of bob is told (both sockets still belong to him).
  await ctx.expectBackend('Kick', [ROOM, BOB.id], { success: true });
  await ctx.expect(
    [
      [bob, [ctx.action('userjustkicked'), ctx.notice('kicked_from_private_room', { title: 'Main' })]],
      [alice, [ctx.userlist([ALICE, CAROL]), ctx.notice('user_kicked', { user: 'bob' })]],
      [carol, [ctx.userlist([ALICE, CAROL]), ctx.notice('user_kicked', { user: 'bob' })]],
    ],
    { message: 'second Kick' },
  );
  // Kicking a known user who is not registered in the room changes nothing.
  await ctx.expectBackend('Kick', [ROOM, BOB.id], { success: true });
  await ctx.expect([], { message: 'Kick of an unregistered user' });
});

roomTest('Ban: userjustbanned to the banned user, user list and user_kicked to the room', { generation: 9, rooms: [ROOM, 8] }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join({ ...BOB, tabs: 2 });
  const carol = await ctx.join(CAROL);
  // bob is also in room 8 with alice: only room 7's membership is affected.
  await ctx.expectBackend('EnterPrivateRoom', [8, BOB.id], { success: true });
  await ctx.expectBackend('EnterPrivateRoom', [8, ALICE.id], { success: true });
  alice.tabs[0].enter(8);
  bob.tabs[0].enter(8);
  await sleep(200);
  await ctx.settle();

  await ctx.expectBackend('Ban', [ROOM, BOB.id], { success: true });
  await ctx.expect(
    [
      [bob, [ev('userjustbanned')]],
      [alice, [ctx.userlist([ALICE, CAROL]), ctx.notice('user_kicked', { user: 'bob' })]],
      [carol, [ctx.userlist([ALICE, CAROL]), ctx.notice('user_kicked', { user: 'bob' })]],
    ],
    { message: 'Ban' },
  );

  bob.tabs[0].say('banned but talking');
  bob.tabs[1].emit('userStartedTyping', ROOM);
  await ctx.expect([], { message: 'banned user posts and types' });
  carol.tabs[0].say('barrier');
  await ctx.expect([
    [alice, [ctx.message(CAROL, 'barrier')]],
    [carol, [ctx.message(CAROL, 'barrier')]],
  ]);
  await ctx.waitHistory(1, `message LIKE '%barrier%'`);
  const all = await ctx.history(`message LIKE '%"type":"message"%'`);
  assert.deepEqual(all.map((r) => JSON.parse(r.message).content), ['barrier']);
});

roomTest('ClearMessages: clear, then the history_has_been_cleared notice, to the room only', { generation: 9, rooms: [ROOM, 8] }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join(BOB);
  await ctx.join({ ...CAROL, room: 8 });
  const before = await ctx.history();

  await ctx.expectBackend('ClearMessages', [ROOM, ALICE.id], { success: true });
  const expected = [ctx.action('clear', {}, ROOM, 0, 'history_has_been_cleared'), ctx.notice('history_has_been_cleared')];
  await ctx.expect(
    [
      [alice, expected],
      [bob, expected],
    ],
    { message: 'ClearMessages' },
  );
  // The server does not touch the history (PHP deleted it before calling).
  await sleep(300);
  assert.deepEqual(await ctx.history(), before);
});

roomTest('InvitePrivateRoom: notices to host and invitee; the invitee may then enter', { generation: 9 }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const carol = await ctx.join(CAROL);
  // bob: PHP announced him and his browser is logged in, but he is not in room 7.
  const bob = await ctx.join({ ...BOB, register: false, enter: false, tabs: 2 });

  await ctx.expectBackend('InvitePrivateRoom', [ROOM, ALICE.id, BOB.id], { success: true });
  await ctx.expect(
    [
      [alice, [ctx.notice('user_invited')]],
      [bob, [ctx.action('user_invited', { title: 'Main', owner: null }), ctx.notice('user_invited_self', { user: 'alice', room: 'Main' })]],
    ],
    { message: 'InvitePrivateRoom' },
  );

  // Invited = registered: bob's browser can enter now.
  await bobEntersMain(ctx, bob.tabs[0], alice, carol, 'invitee enters');

  // Inviting a user PHP never announced: created and registered, nobody to tell but the host.
  await ctx.expectBackend('InvitePrivateRoom', [ROOM, ALICE.id, 4711], { success: true });
  await ctx.expect([[alice, [ctx.notice('user_invited')]]], { message: 'invite of an unannounced user' });
  // ... whose browser may then log in and enter without a Connect of its own.
  const x = await ctx.browser('x');
  x.emit('login', 'xavier', 4711);
  await ctx.expect([[x, [ev('loggedIn')]]]);
});

roomTest('LeavePrivateRoom: the leaver gets left + user list, the room the user list + private_room_left', { generation: 9 }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join({ ...BOB, tabs: 2 });
  const carol = await ctx.join(CAROL);

  await ctx.expectBackend('LeavePrivateRoom', [ROOM, BOB.id], { success: true });
  await ctx.expect(
    [
      [bob, [ctx.notice('left'), ctx.userlist([ALICE, CAROL])]],
      [alice, [ctx.userlist([ALICE, CAROL]), ctx.notice('private_room_left', { user: 'bob', title: 'Main' })]],
      [carol, [ctx.userlist([ALICE, CAROL]), ctx.notice('private_room_left', { user: 'bob', title: 'Main' })]],
    ],
    { message: 'LeavePrivateRoom' },
  );

  // bob's sockets left the socket.io room.
  alice.tabs[0].say('bob is gone');
  await ctx.expect([
    [alice, [ctx.message(ALICE, 'bob is gone')]],
    [carol, [ctx.message(ALICE, 'bob is gone')]],
  ]);

  // He stays registered: his browser may come back (a fresh join: notices again).
  await bobEntersMain(ctx, bob.tabs[0], alice, carol, 'bob re-enters');
});

roomTest('CreatePrivateRoom (ILIAS 9: a new chat room), GetRooms, unknown rooms from chatroom_settings', { generation: 9, rooms: [ROOM, 8] }, async (ctx) => {
  await ctx.expectBackend('GetRooms', [], { rooms: { [`${ROOM}_0`]: {}, '8_0': {} } });

  await ctx.expectBackend('CreatePrivateRoom', [21, ALICE.id, 'Brand new'], { success: true });
  await ctx.expectBackend('GetRooms', [], { rooms: { [`${ROOM}_0`]: {}, '8_0': {}, '21_0': {} } });
  // Creating an existing room changes nothing (title stays).
  await ctx.expectBackend('CreatePrivateRoom', [21, BOB.id, 'Other title'], { success: true });
  await ctx.expectBackend('CreatePrivateRoom', [ROOM, BOB.id, 'Not Main'], { success: true });
  await ctx.expectBackend('GetRooms', [], { rooms: { [`${ROOM}_0`]: {}, '8_0': {}, '21_0': {} } });

  // The created room works like any other, with its title.
  await ctx.expectBackend('Connect', [21, ALICE.id], { status: 200 });
  await ctx.expectBackend('EnterPrivateRoom', [21, ALICE.id], { success: true });
  const a = await ctx.browser('alice');
  await a.login('alice', ALICE.id);
  a.events.length = 0;
  a.emit('enterRoom', 21);
  await ctx.expect([
    [
      a,
      [
        ctx.action('private_room_entered', { subscriber: { id: ALICE.id, username: 'alice' } }, 21),
        ctx.userlist([ALICE], 21),
        ctx.notice('welcome_to_chat', { id: ALICE.id, username: 'alice', title: 'Brand new' }, 21),
      ],
    ],
  ]);
  a.say('in the new room', { room: 21 });
  await ctx.expect([[a, [ctx.message(ALICE, 'in the new room', { room: 21 })]]]);
  const rows = await ctx.waitHistory(1, `room_id = 21 AND message LIKE '%"type":"message"%'`);
  ctx.assertStored(rows[0], ctx.storedMessage(ALICE, 'in the new room', { room: 21 }), { room: 21 });

  // A chat room created in ILIAS while the server ran (no CreatePrivateRoom): looked up
  // in chatroom_settings on first use.
  await ctx.insertRoom(33);
  await ctx.expectBackend('Connect', [33, BOB.id], { status: 200 });
  await ctx.expectBackend('EnterPrivateRoom', [33, BOB.id], { success: true });
  await ctx.expectBackend('GetRooms', [], { rooms: { [`${ROOM}_0`]: {}, '8_0': {}, '21_0': {}, '33_0': {} } });
  // A room that exists nowhere.
  await ctx.expectBackend('EnterPrivateRoom', [34, BOB.id], { success: false, reason: NONEMPTY_STRING });
  await ctx.expectBackend('GetRooms', [], { rooms: { [`${ROOM}_0`]: {}, '8_0': {}, '21_0': {}, '33_0': {} } });
});

roomTest('Post (legacy ILIAS ≤ 7 route) answers success and does nothing', { generation: 9 }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  await ctx.expectBackend('Post', [ROOM], { success: true });
  const r = await ctx.backend('Post', [ROOM], { query: '?message=%7B%22content%22%3A%22x%22%7D' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { success: true });
  await ctx.expect([], { message: 'Post emits nothing' });
  assert.ok(alice);
});

roomTest('every backend route but Heartbeat requires the client’s Basic auth', { generation: 9, rooms: [ROOM, 8] }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join({ ...BOB, room: ROOM });
  const routes = [
    ['Connect', [ROOM, 301]],
    ['EnterPrivateRoom', [ROOM, BOB.id]],
    ['LeavePrivateRoom', [ROOM, BOB.id]],
    ['CreatePrivateRoom', [40, ALICE.id, 'Sneaky']],
    ['InvitePrivateRoom', [ROOM, ALICE.id, 302]],
    ['ClearMessages', [ROOM, ALICE.id]],
    ['Kick', [ROOM, BOB.id]],
    ['Ban', [ROOM, BOB.id]],
    ['GetRooms', []],
    ['Post', [ROOM]],
  ];
  for (const [action, segs, query = ''] of routes) {
    for (const [label, auth] of BAD_AUTHS) {
      const r = await ctx.backend(action, segs, { auth, query });
      assert.equal(r.status, 200, `${action} (${label}): HTTP status, body ${r.body}`);
      assert.deepEqual(r.json, ACCESS_DENIED, `${action} (${label}) answered ${r.body}`);
    }
    // Lower-case action names and a trailing slash are the same route.
    const r = await ctx.rawGet(`/backend/${action.toLowerCase()}/${NAME}/${segs.join('/')}${segs.length ? '/' : ''}${query}`, null);
    assert.deepEqual(r.json, ACCESS_DENIED, `${action.toLowerCase()} with trailing slash: ${r.body}`);
  }
  // Malformed Authorization headers.
  for (const header of ['Basic', 'Basic !!!', 'Bearer abc', `Basic ${Buffer.from(`${'rk-8c1f2a7e'}`).toString('base64')}`]) {
    const r = await httpRequest(`${ctx.base}/backend/Kick/${NAME}/${ROOM}/${BOB.id}`, { headers: { Authorization: header } });
    assert.equal(r.status, 200, `header ${header}: ${r.body}`);
    assert.deepEqual(JSON.parse(r.body), ACCESS_DENIED, `header ${header}`);
  }
  // Credentials of this client for another client name: denied.
  const other = await ctx.backend('Kick', [ROOM, BOB.id], { ns: 'other' });
  assert.deepEqual(other.json, ACCESS_DENIED, `unknown client: ${other.body}`);

  // None of the refused calls had an effect.
  await ctx.expect([], { message: 'refused calls emitted something' });
  bob.tabs[0].say('still registered');
  await ctx.expect([
    [alice, [ctx.message(BOB, 'still registered')]],
    [bob, [ctx.message(BOB, 'still registered')]],
  ]);
  await ctx.expectBackend('GetRooms', [], { rooms: { [`${ROOM}_0`]: {}, '8_0': {} } });

  // Heartbeat needs none, for any name.
  await ctx.heartbeat();
  const hb = await ctx.rawGet('/backend/Heartbeat/whatever', null);
  assert.deepEqual(hb.json, { status: 200 });
  assert.equal(hb.status, 200);
});

roomTest('UserConfigChange (the on-screen chat’s route) requires Basic auth too', { generation: 9 }, async (ctx) => {
  const query = '?message=' + encodeURIComponent(JSON.stringify({ 101: { acceptsMessages: false } }));
  for (const [label, auth] of BAD_AUTHS) {
    const r = await ctx.backend('UserConfigChange', [], { auth, query });
    assert.equal(r.status, 200, `UserConfigChange (${label}): HTTP status, body ${r.body}`);
    assert.deepEqual(r.json, ACCESS_DENIED, `UserConfigChange (${label}) answered ${r.body}`);
  }
  const r = await ctx.backend('UserConfigChange', [], { query });
  assert.equal(r.status, 200, `UserConfigChange with auth: ${r.body}`);
  assert.deepEqual(r.json, { status: 200 });
});

roomTest('login sent right after connect is never lost (browsers emit it in their connect handler)', { generation: 9 }, async (ctx) => {
  const { io } = await import('socket.io-client');
  const attempt = (id, transports, waitMs) =>
    new Promise((resolve) => {
      const socket = io(`${ctx.base}/${NAME}`, { forceNew: true, reconnection: false, transports });
      const timer = setTimeout(() => {
        socket.close();
        resolve(`user ${id} (${transports}): no loggedIn within ${waitMs} ms`);
      }, waitMs);
      // Exactly what the ILIAS client does: login inside the connect handler.
      socket.on('connect', () => socket.emit('login', `u${id}`, id));
      socket.on('loggedIn', () => {
        clearTimeout(timer);
        socket.close();
        resolve(null);
      });
    });
  // Distinct users per attempt: a user whose last socket closed is forgotten after the
  // grace period, and PHP would call Connect again.
  const ids = Array.from({ length: 300 }, (_, i) => 500 + i);
  const ids2 = ids.slice(0, 120).map((id) => id + 1000);
  for (const id of [...ids, ...ids2]) await ctx.expectBackend('Connect', [ROOM, id], { status: 200 });
  const lost = [];
  // One after the other (as in the scenarios), then all at once.
  for (const id of ids) {
    const r = await attempt(id, id % 2 ? ['websocket'] : ['polling', 'websocket'], 2000);
    if (r) lost.push(r);
    if (lost.length >= 3) break; // proven; no need to wait for more
  }
  const parallel = await Promise.all(ids2.map((id) => attempt(id, id % 2 ? ['polling', 'websocket'] : ['websocket'], 10000)));
  lost.push(...parallel.filter(Boolean));
  assert.deepEqual(lost, [], `${lost.length} of up to ${ids.length + ids2.length} logins sent on connect were lost: ${lost.slice(0, 6).join("; ")}`);
});
