// On-screen chat (IM, namespace /<name>-im), ILIAS 9 baseline: login and the
// conversation list, starting 1:1 conversations, messages, two tabs, group
// conversations (addUser), leaving them (removeUser), history paging, activity /
// closeConversation and typing — with the complete list of events every socket
// receives and the rows written afterwards (write-behind: rows are polled for).

import assert from 'node:assert/strict';

import {
  ALICE,
  BOB,
  CAROL,
  DAVE,
  EVE,
  GROUP_FALSE,
  GROUP_TRUE,
  NONNEG_INT,
  TS,
  UUID,
  conv,
  ev,
  idOf,
  groupOfThree,
  imTest,
  latestOf,
  liveConv,
  optional,
  rowJson,
  sleep,
  startConversation,
  userOf,
} from './im-helpers.mjs';

// ---------------------------------------------------------------------------
// login + conversation list
// ---------------------------------------------------------------------------

const seeded = {};

imTest(
  'login lists the existing conversations: unread counts, latest message, closed ones hidden',
  {
    generation: 9,
    seed: async (ctx) => {
      const t0 = Date.now() - 3600000;
      const s = seeded;
      // c1: 1:1 alice–bob, alice read up to m1 (2 unread), bob read everything.
      s.c1 = await ctx.insertConversation({ participants: [ALICE, BOB] });
      s.c1m1 = await ctx.insertMessage({ conv: s.c1.id, user: ALICE.id, message: 'one', ts: t0 + 1000 });
      s.c1m2 = await ctx.insertMessage({ conv: s.c1.id, user: BOB.id, message: 'two', ts: t0 + 2000 });
      s.c1m3 = await ctx.insertMessage({ conv: s.c1.id, user: BOB.id, message: 'three', ts: t0 + 3000 });
      await ctx.insertActivity({ conv: s.c1.id, user: ALICE.id, ts: t0 + 1500 });
      await ctx.insertActivity({ conv: s.c1.id, user: BOB.id, ts: t0 + 3000 });
      // c2: 1:1 alice–carol, closed by alice after the last message: hidden.
      s.c2 = await ctx.insertConversation({ participants: [ALICE, CAROL] });
      await ctx.insertMessage({ conv: s.c2.id, user: CAROL.id, message: 'c2', ts: t0 + 1000 });
      await ctx.insertActivity({ conv: s.c2.id, user: ALICE.id, ts: t0 + 5000, closed: 1 });
      // c3: 1:1 alice–dave, closed by alice but dave wrote afterwards: shown (1 unread).
      s.c3 = await ctx.insertConversation({ participants: [ALICE, DAVE] });
      await ctx.insertMessage({ conv: s.c3.id, user: ALICE.id, message: 'c3 a', ts: t0 + 1000 });
      s.c3m2 = await ctx.insertMessage({ conv: s.c3.id, user: DAVE.id, message: 'c3 d', ts: t0 + 6000 });
      await ctx.insertActivity({ conv: s.c3.id, user: ALICE.id, ts: t0 + 2000, closed: 1 });
      // c4: group alice, bob, carol; closed by alice with unread messages: hidden (group);
      // bob has it open with 1 unread.
      s.c4 = await ctx.insertConversation({ participants: [ALICE, BOB, CAROL], group: true });
      await ctx.insertMessage({ conv: s.c4.id, user: BOB.id, message: 'c4 b', ts: t0 + 1000 });
      s.c4m2 = await ctx.insertMessage({ conv: s.c4.id, user: CAROL.id, message: 'c4 c', ts: t0 + 2000 });
      await ctx.insertActivity({ conv: s.c4.id, user: ALICE.id, ts: t0, closed: 1 });
      await ctx.insertActivity({ conv: s.c4.id, user: BOB.id, ts: t0 + 1500 });
      // c5: group alice, bob, eve; open for alice (activity 0: all 3 unread), closed by bob.
      s.c5 = await ctx.insertConversation({ participants: [ALICE, BOB, EVE], group: true });
      await ctx.insertMessage({ conv: s.c5.id, user: EVE.id, message: 'c5 1', ts: t0 + 1000 });
      await ctx.insertMessage({ conv: s.c5.id, user: BOB.id, message: 'c5 2', ts: t0 + 2000 });
      s.c5m3 = await ctx.insertMessage({ conv: s.c5.id, user: EVE.id, message: 'c5 3', ts: t0 + 3000 });
      await ctx.insertActivity({ conv: s.c5.id, user: ALICE.id, ts: 0 });
      await ctx.insertActivity({ conv: s.c5.id, user: BOB.id, ts: t0 + 3000, closed: 1 });
      // c6: 1:1 alice–eve without messages, open.
      s.c6 = await ctx.insertConversation({ participants: [ALICE, EVE] });
      await ctx.insertActivity({ conv: s.c6.id, user: ALICE.id, ts: t0 });
      // c7: 1:1 bob–carol (not alice's), bob has 1 unread.
      s.c7 = await ctx.insertConversation({ participants: [BOB, CAROL] });
      s.c7m = await ctx.insertMessage({ conv: s.c7.id, user: CAROL.id, message: 'c7', ts: t0 + 4000 });
      await ctx.insertActivity({ conv: s.c7.id, user: BOB.id, ts: t0 });
      for (const u of [ALICE, BOB, CAROL, DAVE, EVE]) await ctx.setPref(u.id, 'y');
    },
  },
  async (ctx) => {
    const s = seeded;
    const activityBefore = await ctx.query('SELECT * FROM osc_activity ORDER BY conversation_id, user_id');
    const convsBefore = await ctx.query('SELECT * FROM osc_conversation ORDER BY id');

    const aliceList = [
      ev('conversation', conv(s.c1.id, [ALICE, BOB], { latest: rowJson(s.c1m3), num: 2, group: GROUP_FALSE })),
      ev('conversation', conv(s.c3.id, [ALICE, DAVE], { latest: rowJson(s.c3m2), num: 1, group: GROUP_FALSE })),
      ev('conversation', conv(s.c5.id, [ALICE, BOB, EVE], { latest: rowJson(s.c5m3), num: 3, group: GROUP_TRUE })),
      ev('conversation', conv(s.c6.id, [ALICE, EVE], { latest: null, num: 0, group: GROUP_FALSE })),
    ];

    const a = await ctx.browser('alice');
    a.emit('login', ALICE.id, ALICE.name);
    await a.waitFor('login');
    assert.equal(a.events[0].event, 'login', `first event of alice: ${JSON.stringify(a.events.map((e) => e.event))}`);
    await ctx.expect([[a, [ev('login', { id: ALICE.id, name: 'alice' }), ...aliceList]]], {
      unordered: true,
      message: 'alice logs in',
    });

    const b = await ctx.browser('bob');
    b.emit('login', BOB.id, BOB.name);
    await b.waitFor('login');
    assert.equal(b.events[0].event, 'login');
    await ctx.expect(
      [
        [
          b,
          [
            ev('login', { id: BOB.id, name: 'bob' }),
            ev('conversation', conv(s.c1.id, [ALICE, BOB], { latest: rowJson(s.c1m3), num: 0, group: GROUP_FALSE })),
            ev('conversation', conv(s.c4.id, [ALICE, BOB, CAROL], { latest: rowJson(s.c4m2), num: 1, group: GROUP_TRUE })),
            ev('conversation', conv(s.c7.id, [BOB, CAROL], { latest: rowJson(s.c7m), num: 1, group: GROUP_FALSE })),
          ],
        ],
      ],
      { unordered: true, message: 'bob logs in (alice gets nothing)' },
    );

    // `conversations` repeats the list (to all of the participant's sockets).
    a.emit('conversations');
    await ctx.expect([[a, aliceList]], { unordered: true, message: 'alice asks for conversations again' });

    // Listing writes nothing.
    await sleep(300);
    assert.deepEqual(await ctx.query('SELECT * FROM osc_activity ORDER BY conversation_id, user_id'), activityBefore);
    assert.deepEqual(await ctx.query('SELECT * FROM osc_conversation ORDER BY id'), convsBefore);
  },
);

