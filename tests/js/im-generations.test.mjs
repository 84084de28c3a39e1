// On-screen chat differences between ILIAS generations (spec §6.5, §6.6, §11):
// ILIAS 8/9 escape IM text on the server (delivered and stored escaped, no message id on
// the wire); ILIAS 10 sends raw text, puts the message's uuid into the message object
// (= osc_messages.id) and knows `history(…, reverseSorting)`.

import assert from 'node:assert/strict';

import {
  ALICE,
  BOB,
  GROUP_FALSE,
  TS,
  UUID,
  conv,
  escapeHtml,
  ev,
  imTest,
  latestOf,
  liveConv,
  NONNEG_INT,
  optional,
  rowJson,
} from './im-helpers.mjs';

const RAW = `<b class="x">Tom & Jerry's</b> &amp; &#39; 😀 ü €`;
const ESCAPED = '&lt;b class=&quot;x&quot;&gt;Tom &amp; Jerry\'s&lt;/b&gt; &amp; &amp;#39; ? ü €';

test_escape_helper();
function test_escape_helper() {
  // The expectation itself (spec §6.6), so a wrong helper cannot hide a server bug.
  assert.equal(escapeHtml(RAW), ESCAPED);
}

for (const generation of [8, 9]) {
  const s = {};
  imTest(
    `ILIAS ${generation}: IM text is HTML-escaped when delivered and stored; no id in the message object`,
    {
      generation,
      seed: async (ctx) => {
        // A row written by the server earlier (already escaped): delivered as it is.
        s.c = await ctx.insertConversation({ participants: [ALICE, BOB] });
        s.old = await ctx.insertMessage({ conv: s.c.id, user: BOB.id, message: '&lt;i&gt;old&lt;/i&gt; &amp;', ts: Date.now() - 60000 });
        await ctx.insertActivity({ conv: s.c.id, user: ALICE.id, ts: Date.now() - 120000 });
        await ctx.setPref(ALICE.id, 'y');
        await ctx.setPref(BOB.id, 'y');
      },
    },
    async (ctx) => {
      const a = await ctx.browser('alice');
      a.emit('login', ALICE.id, 'alice');
      await ctx.expect([
        [a, [ev('login', { id: ALICE.id, name: 'alice' }), ev('conversation', conv(s.c.id, [ALICE, BOB], { latest: rowJson(s.old), num: 1, group: GROUP_FALSE }))]],
      ]);
      const alice = { ...ALICE, tabs: [a] };
      const bob = await ctx.online(BOB);

      a.emit('message', s.c.id, ALICE.id, RAW);
      const m = { conversationId: s.c.id, userId: ALICE.id, message: ESCAPED, timestamp: TS };
      const events = [ev('conversation', liveConv(s.c.id, [ALICE, BOB], { group: GROUP_FALSE })), ev('message', m)];
      await ctx.expect(
        [
          [alice, events],
          [bob, events],
        ],
        { message: 'escaped on the wire, exactly {conversationId, userId, message, timestamp}' },
      );
      const sent = a.lastPayload('message');
      const rows = await ctx.waitMessages(s.c.id, 2);
      const row = rows[rows.length - 1];
      assert.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'osc_messages.id is a uuid');
      assert.deepEqual(
        { conversation_id: row.conversation_id, user_id: row.user_id, message: row.message, timestamp: Number(row.timestamp) },
        { conversation_id: s.c.id, user_id: ALICE.id, message: ESCAPED, timestamp: sent.timestamp },
        'stored escaped',
      );

      // History returns the stored text (not escaped twice).
      bob.tabs[0].emit('history', s.c.id, null);
      await ctx.expect([
        [
          bob,
          [
            ev('history', {
              ...conv(s.c.id, [ALICE, BOB], { latest: latestOf(s.c.id), num: NONNEG_INT, group: GROUP_FALSE }),
              messages: [rowJson({ id: row.id, conv: s.c.id, user: ALICE.id, message: ESCAPED, ts: sent.timestamp }), rowJson(s.old)],
              oldestMessageTimestamp: s.old.ts,
              reverseSorting: optional(false),
            }),
          ],
        ],
      ]);
    },
  );
}

