// On-screen chat robustness and the identity fix: an IM socket may only act for the user
// id it logged in as (events whose userId differs are ignored), events before `login`
// are ignored, and every malformed event (wrong types, missing arguments, unknown
// conversation ids, requests of non-participants, huge strings, arrays / null) is
// ignored — nobody gets anything, nothing is written, and the server keeps serving the
// others (after each event another user's message must still go through).

import assert from 'node:assert/strict';

import {
  ALICE,
  BOB,
  CAROL,
  DAVE,
  EVE,
  FRANK,
  ev,
  groupOfThree,
  imTest,
  sleep,
  startConversation,
} from './im-helpers.mjs';

imTest('an IM socket acts only for the user it logged in as', { generation: 9 }, async (ctx) => {
  const { alice, bob, carol, ab, g } = await groupOfThree(ctx);
  const tBob = Date.now() - 10000;
  bob.tabs[0].emit('activity', ab, BOB.id, tBob);
  await ctx.waitRows('SELECT * FROM osc_activity WHERE conversation_id = ? AND user_id = ?', [ab, BOB.id], (r) => r.length === 1 && Number(r[0].timestamp) === tBob);
  await ctx.waitConversationRow(g, [ALICE, BOB, CAROL], true);
  const [a] = alice.tabs;

  const attempts = [
    ['message as bob', 'message', ab, BOB.id, 'I am bob'],
    ['message as bob (string id)', 'message', ab, String(BOB.id), 'I am bob too'],
    ['message as an unknown user', 'message', ab, 999, 'who am I'],
    ['group message as carol', 'message', g, CAROL.id, 'I am carol'],
    ['typing as bob', 'userStartedTyping', ab, BOB.id],
    ['stopped typing as bob', 'userStoppedTyping', g, BOB.id],
    ['activity for bob', 'activity', ab, BOB.id, Date.now()],
    ['closeConversation for bob', 'closeConversation', ab, BOB.id],
    ['removeUser bob from the group', 'removeUser', g, BOB.id, 'bob'],
    ['removeUser carol from the group', 'removeUser', g, CAROL.id, 'carol'],
  ];
  for (const [label, event, ...args] of attempts) {
    a.emit(event, ...args);
    await ctx.expect([], { quietMs: 200, message: `alice's socket: ${label}` });
  }
  // alice's own actions still work.
  await ctx.say(alice, ab, [alice, bob], 'really alice');
  await ctx.say(alice, g, [alice, bob, carol], 'alice in the group', { group: true });
  await ctx.waitMessages(g, 1);
  await ctx.waitMessages(ab, 1);
  await sleep(300);
  assert.deepEqual((await ctx.query('SELECT message FROM osc_messages ORDER BY timestamp')).map((r) => r.message), ['really alice', 'alice in the group']);
  const [bobAct] = await ctx.activity(ab, BOB.id);
  assert.deepEqual([Number(bobAct.timestamp), bobAct.is_closed], [tBob, 0], "bob's activity row untouched");
  await ctx.waitConversationRow(g, [ALICE, BOB, CAROL], true);
});