imTest(
  'login: the unread count is 0 when the user has no osc_activity row (original SQL: JOIN on a.user_id)',
  {
    generation: 9,
    seed: async (ctx) => {
      seeded.na = await ctx.insertConversation({ participants: [ALICE, BOB] });
      const t0 = Date.now() - 60000;
      await ctx.insertMessage({ conv: seeded.na.id, user: BOB.id, message: 'x', ts: t0 });
      seeded.naLast = await ctx.insertMessage({ conv: seeded.na.id, user: BOB.id, message: 'y', ts: t0 + 1000 });
    },
  },
  async (ctx) => {
    const a = await ctx.browser('alice');
    a.emit('login', ALICE.id, ALICE.name);
    await ctx.expect(
      [
        [
          a,
          [
            ev('login', { id: ALICE.id, name: 'alice' }),
            ev('conversation', conv(seeded.na.id, [ALICE, BOB], { latest: rowJson(seeded.naLast), num: 0, group: GROUP_FALSE })),
          ],
        ],
      ],
      { message: 'spec §7: COUNT … LEFT JOIN osc_activity … AND a.user_id = ? → 0 without a row' },
    );
  },
);

// ---------------------------------------------------------------------------
// starting a 1:1 conversation
// ---------------------------------------------------------------------------

imTest('conversation([me, other]) creates a 1:1 conversation once; the same participants get the same id', { generation: 9 }, async (ctx) => {
  const alice = await ctx.online(ALICE);
  const [a] = alice.tabs;
  // bob is not known yet; the browser hands over his id from a DOM attribute (string).
  a.emit('conversation', [{ id: ALICE.id, name: 'alice' }, { id: String(BOB.id), name: 'bob' }]);
  await a.waitFor('conversation-init');
  const id = a.events[0].args[0].id;
  const bobP = { id: idOf(BOB.id), name: 'bob' };
  await ctx.expect([[a, [ev('conversation-init', conv(id, [ALICE, bobP]))]]], { message: 'first conversation()' });
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'conversation id is a uuid');
  await ctx.waitConversationRow(id, [ALICE, bobP], false);

  // Same participants (number id, other order, string id again): same conversation.
  for (const list of [
    [{ id: ALICE.id, name: 'alice' }, { id: BOB.id, name: 'bob' }],
    [{ id: BOB.id, name: 'bob' }, { id: ALICE.id, name: 'alice' }],
    [{ id: ALICE.id, name: 'alice' }, { id: String(BOB.id), name: 'bob' }],
  ]) {
    a.emit('conversation', list);
    await ctx.expect([[a, [ev('conversation-init', conv(id, [ALICE, bobP]))]]], {
      message: `conversation(${JSON.stringify(list)}) again`,
    });
  }
  await sleep(300);
  const rows = await ctx.query('SELECT id, is_group, participants FROM osc_conversation');
  assert.equal(rows.length, 1, `one osc_conversation row: ${JSON.stringify(rows)}`);

  // bob logs in: the conversation is in his list (no activity, no messages).
  const b = await ctx.browser('bob');
  b.emit('login', BOB.id, 'bob');
  await ctx.expect(
    [[b, [ev('login', { id: idOf(BOB.id), name: 'bob' }), ev('conversation', conv(id, [ALICE, bobP]))]]],
    { message: 'bob logs in' },
  );

  // A different partner: a new conversation.
  a.emit('conversation', [{ id: ALICE.id, name: 'alice' }, { id: String(CAROL.id), name: 'carol' }]);
  await a.waitFor('conversation-init');
  const id2 = a.events[0].args[0].id;
  assert.notEqual(id2, id);
  await ctx.expect([[a, [ev('conversation-init', conv(id2, [ALICE, { id: idOf(CAROL.id), name: 'carol' }]))]]]);
  await ctx.waitConversationRow(id2, [ALICE, { id: idOf(CAROL.id), name: 'carol' }], false);
  assert.equal((await ctx.query('SELECT id FROM osc_conversation')).length, 2);
});

