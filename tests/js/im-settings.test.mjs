// On-screen chat: "accepts messages" (usr_pref chat_osc_accept_msg). PHP pushes changes
// with GET /backend/UserConfigChange/<ns>?message={"<id>":{"acceptsMessages":bool}}
// (Basic auth required here, answer {"status":200}); the server reads the 'y' set at
// start-up (ILIAS 8/9) and every 20 minutes (the periodic run is unit-tested in Rust).

import assert from 'node:assert/strict';

import {
  ACCESS_DENIED,
  ALICE,
  BOB,
  CAROL,
  DAVE,
  GROUP_FALSE,
  KEY,
  NONEMPTY_STRING,
  assertMatch,
  ev,
  groupOfThree,
  imTest,
  liveConv,
  sleep,
  startConversation,
} from './im-helpers.mjs';

/** from sends `text`; from gets conversation, message, participantsSuppressedMessages. */
async function sayIgnored(ctx, from, convId, participants, text, ignored, { recipients = [], group = false } = {}) {
  from.tabs[0].emit('message', convId, from.id, text);
  const m = ctx.msg(convId, from, ctx.text(text));
  const ignoredParticipants = Object.fromEntries(ignored.map((u) => [String(u.id), u.id]));
  const normal = [ev('conversation', liveConv(convId, participants, { group })), ev('message', m)];
  await ctx.expect(
    [
      [from, [...normal, ev('participantsSuppressedMessages', { ...m, ignoredParticipants })]],
      ...recipients.map((r) => [r, normal]),
    ],
    { message: `${from.name}: ${text} (ignored by ${ignored.map((u) => u.name)})` },
  );
  const sent = from.tabs[0].lastPayload('message');
  const sup = from.tabs[0].lastPayload('participantsSuppressedMessages');
  assert.equal(sup.timestamp, sent.timestamp, 'participantsSuppressedMessages carries the message timestamp');
  if (ctx.gen >= 10) assert.equal(sup.id, sent.id, 'participantsSuppressedMessages carries the message id');
  return sent;
}

/** from (not accepting) sends `text`: only senderSuppressesMessages to from. */
async function saySuppressed(ctx, from, convId, text) {
  from.tabs[0].emit('message', convId, from.id, text);
  await ctx.expect([[from, [ev('senderSuppressesMessages', ctx.msg(convId, from, ctx.text(text)))]]], {
    message: `${from.name} does not accept messages: ${text}`,
  });
}

/** Nothing with `text` was stored: waits for a later message row first (ordered writes). */
async function assertNotStored(ctx, barrierConv, barrierCount, text) {
  await ctx.waitMessages(barrierConv, barrierCount);
  const rows = await ctx.query('SELECT * FROM osc_messages WHERE message = ?', [ctx.text(text)]);
  assert.deepEqual(rows, [], `"${text}" must not be stored`);
}

/**
 * What ILIAS holds before PHP pushes a change: these users accept messages (`y`). Without
 * it the periodic refresh (:00/:20/:40) would undo the test's UserConfigChange calls
 * when a test runs across one of those minutes.
 */
const accepting = (...users) => async (ctx) => {
  for (const user of users) await ctx.setPref(user.id, 'y');
};

imTest('UserConfigChange: a recipient who does not accept messages (1:1 and group)', { generation: 9, seed: accepting(ALICE, BOB, CAROL) }, async (ctx) => {
  const { alice, bob, carol, ab, g } = await groupOfThree(ctx);

  await ctx.setAccepts({ [BOB.id]: false });
  await ctx.expect([], { message: 'UserConfigChange emits nothing' });

  // 1:1: stored (alice accepts), delivered to alice only, alice told that bob ignores it.
  await sayIgnored(ctx, alice, ab, [ALICE, BOB], 'to bob', [BOB]);
  const [row] = await ctx.waitMessages(ab, 1);
  assert.equal(row.message, 'to bob');
  // group: carol gets it, bob does not.
  await sayIgnored(ctx, alice, g, [ALICE, BOB, CAROL], 'to the group', [BOB], { recipients: [carol], group: true });
  await ctx.waitMessages(g, 1);

  // Typing is not filtered by the flag.
  alice.tabs[0].emit('userStartedTyping', ab, ALICE.id);
  await ctx.expect([[bob, [ev('userStartedTyping', { conversation: liveConv(ab, [ALICE, BOB]), participant: { id: ALICE.id, name: 'alice' } })]]]);

  // Several users in one call; bob accepts again, carol no longer.
  await ctx.setAccepts({ [BOB.id]: true, [CAROL.id]: false });
  await ctx.say(alice, ab, [alice, bob], 'bob is back');
  await sayIgnored(ctx, alice, g, [ALICE, BOB, CAROL], 'carol is away', [CAROL], { recipients: [bob], group: true });
  await ctx.waitMessages(g, 2);
  await ctx.waitMessages(ab, 2);
});

