// On-screen chat differences between ILIAS generations (spec §6.5, §6.6, §11 and the
// ILIAS 10-12 addendum): ILIAS 8/9 escape IM text on the server (delivered and stored
// escaped, no message id on the wire); ILIAS 10 and 11 send raw text, put the
// message's uuid into the message object (= osc_messages.id) and know
// `history(…, reverseSorting)`; ILIAS 11 reads a missing accept-messages row as the
// administrator's default; emoji on 3-byte utf8 tables.

import assert from 'node:assert/strict';

import {
  ALICE,
  BOB,
  CAROL,
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
  sleep,
  startConversation,
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

for (const generation of [10, 11]) {
  const s = {};
  imTest(
    `ILIAS ${generation}: raw IM text, the message object carries its uuid (= osc_messages.id), history reverseSorting`,
    {
      generation,
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
      // JavaScript truthiness, and the flag comes back as sent (the originals echo it).
      a.emit('history', c.id, null, '1');
      await ctx.expect([[alice, [ev('history', page([m[3], m[4], m[5], m[6], m[7], live], m[3].ts, '1'))]]], {
        message: 'history reverseSorting="1"',
      });
      a.emit('history', c.id, null, 0);
      await ctx.expect([[alice, [ev('history', page([live, m[7], m[6], m[5], m[4], m[3]], m[3].ts, 0))]]], {
        message: 'history reverseSorting=0',
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

// Who accepts messages when a user has no chat_osc_accept_msg row: up to ILIAS 10
// every account has one, so none means "no"; ILIAS 11's user settings delete the row
// of a user who keeps the default, so none means the administrator's default
// (settings common/chat_osc_accept_msg). bob has no row, carol says 'n'.
for (const [generation, defaultValue, bobAccepts] of [
  [10, 'y', false],
  [11, 'y', true],
  [11, 'n', false],
  [11, null, false],
]) {
  const s = {};
  imTest(
    `ILIAS ${generation}, default ${defaultValue ?? '(none)'}: a participant without a preference row ${bobAccepts ? 'writes and is written to' : 'is suppressed'}; an 'n' row always is`,
    {
      generation,
      seed: async (ctx) => {
        if (defaultValue !== null) {
          await ctx.db.query("REPLACE INTO settings (module, keyword, value) VALUES ('common', 'chat_osc_accept_msg', ?)", [defaultValue]);
        }
        await ctx.setPref(ALICE.id, 'y');
        await ctx.setPref(CAROL.id, 'n');
        s.ab = await ctx.insertConversation({ participants: [ALICE, BOB] });
        s.ac = await ctx.insertConversation({ participants: [ALICE, CAROL] });
      },
    },
    async (ctx) => {
      const alice = await ctx.online(ALICE);
      const bob = await ctx.online(BOB);
      const carol = await ctx.online(CAROL);
      await ctx.settle();
      for (const u of [alice, bob, carol]) for (const t of u.tabs) t.events.length = 0;

      alice.tabs[0].emit('message', s.ab.id, ALICE.id, 'to bob');
      const toBob = ctx.msg(s.ab.id, ALICE, 'to bob');
      const convAb = ev('conversation', liveConv(s.ab.id, [ALICE, BOB], { group: GROUP_FALSE }));
      if (bobAccepts) {
        await ctx.expect([
          [alice, [convAb, ev('message', toBob)]],
          [bob, [convAb, ev('message', toBob)]],
        ]);
      } else {
        await ctx.expect([
          [alice, [convAb, ev('message', toBob), ev('participantsSuppressedMessages', { ...toBob, ignoredParticipants: { [BOB.id]: BOB.id } })]],
        ]);
      }
      // Stored either way: alice accepts.
      await ctx.waitRows('SELECT * FROM osc_messages WHERE conversation_id = ?', [s.ab.id], (r) => r.length === 1);

      bob.tabs[0].emit('message', s.ab.id, BOB.id, 'from bob');
      const fromBob = ctx.msg(s.ab.id, BOB, 'from bob');
      if (bobAccepts) {
        await ctx.expect([
          [alice, [convAb, ev('message', fromBob)]],
          [bob, [convAb, ev('message', fromBob)]],
        ]);
        await ctx.waitRows('SELECT * FROM osc_messages WHERE conversation_id = ?', [s.ab.id], (r) => r.length === 2);
      } else {
        await ctx.expect([[bob, [ev('senderSuppressesMessages', fromBob)]]]);
      }

      carol.tabs[0].emit('message', s.ac.id, CAROL.id, 'from carol');
      await ctx.expect([[carol, [ev('senderSuppressesMessages', ctx.msg(s.ac.id, CAROL, 'from carol'))]]]);
      await sleep(200);
      const stored = await ctx.db.query('SELECT message FROM osc_messages ORDER BY timestamp');
      assert.deepEqual(stored.map((r) => r.message), bobAccepts ? ['to bob', 'from bob'] : ['to bob']);
    },
  );
}

// Many ILIAS databases still have 3-byte utf8 tables; emoji in names and text must
// reach the browsers unchanged and the rows must still be stored. ILIAS 11 also
// validates a conversation request before it creates anything.
for (const generation of [9, 10, 11]) {
  imTest(
    `ILIAS ${generation} on utf8mb3 tables: emoji in a participant name and a message are delivered, the rows are stored`,
    {
      generation,
      charset: 'utf8mb3',
      seed: async (ctx) => {
        await ctx.setPref(ALICE.id, 'y');
        await ctx.setPref(BOB.id, 'y');
      },
    },
    async (ctx) => {
      const fox = { id: BOB.id, name: 'bob 🦊' };
      const alice = await ctx.online(ALICE);
      const bob = await ctx.online(fox);

      // Not every participant is an object: nothing is created or stored.
      alice.tabs[0].emit('conversation', [{ id: ALICE.id, name: 'alice' }, 'bob']);
      await ctx.expect([], { message: 'refused conversation request' });
      assert.deepEqual(await ctx.db.query('SELECT id FROM osc_conversation'), []);

      const id = await startConversation(ctx, alice, fox);
      const row = await ctx.waitRows('SELECT participants FROM osc_conversation WHERE id = ?', [id], (r) => r.length === 1);
      assert.deepEqual(JSON.parse(row[0].participants).map((p) => p.name), ['alice', 'bob 🦊'], row[0].participants);

      const text = 'party 🎉 ü € <b>';
      alice.tabs[0].emit('message', id, ALICE.id, text);
      const m = ctx.msg(id, ALICE, ctx.text(text));
      const c = ev('conversation', liveConv(id, [ALICE, fox], { group: GROUP_FALSE }));
      await ctx.expect([
        [alice, [c, ev('message', m)]],
        [bob, [c, ev('message', m)]],
      ]);
      const rows = await ctx.waitRows('SELECT message FROM osc_messages WHERE conversation_id = ?', [id], (r) => r.length === 1, {
        what: 'the emoji message row',
      });
      // ILIAS 9 replaced the emoji with ? itself; on 10+ only the column's limit applies.
      assert.equal(rows[0].message, generation < 10 ? ctx.text(text) : 'party \uFFFD ü € <b>');
      const [{ charset }] = await ctx.db.query(
        "SELECT CHARACTER_SET_NAME AS charset FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'osc_messages' AND COLUMN_NAME = 'message'",
      );
      assert.equal(charset, 'utf8mb3', 'the test really runs on a 3-byte column');
    },
  );
}