// ---------------------------------------------------------------------------
// messages
// ---------------------------------------------------------------------------

imTest('message both ways: conversation + message to both participants, rows in osc_messages (ms)', { generation: 9 }, async (ctx) => {
  const alice = await ctx.online(ALICE);
  const bob = await ctx.online(BOB);
  const ab = await startConversation(ctx, alice, bob);
  await ctx.waitConversationRow(ab, [ALICE, BOB], false);

  const m1 = await ctx.say(alice, ab, [alice, bob], 'hello bob');
  const rows1 = await ctx.waitMessages(ab, 1);
  assert.equal(rows1.length, 1);
  assert.match(rows1[0].id, /^[0-9a-f-]{36}$/i, 'osc_messages.id is a uuid');
  assert.deepEqual(
    { ...rows1[0], id: 'x' },
    { id: 'x', conversation_id: ab, user_id: ALICE.id, message: 'hello bob', timestamp: m1.timestamp },
    'row of the first message (timestamp = the delivered ms timestamp)',
  );

  await sleep(5);
  const m2 = await ctx.say(bob, ab, [alice, bob], 'hi alice');
  const rows = await ctx.waitMessages(ab, 2);
  assert.equal(rows.length, 2);
  assert.deepEqual(
    rows.map((r) => [r.user_id, r.message, r.timestamp]),
    [
      [ALICE.id, 'hello bob', m1.timestamp],
      [BOB.id, 'hi alice', m2.timestamp],
    ],
  );
  assert.ok(m2.timestamp >= m1.timestamp);

  // The history returns both, newest first.
  bob.tabs[0].emit('history', ab, null);
  await ctx.expect([
    [
      bob,
      [
        ev('history', {
          ...liveConv(ab, [alice, bob]),
          messages: [rowJson({ ...rows[1], conv: ab, user: BOB.id, ts: rows[1].timestamp }), rowJson({ ...rows[0], conv: ab, user: ALICE.id, ts: rows[0].timestamp })],
          oldestMessageTimestamp: m1.timestamp,
          reverseSorting: optional(false),
        }),
      ],
    ],
  ]);

  // A participant that is offline is skipped without a trace; the message is stored.
  bob.tabs[0].close();
  await sleep(300);
  alice.tabs[0].emit('message', ab, ALICE.id, 'are you there?');
  await ctx.expect([[alice, [ev('conversation', liveConv(ab, [alice, bob])), ev('message', ctx.msg(ab, alice, 'are you there?'))]]], {
    message: 'bob offline',
  });
  await ctx.waitMessages(ab, 3);
});