imTest('UserConfigChange: a sender who does not accept messages sends nothing', { generation: 9, seed: accepting(ALICE, BOB) }, async (ctx) => {
  const alice = await ctx.online(ALICE);
  const bob = await ctx.online(BOB);
  const ab = await startConversation(ctx, alice, bob);

  await ctx.setAccepts({ [ALICE.id]: false });
  await saySuppressed(ctx, alice, ab, 'nobody hears this');
  // The recipient still can write to the sender? No: the sender does not accept, so she
  // is ignored as a recipient.
  await sayIgnored(ctx, bob, ab, [ALICE, BOB], 'hello?', [ALICE]);

  // A missing flag counts as false; true restores.
  await ctx.setAccepts({ [ALICE.id]: true });
  await ctx.say(alice, ab, [alice, bob], 'back again');
  const r = await ctx.userConfigChange({ [ALICE.id]: {} });
  assert.deepEqual(r.json, { status: 200 }, r.body);
  await saySuppressed(ctx, alice, ab, 'flag missing');
  await ctx.setAccepts({ [ALICE.id]: true });
  await ctx.say(alice, ab, [alice, bob], 'last one');
  await assertNotStored(ctx, ab, 3, 'nobody hears this');
  await assertNotStored(ctx, ab, 3, 'flag missing');
  assert.deepEqual((await ctx.messages(ab)).map((m) => m.message), ['hello?', 'back again', 'last one']);
});

imTest('UserConfigChange requires Basic auth; a malformed message answers success:false', { generation: 9 }, async (ctx) => {
  const alice = await ctx.online(ALICE);
  const bob = await ctx.online(BOB);
  const ab = await startConversation(ctx, alice, bob);
  const body = { [BOB.id]: { acceptsMessages: false } };

  for (const [label, auth] of [
    ['no auth', null],
    ['wrong secret', [KEY, 'nope']],
  ]) {
    const r = await ctx.userConfigChange(body, { auth });
    assert.equal(r.status, 200, `${label}: HTTP status (${r.body})`);
    assert.deepEqual(r.json, ACCESS_DENIED, `${label}: ${r.body}`);
  }
  // Refused calls changed nothing.
  await ctx.say(alice, ab, [alice, bob], 'still accepted');

  for (const [label, query] of [
    ['no message', ''],
    ['empty message', '?message='],
    ['not JSON', '?message=' + encodeURIComponent('{nope')],
  ]) {
    const r = await ctx.backend('UserConfigChange', [], { query });
    assert.equal(r.status, 200, `${label}: HTTP status (${r.body})`);
    assertMatch(r.json, { success: false, reason: NONEMPTY_STRING }, `${label}: ${r.body}`);
  }
  await ctx.say(bob, ab, [alice, bob], 'server fine');
  await ctx.heartbeat();
});

for (const generation of [8, 9]) {
  const s = {};
  imTest(
    `ILIAS ${generation}: start-up refresh reads usr_pref chat_osc_accept_msg ('n' before start → not accepting)`,
    {
      generation,
      seed: async (ctx) => {
        const t0 = Date.now() - 60000;
        s.ab = await ctx.insertConversation({ participants: [ALICE, BOB] });
        s.ac = await ctx.insertConversation({ participants: [ALICE, CAROL] });
        await ctx.insertActivity({ conv: s.ab.id, user: ALICE.id, ts: t0 });
        await ctx.insertActivity({ conv: s.ab.id, user: BOB.id, ts: t0 });
        await ctx.insertActivity({ conv: s.ac.id, user: ALICE.id, ts: t0 });
        await ctx.insertActivity({ conv: s.ac.id, user: CAROL.id, ts: t0 });
        await ctx.setPref(ALICE.id, 'y');
        await ctx.setPref(BOB.id, 'n');
        await ctx.setPref(CAROL.id, 'y');
        await ctx.setPref(BOB.id, 'y', 'chat_broadcast_typing'); // other keywords do not count
      },
    },
    async (ctx) => {
      const alice = await ctx.online(ALICE);
      const bob = await ctx.online(BOB);
      const carol = await ctx.online(CAROL);
      const ab = s.ab.id;
      const ac = s.ac.id;

      await sayIgnored(ctx, alice, ab, [ALICE, BOB], 'bob said n', [BOB], { group: GROUP_FALSE });
      await saySuppressed(ctx, bob, ab, 'bob writes anyway');
      await ctx.say(alice, ac, [alice, carol], 'carol said y', { group: GROUP_FALSE });

      await ctx.setAccepts({ [BOB.id]: true });
      await ctx.say(bob, ab, [alice, bob], 'bob changed his mind', { group: GROUP_FALSE });
      await assertNotStored(ctx, ab, 2, 'bob writes anyway');
      assert.deepEqual((await ctx.messages(ab)).map((m) => m.message), ['bob said n', 'bob changed his mind']);
    },
  );
}

{
  const s = {};
  imTest(
    'start-up refresh: a preloaded participant without a usr_pref y row does not accept (spec §8.2: accepts = id in the y set)',
    {
      generation: 9,
      seed: async (ctx) => {
        s.ad = await ctx.insertConversation({ participants: [ALICE, DAVE] });
        await ctx.insertActivity({ conv: s.ad.id, user: ALICE.id, ts: Date.now() - 60000 });
        await ctx.setPref(ALICE.id, 'y');
      },
    },
    async (ctx) => {
      const alice = await ctx.online(ALICE);
      const dave = await ctx.online(DAVE);
      await sayIgnored(ctx, alice, s.ad.id, [ALICE, DAVE], 'dave has no pref', [DAVE], { group: GROUP_FALSE });
      await saySuppressed(ctx, dave, s.ad.id, 'dave writes');
      // A participant first seen after start-up accepts (default true).
      const bob = await ctx.online(BOB);
      const ab = await startConversation(ctx, alice, bob);
      await ctx.say(bob, ab, [alice, bob], 'new participants accept');
      await sleep(100);
    },
  );
}