imTest('malformed IM events are ignored and the server keeps serving the others', { generation: 9, timeout: 300000 }, async (ctx) => {
  const alice = await ctx.online(ALICE);
  const bob = await ctx.online(BOB);
  const carol = await ctx.online(CAROL);
  const dave = await ctx.online(DAVE);
  const eve = await ctx.online(EVE);
  const ab = await startConversation(ctx, alice, bob);
  const cd = await startConversation(ctx, carol, dave);
  const bc = await startConversation(ctx, bob, carol);
  const tBob = Date.now() - 10000;
  bob.tabs[0].emit('activity', ab, BOB.id, tBob);
  await ctx.waitRows('SELECT * FROM osc_activity', [], (r) => r.length === 1 && Number(r[0].timestamp) === tBob);
  await ctx.waitConversationRow(ab, [ALICE, BOB], false);
  await ctx.waitConversationRow(cd, [CAROL, DAVE], false);
  await ctx.waitConversationRow(bc, [BOB, CAROL], false);
  await ctx.settle();

  const anon = await ctx.browser('not logged in');
  const junk = await ctx.browser('junk login');
  const [a] = alice.tabs;
  const huge = 'x'.repeat(200000);
  const now = Date.now();
  const A = { id: ALICE.id, name: 'alice' };
  const B = { id: BOB.id, name: 'bob' };

  const cases = [
    // events before login
    [anon, 'conversation', [A, B]],
    [anon, 'conversation', [{ id: FRANK.id, name: 'frank' }, { id: 107, name: 'grace' }]],
    [anon, 'conversations'],
    [anon, 'message', ab, ALICE.id, 'before login'],
    [anon, 'history', ab, null],
    [anon, 'addUser', ab, EVE.id, 'eve'],
    [anon, 'removeUser', ab, ALICE.id, 'alice'],
    [anon, 'activity', ab, ALICE.id, now],
    [anon, 'closeConversation', ab, ALICE.id],
    [anon, 'userStartedTyping', ab, ALICE.id],
    [anon, 'userStoppedTyping', ab, ALICE.id],
    // broken logins (no `login` reply, still not logged in)
    [junk, 'login'],
    [junk, 'login', null, 'x'],
    [junk, 'login', {}, 'x'],
    [junk, 'login', [ALICE.id], 'alice'],
    [junk, 'login', 'abc', 'x'],
    [junk, 'login', true, 'x'],
    [junk, 'login', huge, 'x'],
    [junk, 'message', ab, ALICE.id, 'after a broken login'],
    // conversation
    [a, 'conversation'],
    [a, 'conversation', null],
    [a, 'conversation', 'str'],
    [a, 'conversation', 42],
    [a, 'conversation', {}],
    [a, 'conversation', { 0: A, 1: B }],
    [a, 'conversation', [1, 2]],
    [a, 'conversation', [null]],
    [a, 'conversation', [A, null]],
    [a, 'conversation', ['a', 'b']],
    [a, 'conversation', [A, 5]],
    [a, 'conversation', [{}]],
    [a, 'conversation', [A, {}]],
    [a, 'conversation', [A, { id: 'abc', name: 'x' }]],
    [a, 'conversation', [A, { id: null, name: 'x' }]],
    [a, 'conversation', [A, { id: {}, name: 'x' }]],
    [a, 'conversation', [A, { id: [FRANK.id], name: 'frank' }]],
    [a, 'conversation', [A, { id: FRANK.id, name: {} }]],
    [a, 'conversation', [A, { id: huge, name: 'x' }]],
    // message
    [a, 'message'],
    [a, 'message', ab],
    [a, 'message', ab, ALICE.id],
    [a, 'message', ab, ALICE.id, null],
    [a, 'message', ab, ALICE.id, 42],
    [a, 'message', ab, ALICE.id, {}],
    [a, 'message', ab, ALICE.id, ['x']],
    [a, 'message', null, ALICE.id, 'x'],
    [a, 'message', 'nope', ALICE.id, 'x'],
    [a, 'message', huge, ALICE.id, 'x'],
    [a, 'message', 42, ALICE.id, 'x'],
    [a, 'message', {}, ALICE.id, 'x'],
    [a, 'message', [ab], ALICE.id, 'x'],
    [a, 'message', ab, null, 'x'],
    [a, 'message', ab, 'abc', 'x'],
    [a, 'message', ab, {}, 'x'],
    [a, 'message', ab, BOB.id, 'x'],
    [a, 'message', ab, 999, 'x'],
    [a, 'message', bc, ALICE.id, 'x'],
    [eve.tabs[0], 'message', ab, EVE.id, 'x'],
    // history
    [a, 'history'],
    [a, 'history', null, null],
    [a, 'history', 'nope', null],
    [a, 'history', huge, null],
    [a, 'history', bc, null],
    [a, 'history', ab, 'abc'],
    [a, 'history', ab, {}],
    [a, 'history', [ab], null],
    [a, 'history', {}, null],
    [eve.tabs[0], 'history', ab, null],
    // addUser
    [a, 'addUser'],
    [a, 'addUser', null, EVE.id, 'eve'],
    [a, 'addUser', 'nope', EVE.id, 'eve'],
    [a, 'addUser', huge, EVE.id, 'eve'],
    [a, 'addUser', bc, EVE.id, 'eve'],
    [a, 'addUser', ab, null, 'eve'],
    [a, 'addUser', ab, 'abc', 'eve'],
    [a, 'addUser', ab, {}, 'eve'],
    [a, 'addUser', ab, [EVE.id], 'eve'],
    [a, 'addUser', ab, EVE.id, null],
    [a, 'addUser', ab, EVE.id, {}],
    [eve.tabs[0], 'addUser', ab, EVE.id, 'eve'],
    // removeUser
    [a, 'removeUser'],
    [a, 'removeUser', 'nope', ALICE.id, 'alice'],
    [a, 'removeUser', huge, ALICE.id, 'alice'],
    [a, 'removeUser', ab, null, null],
    [a, 'removeUser', ab, {}, 'alice'],
    [a, 'removeUser', ab, BOB.id, 'bob'],
    [a, 'removeUser', bc, ALICE.id, 'alice'],
    [a, 'removeUser', bc, BOB.id, 'bob'],
    // activity
    [a, 'activity'],
    [a, 'activity', 'nope', ALICE.id, now],
    [a, 'activity', huge, ALICE.id, now],
    [a, 'activity', ab, BOB.id, now],
    [a, 'activity', ab, 'abc', now],
    [a, 'activity', ab, ALICE.id, 'abc'],
    [a, 'activity', ab, ALICE.id, {}],
    [a, 'activity', ab, ALICE.id, null],
    [a, 'activity', bc, ALICE.id, now],
    // closeConversation
    [a, 'closeConversation'],
    [a, 'closeConversation', 'nope', ALICE.id],
    [a, 'closeConversation', huge, ALICE.id],
    [a, 'closeConversation', ab, BOB.id],
    [a, 'closeConversation', ab, null],
    [a, 'closeConversation', ab, {}],
    [a, 'closeConversation', bc, ALICE.id],
    // typing
    [a, 'userStartedTyping'],
    [a, 'userStartedTyping', 'nope', ALICE.id],
    [a, 'userStartedTyping', huge, ALICE.id],
    [a, 'userStartedTyping', ab, BOB.id],
    [a, 'userStartedTyping', ab, null],
    [a, 'userStartedTyping', ab, {}],
    [a, 'userStartedTyping', bc, ALICE.id],
    [a, 'userStoppedTyping'],
    [a, 'userStoppedTyping', ab, BOB.id],
    [a, 'userStoppedTyping', bc, ALICE.id],
    [a, 'userStoppedTyping', [ab], ALICE.id],
    // unknown events
    [a, 'nope', 1, 2],
    [a, 'shutdown'],
  ];

  const show = (v) => {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 40)}…(${s.length} chars)` : s;
  };
  // Every case runs; the ones that were not ignored are collected and reported together.
  const notIgnored = [];
  for (const [b, event, ...args] of cases) {
    const label = `${b.label}: ${event}(${args.map(show).join(', ')})`;
    b.emit(event, ...args);
    try {
      await ctx.expect([], { quietMs: 150, message: label });
    } catch (e) {
      const got = e.message.split('\n').find((l) => /event: '/.test(l)) || '';
      notIgnored.push(`${label} → events were sent ${got.trim()}`);
      await ctx.settle();
    }
    await ctx.probe(carol, dave, cd, label);
  }
  assert.deepEqual(notIgnored, [], `malformed events that were not ignored:\n${notIgnored.join('\n')}`);

  // Nothing was written besides the probes.
  await ctx.waitMessages(cd, ctx.probeCount, { timeoutMs: 10000 });
  await sleep(300);
  const msgs = await ctx.query('SELECT conversation_id, user_id, message FROM osc_messages ORDER BY timestamp, id');
  assert.equal(msgs.length, ctx.probeCount, `only probe messages: ${JSON.stringify(msgs.filter((m) => m.conversation_id !== cd))}`);
  assert.ok(msgs.every((m) => m.conversation_id === cd && m.user_id === CAROL.id));
  const convs = await ctx.query('SELECT id FROM osc_conversation ORDER BY id');
  assert.deepEqual(convs.map((r) => r.id).sort(), [ab, bc, cd].sort(), 'no conversation created');
  await ctx.waitConversationRow(ab, [ALICE, BOB], false);
  await ctx.waitConversationRow(cd, [CAROL, DAVE], false);
  await ctx.waitConversationRow(bc, [BOB, CAROL], false);
  const act = await ctx.query('SELECT conversation_id, user_id, timestamp, is_closed FROM osc_activity');
  assert.deepEqual(
    act.map((r) => [r.conversation_id, r.user_id, Number(r.timestamp), r.is_closed]),
    [[ab, BOB.id, tBob, 0]],
    'osc_activity untouched',
  );
  assert.ok(!junk.all.some((e) => e.event === 'login'), `broken logins got no reply: ${JSON.stringify(junk.all.map((e) => e.event))}`);
  assert.deepEqual(anon.all, [], 'the socket that never logged in got nothing');

  // Everything still works for the users who sent junk.
  await ctx.say(alice, ab, [alice, bob], 'still here');
  junk.emit('login', FRANK.id, 'frank');
  await ctx.expect([[junk, [ev('login', { id: FRANK.id, name: 'frank' })]]], { message: 'a proper login after broken ones' });
  await ctx.heartbeat();
});

imTest('login emitted in the connect callback (as il.Chat does) is never lost', { generation: 9 }, async (ctx) => {
  // il.Chat: socket.on('connect', () => socket.emit('login', userId, username)).
  const missing = [];
  for (let i = 0; i < 30; i++) {
    const id = 300 + i;
    const b = await ctx.browser(`user${id}`, { settleMs: 0 });
    b.emit('login', id, `user${id}`);
    const deadline = Date.now() + 2000;
    while (!b.events.some((e) => e.event === 'login') && Date.now() < deadline) await sleep(10);
    if (!b.events.some((e) => e.event === 'login')) missing.push(id);
    b.close();
  }
  assert.deepEqual(missing, [], `logins without a reply (${missing.length} of 30)`);
});