imTest('a user with two tabs gets every event on both; closed tabs are dropped', { generation: 9 }, async (ctx) => {
  const a1 = await ctx.browser('alice#1');
  await a1.login(ALICE.id, 'alice');
  const bob = await ctx.online(BOB);
  await ctx.settle();
  const alice1 = userOf(ALICE, a1);
  const ab = await startConversation(ctx, alice1, bob);

  // The second tab logs in: its list, and (spec §5.4) the list also goes to tab 1.
  const a2 = await ctx.browser('alice#2');
  a2.emit('login', ALICE.id, 'alice');
  await ctx.expect(
    [
      [a2, [ev('login', { id: ALICE.id, name: 'alice' }), ev('conversation', conv(ab, [ALICE, BOB], { latest: null, num: NONNEG_INT }))]],
      [a1, [ev('conversation', conv(ab, [ALICE, BOB], { latest: null, num: NONNEG_INT }))]],
    ],
    { message: 'second tab logs in' },
  );
  const alice = userOf(ALICE, a1, a2);

  await ctx.say(bob, ab, [alice, bob], 'to both tabs');
  await ctx.say(userOf(ALICE, a2, a1), ab, [alice, bob], 'from tab 2');
  await ctx.waitMessages(ab, 2);

  // history from tab 1 → both tabs
  a1.emit('history', ab, null);
  const hist = (await a1.waitFor('history')).args[0];
  assert.equal(hist.messages.length, 2);
  await ctx.expect(
    [
      [
        alice,
        [
          ev('history', {
            ...liveConv(ab, [ALICE, BOB]),
            messages: [
              { id: UUID, conversation_id: ab, user_id: ALICE.id, message: 'from tab 2', timestamp: TS, userId: ALICE.id, conversationId: ab },
              { id: UUID, conversation_id: ab, user_id: BOB.id, message: 'to both tabs', timestamp: TS, userId: BOB.id, conversationId: ab },
            ],
            oldestMessageTimestamp: TS,
            reverseSorting: optional(false),
          }),
        ],
      ],
    ],
    { message: 'history goes to both tabs' },
  );

  // typing of bob → both tabs
  bob.tabs[0].emit('userStartedTyping', ab, BOB.id);
  await ctx.expect([[alice, [ev('userStartedTyping', { conversation: liveConv(ab, [ALICE, BOB]), participant: { id: BOB.id, name: 'bob' } })]]]);

  // conversation-init → both tabs
  a1.emit('conversation', [{ id: ALICE.id, name: 'alice' }, { id: String(BOB.id), name: 'bob' }]);
  await ctx.expect([[alice, [ev('conversation-init', conv(ab, [ALICE, BOB], { latest: latestOf(ab), num: NONNEG_INT }))]]]);

  // addUser: `conversation` to all tabs, `addUser` only to the requesting one.
  const carol = await ctx.online(CAROL);
  a2.emit('addUser', ab, CAROL.id, 'carol');
  await a2.waitFor('addUser');
  const g = a2.events.find((e) => e.event === 'addUser').args[0].id;
  const gconv = conv(g, [ALICE, BOB, CAROL], { group: true });
  await ctx.expect(
    [
      [a2, [ev('conversation', gconv), ev('addUser', gconv)]],
      [a1, [ev('conversation', gconv)]],
    ],
    { message: 'addUser from tab 2' },
  );

  // Tab 1 closes: events go to tab 2 only (and nothing breaks).
  a1.close();
  await sleep(300);
  await ctx.say(bob, ab, [userOf(ALICE, a2), bob], 'after tab 1 closed');
  await ctx.say(carol, g, [userOf(ALICE, a2), bob, carol], 'group after tab 1 closed', { group: true });

  // Tab 2 closes too: alice is offline, nothing is suppressed, messages are stored.
  a2.close();
  await sleep(300);
  await ctx.say(bob, ab, [ALICE, bob], 'alice is gone');
  const rows = await ctx.waitMessages(ab, 4);
  assert.equal(rows.length, 4);
  const last = rows[rows.length - 1];
  assert.equal(last.message, 'alice is gone');

  // A new tab: login and the list again, nothing of what was sent while offline.
  await ctx.waitMessages(g, 1);
  const a3 = await ctx.browser('alice#3');
  a3.emit('login', ALICE.id, 'alice');
  await ctx.expect(
    [
      [
        a3,
        [
          ev('login', { id: ALICE.id, name: 'alice' }),
          ev('conversation', conv(ab, [ALICE, BOB], { latest: rowJson({ ...last, conv: ab, user: BOB.id, ts: last.timestamp }), num: NONNEG_INT })),
          ev('conversation', conv(g, [ALICE, BOB, CAROL], { latest: latestOf(g), num: 1, group: true })),
        ],
      ],
    ],
    { unordered: true, message: 'alice comes back' },
  );
});