{
  const s = {};
  imTest(
    'ILIAS 10: raw IM text, the message object carries its uuid (= osc_messages.id), history reverseSorting',
    {
      generation: 10,
      seed: async (ctx) => {
        const t0 = Date.now() - 3600000;
        s.c = await ctx.insertConversation({ participants: [ALICE, BOB] });
        s.m = [];
        for (let i = 1; i <= 8; i++) {
          s.m.push(await ctx.insertMessage({ conv: s.c.id, user: i % 2 ? ALICE.id : BOB.id, message: `<${i}> & "raw"`, ts: t0 + i * 1000 }));
        }
        await ctx.insertActivity({ conv: s.c.id, user: ALICE.id, ts: t0 + 6500 });
        await ctx.setPref(ALICE.id, 'y');
        await ctx.setPref(BOB.id, 'y');
      },
    },
    async (ctx) => {
      const { c, m } = s;
      const a = await ctx.browser('alice');
      a.emit('login', ALICE.id, 'alice');
      await ctx.expect([
        [a, [ev('login', { id: ALICE.id, name: 'alice' }), ev('conversation', conv(c.id, [ALICE, BOB], { latest: rowJson(m[7]), num: 2, group: GROUP_FALSE }))]],
      ]);
      const alice = { ...ALICE, tabs: [a] };
      const bob = await ctx.online(BOB);

      // raw text, id
      a.emit('message', c.id, ALICE.id, RAW);
      const msg = { conversationId: c.id, userId: ALICE.id, message: RAW, timestamp: TS, id: UUID };
      const events = [ev('conversation', liveConv(c.id, [ALICE, BOB], { group: GROUP_FALSE })), ev('message', msg)];
      await ctx.expect([
        [alice, events],
        [bob, events],
      ]);
      const sent = a.lastPayload('message');
      assert.equal(bob.tabs[0].lastPayload('message').id, sent.id, 'same id for every recipient');
      const rows = await ctx.waitRows('SELECT * FROM osc_messages WHERE id = ?', [sent.id], (r) => r.length === 1, {
        what: `osc_messages row with id ${sent.id}`,
      });
      assert.deepEqual(
        { ...rows[0], timestamp: Number(rows[0].timestamp) },
        { id: sent.id, conversation_id: c.id, user_id: ALICE.id, message: RAW, timestamp: sent.timestamp },
        'stored raw under the message id',
      );

      // History: newest 6, reversed on request, reverseSorting echoed.
      const page = (msgs, oldest, reverseSorting) => ({
        ...conv(c.id, [ALICE, BOB], { latest: latestOf(c.id), num: NONNEG_INT, group: GROUP_FALSE }),
        messages: msgs.map(rowJson),
        oldestMessageTimestamp: oldest,
        reverseSorting,
      });
      const live = { id: sent.id, conv: c.id, user: ALICE.id, message: RAW, ts: sent.timestamp };
      a.emit('history', c.id, null, true);
      await ctx.expect([[alice, [ev('history', page([m[3], m[4], m[5], m[6], m[7], live], m[3].ts, true))]]], {
        message: 'history reverseSorting=true',
      });
      a.emit('history', c.id, m[3].ts, true);
      await ctx.expect([[alice, [ev('history', page([m[0], m[1], m[2]], m[0].ts, true))]]], {
        message: 'history page 2 reverseSorting=true',
      });
      a.emit('history', c.id, null, false);
      await ctx.expect([[alice, [ev('history', page([live, m[7], m[6], m[5], m[4], m[3]], m[3].ts, false))]]], {
        message: 'history reverseSorting=false',
      });

      // The suppression events carry the id too.
      const ab2 = c.id;
      await ctx.setAccepts({ [BOB.id]: false });
      a.emit('message', ab2, ALICE.id, 'x');
      const mx = { conversationId: ab2, userId: ALICE.id, message: 'x', timestamp: TS, id: UUID };
      await ctx.expect([
        [
          alice,
          [
            ev('conversation', liveConv(ab2, [ALICE, BOB], { group: GROUP_FALSE })),
            ev('message', mx),
            ev('participantsSuppressedMessages', { ...mx, ignoredParticipants: { [BOB.id]: BOB.id } }),
          ],
        ],
      ]);
      assert.equal(a.lastPayload('participantsSuppressedMessages').id, a.lastPayload('message').id);
      await ctx.waitRows('SELECT * FROM osc_messages WHERE id = ?', [a.lastPayload('message').id], (r) => r.length === 1);
      bob.tabs[0].emit('message', ab2, BOB.id, 'y');
      await ctx.expect([[bob, [ev('senderSuppressesMessages', { conversationId: ab2, userId: BOB.id, message: 'y', timestamp: TS, id: UUID })]]]);
    },
  );
}