// ---------------------------------------------------------------------------
// group conversations
// ---------------------------------------------------------------------------

imTest('addUser turns a 1:1 conversation into a new group conversation; the 1:1 stays', { generation: 9 }, async (ctx) => {
  const alice = await ctx.online(ALICE);
  const bob = await ctx.online(BOB);
  const carol = await ctx.online(CAROL);
  const ab = await startConversation(ctx, alice, bob);
  await ctx.waitConversationRow(ab, [ALICE, BOB], false);

  alice.tabs[0].emit('addUser', ab, CAROL.id, 'carol');
  await alice.tabs[0].waitFor('addUser');
  const g = alice.tabs[0].events.find((e) => e.event === 'addUser').args[0].id;
  assert.notEqual(g, ab, 'a new conversation id');
  const gconv = conv(g, [ALICE, BOB, CAROL], { group: true });
  await ctx.expect([[alice, [ev('conversation', gconv), ev('addUser', gconv)]]], {
    message: 'addUser: requester only (others are not notified)',
  });
  await ctx.waitConversationRow(g, [ALICE, BOB, CAROL], true);
  await ctx.waitConversationRow(ab, [ALICE, BOB], false);
  const act = await ctx.waitRows(
    'SELECT user_id, timestamp, is_closed FROM osc_activity WHERE conversation_id = ? ORDER BY user_id',
    [g],
    (r) => r.length === 3,
    { what: 'osc_activity rows of the group' },
  );
  assert.deepEqual(act.map((r) => [r.user_id, Number(r.timestamp), r.is_closed]), [
    [ALICE.id, 0, 0],
    [BOB.id, 0, 0],
    [CAROL.id, 0, 0],
  ]);

  // The group works.
  await ctx.say(alice, g, [alice, bob, carol], 'hello group', { group: true });
  await ctx.waitMessages(g, 1);
  assert.equal((await ctx.messages(ab)).length, 0, 'nothing in the 1:1');

  // Adding to a group adds to the same conversation (dave is offline).
  alice.tabs[0].emit('addUser', g, DAVE.id, 'dave');
  const g4 = conv(g, [ALICE, BOB, CAROL, DAVE], { latest: latestOf(g), num: NONNEG_INT, group: true });
  await ctx.expect([[alice, [ev('conversation', g4), ev('addUser', g4)]]], { message: 'addUser dave to the group' });
  await ctx.waitConversationRow(g, [ALICE, BOB, CAROL, DAVE], true);
  await ctx.waitRows('SELECT * FROM osc_activity WHERE conversation_id = ? AND user_id = ?', [g, DAVE.id], (r) => r.length === 1 && Number(r[0].timestamp) === 0);

  // Any participant may add; adding a member again does nothing.
  bob.tabs[0].emit('addUser', g, CAROL.id, 'carol');
  await ctx.expect([], { message: 'carol is already a member' });
  bob.tabs[0].emit('addUser', g, EVE.id, 'eve');
  const g5 = conv(g, [ALICE, BOB, CAROL, DAVE, EVE], { latest: latestOf(g), num: NONNEG_INT, group: true });
  await ctx.expect([[bob, [ev('conversation', g5), ev('addUser', g5)]]], { message: 'bob adds eve' });
  await ctx.waitConversationRow(g, [ALICE, BOB, CAROL, DAVE, EVE], true);
  assert.equal((await ctx.query('SELECT id FROM osc_conversation')).length, 2, 'two conversations in total');

  // conversation([alice, bob]) still finds the 1:1.
  alice.tabs[0].emit('conversation', [{ id: ALICE.id, name: 'alice' }, { id: String(BOB.id), name: 'bob' }]);
  await ctx.expect([[alice, [ev('conversation-init', conv(ab, [ALICE, BOB], { latest: null, num: NONNEG_INT }))]]]);
});

imTest('removeUser: the leaver gets removeUser, the rest get the updated conversation', { generation: 9 }, async (ctx) => {
  const { alice, bob, carol, ab, g } = await groupOfThree(ctx);
  await ctx.waitConversationRow(g, [ALICE, BOB, CAROL], true);

  carol.tabs[0].emit('removeUser', g, CAROL.id, 'carol');
  await ctx.expect(
    [
      [carol, [ev('removeUser', liveConv(g, [ALICE, BOB], { group: true }))]],
      [alice, [ev('conversation', liveConv(g, [ALICE, BOB], { group: true }))]],
      [bob, [ev('conversation', liveConv(g, [ALICE, BOB], { group: true }))]],
    ],
    { message: 'carol leaves the group' },
  );
  await ctx.waitConversationRow(g, [ALICE, BOB], true);

  // carol no longer gets the group's messages and cannot use it.
  await ctx.say(alice, g, [alice, bob], 'without carol', { group: true });
  carol.tabs[0].emit('message', g, CAROL.id, 'let me back');
  carol.tabs[0].emit('history', g, null);
  carol.tabs[0].emit('userStartedTyping', g, CAROL.id);
  await ctx.expect([], { message: 'carol is not a participant any more' });
  const rows = await ctx.waitMessages(g, 1);
  await sleep(500);
  assert.deepEqual((await ctx.messages(g)).map((r) => r.message), ['without carol']);
  assert.equal(rows.length, 1);
});

// ---------------------------------------------------------------------------
// history
// ---------------------------------------------------------------------------

const hist = {};

imTest(
  'history pages through 15 messages, 6 per page, newest first, with oldestMessageTimestamp',
  {
    generation: 9,
    seed: async (ctx) => {
      const t0 = Date.now() - 3600000;
      hist.c = await ctx.insertConversation({ participants: [ALICE, BOB] });
      hist.m = [];
      for (let i = 1; i <= 15; i++) {
        hist.m.push(await ctx.insertMessage({ conv: hist.c.id, user: i % 2 ? ALICE.id : BOB.id, message: `m${i}`, ts: t0 + i * 1000 }));
      }
      await ctx.insertActivity({ conv: hist.c.id, user: ALICE.id, ts: t0 + 15000 });
    },
  },
  async (ctx) => {
    const { c, m } = hist;
    const a = await ctx.browser('alice');
    a.emit('login', ALICE.id, 'alice');
    await ctx.expect([[a, [ev('login', { id: ALICE.id, name: 'alice' }), ev('conversation', conv(c.id, [ALICE, BOB], { latest: rowJson(m[14]), num: 0, group: GROUP_FALSE }))]]]);
    const eve = await ctx.online(EVE);

    const page = (msgs, oldest) => ({
      ...conv(c.id, [ALICE, BOB], { latest: latestOf(c.id), num: NONNEG_INT, group: GROUP_FALSE }),
      messages: msgs.map(rowJson),
      oldestMessageTimestamp: oldest,
      reverseSorting: optional(false),
    });
    const byNo = (...nos) => nos.map((n) => m[n - 1]);

    a.emit('history', c.id, null);
    await ctx.expect([[a, [ev('history', page(byNo(15, 14, 13, 12, 11, 10), m[9].ts))]]], { message: 'page 1' });
    a.emit('history', c.id, m[9].ts);
    await ctx.expect([[a, [ev('history', page(byNo(9, 8, 7, 6, 5, 4), m[3].ts))]]], { message: 'page 2' });
    a.emit('history', c.id, m[3].ts);
    await ctx.expect([[a, [ev('history', page(byNo(3, 2, 1), m[0].ts))]]], { message: 'page 3' });
    a.emit('history', c.id, m[0].ts);
    await ctx.expect([[a, [ev('history', page([], m[0].ts))]]], { message: 'past the oldest' });

    // Not a participant: nothing.
    eve.tabs[0].emit('history', c.id, null);
    await ctx.expect([], { message: 'eve is no participant' });
  },
);

// ---------------------------------------------------------------------------
// activity, closeConversation
// ---------------------------------------------------------------------------

imTest('activity writes osc_activity; closeConversation sets is_closed and hides the conversation at the next login', { generation: 9 }, async (ctx) => {
  const alice = await ctx.online(ALICE);
  const bob = await ctx.online(BOB);
  const ab = await startConversation(ctx, alice, bob);
  const [a] = alice.tabs;

  const t1 = Date.now() - 5000;
  a.emit('activity', ab, ALICE.id, t1);
  await ctx.expect([], { message: 'activity emits nothing' });
  await ctx.waitRows('SELECT timestamp, is_closed FROM osc_activity WHERE conversation_id = ? AND user_id = ?', [ab, ALICE.id], (r) => r.length === 1 && Number(r[0].timestamp) === t1 && r[0].is_closed === 0, { what: 'activity row t1' });

  const t2 = t1 + 1000;
  a.emit('activity', ab, ALICE.id, t2);
  await ctx.waitRows('SELECT timestamp, is_closed FROM osc_activity WHERE conversation_id = ? AND user_id = ?', [ab, ALICE.id], (r) => r.length === 1 && Number(r[0].timestamp) === t2, { what: 'activity row t2' });

  // timestamp 0 does not overwrite an existing row
  a.emit('activity', ab, ALICE.id, 0);
  bob.tabs[0].emit('activity', ab, BOB.id, t2); // barrier: a later write
  await ctx.waitRows('SELECT * FROM osc_activity WHERE conversation_id = ? AND user_id = ?', [ab, BOB.id], (r) => r.length === 1);
  assert.equal(Number((await ctx.activity(ab, ALICE.id))[0].timestamp), t2, 'activity 0 keeps the timestamp');

  // closeConversation: is_closed = 1, timestamp = now
  const before = Date.now();
  a.emit('closeConversation', ab, ALICE.id);
  await ctx.expect([], { message: 'closeConversation emits nothing' });
  const closed = await ctx.waitRows('SELECT timestamp, is_closed FROM osc_activity WHERE conversation_id = ? AND user_id = ?', [ab, ALICE.id], (r) => r[0].is_closed === 1, { what: 'is_closed = 1' });
  const closedTs = Number(closed[0].timestamp);
  assert.ok(closedTs >= before - 1000 && closedTs <= Date.now() + 1000, `close timestamp ${closedTs} ≈ now (ms)`);

  // closeConversation without an activity row creates none (carol: new 1:1 with alice).
  const carol = await ctx.online(CAROL);
  const ac = await startConversation(ctx, alice, carol);
  carol.tabs[0].emit('closeConversation', ac, CAROL.id);
  carol.tabs[0].emit('activity', ab, CAROL.id, t1); // ignored: carol is not in ab
  a.emit('activity', ac, ALICE.id, t1); // barrier
  await ctx.waitRows('SELECT * FROM osc_activity WHERE conversation_id = ? AND user_id = ?', [ac, ALICE.id], (r) => r.length === 1);
  assert.deepEqual(await ctx.activity(ac, CAROL.id), [], 'no row for closeConversation without a row');
  assert.deepEqual(await ctx.activity(ab, CAROL.id), [], 'no row for a non-participant');
  await ctx.expect([]);

  // A new login of alice: ab is closed without unread messages → not listed.
  a.close();
  const a2 = await ctx.browser('alice#2');
  a2.emit('login', ALICE.id, 'alice');
  await ctx.expect(
    [[a2, [ev('login', { id: ALICE.id, name: 'alice' }), ev('conversation', conv(ac, [ALICE, CAROL], { latest: null, num: 0 }))]]],
    { unordered: true, message: 'closed 1:1 without unread is hidden' },
  );

  // bob writes; alice's open tab still gets it; the next login lists ab with 1 unread.
  await sleep(20);
  const m = await ctx.say(bob, ab, [userOf(ALICE, a2), bob], 'wake up');
  const [row] = await ctx.waitMessages(ab, 1);
  a2.close();
  const a3 = await ctx.browser('alice#3');
  a3.emit('login', ALICE.id, 'alice');
  await ctx.expect(
    [
      [
        a3,
        [
          ev('login', { id: ALICE.id, name: 'alice' }),
          ev('conversation', conv(ab, [ALICE, BOB], { latest: rowJson({ ...row, conv: ab, user: BOB.id, ts: m.timestamp }), num: 1 })),
          ev('conversation', conv(ac, [ALICE, CAROL], { latest: null, num: 0 })),
        ],
      ],
    ],
    { unordered: true, message: 'closed 1:1 with unread is shown' },
  );

  // activity re-opens
  const t3 = Date.now();
  a3.emit('activity', ab, ALICE.id, t3);
  await ctx.waitRows('SELECT timestamp, is_closed FROM osc_activity WHERE conversation_id = ? AND user_id = ?', [ab, ALICE.id], (r) => r[0].is_closed === 0 && Number(r[0].timestamp) === t3, { what: 'activity reopens' });
});

// ---------------------------------------------------------------------------
// typing
// ---------------------------------------------------------------------------

imTest('userStartedTyping / userStoppedTyping go to the other participants only', { generation: 9 }, async (ctx) => {
  const alice = await ctx.online(ALICE);
  const bob = await ctx.online(BOB);
  const carol = await ctx.online(CAROL);
  const dave = await ctx.online(DAVE);
  const ab = await startConversation(ctx, alice, bob);
  alice.tabs[0].emit('addUser', ab, CAROL.id, 'carol');
  const g = (await alice.tabs[0].waitFor('addUser')).args[0].id;
  await ctx.settle();

  const payload = (id, parts, who, group) => ({ conversation: liveConv(id, parts, { group }), participant: { id: who.id, name: who.name } });
  bob.tabs[0].emit('userStartedTyping', g, BOB.id);
  await ctx.expect(
    [
      [alice, [ev('userStartedTyping', payload(g, [ALICE, BOB, CAROL], BOB, true))]],
      [carol, [ev('userStartedTyping', payload(g, [ALICE, BOB, CAROL], BOB, true))]],
    ],
    { message: 'bob types in the group (dave, bob: nothing)' },
  );
  bob.tabs[0].emit('userStoppedTyping', g, BOB.id);
  await ctx.expect([
    [alice, [ev('userStoppedTyping', payload(g, [ALICE, BOB, CAROL], BOB, true))]],
    [carol, [ev('userStoppedTyping', payload(g, [ALICE, BOB, CAROL], BOB, true))]],
  ]);
  alice.tabs[0].emit('userStartedTyping', ab, ALICE.id);
  await ctx.expect([[bob, [ev('userStartedTyping', payload(ab, [ALICE, BOB], ALICE, false))]]], { message: 'alice types in the 1:1' });
  alice.tabs[0].emit('userStoppedTyping', ab, ALICE.id);
  await ctx.expect([[bob, [ev('userStoppedTyping', payload(ab, [ALICE, BOB], ALICE, false))]]]);

  // dave is no participant: his typing goes nowhere.
  dave.tabs[0].emit('userStartedTyping', g, DAVE.id);
  await ctx.expect([], { message: 'non-participant types' });
  // Nothing is stored.
  assert.equal((await ctx.query('SELECT * FROM osc_messages')).length, 0);
});
