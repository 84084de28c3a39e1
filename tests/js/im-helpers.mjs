// Shared helpers of the on-screen chat (IM, namespace /<name>-im) end-to-end tests
// (tests/js/im*.test.mjs).
//
// Every test gets its own MariaDB database (ILIAS 8/9/10 fixture schema), rows seeded
// before the server starts (osc_conversation, osc_messages, osc_activity, usr_pref),
// its own server process (harness.startServer) and "browsers": socket.io clients of the
// IM namespace that record every event they receive, so a test can assert the complete
// list of events per socket — including that a socket received nothing it should not.
//
// Spec: /work/shared/spec/server-behaviour.md §5.4–5.5, §6.5–6.6, §7, §8.2 and the
// decisions of the IM issue (write-behind queue, sockets removed on disconnect, an IM
// socket acts only for its login id, UserConfigChange with Basic auth, malformed input
// ignored).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { clientCfg, connect, createTestDb, freePort, serverCfg, sleep, startServer } from './harness.mjs';
import { Matcher, RecorderContext, RecordingBrowser, contextTest, ev, plain, reconcile } from './recorder.mjs';

export { Matcher, NONEMPTY_STRING, assertMatch, ev, oneOf, optional, reconcile } from './recorder.mjs';
export { sleep };

export const NAME = 'ilim';
export const KEY = 'ik-3f9a0c71';
export const SECRET = 'is-c82e5b14';
export const AUTH = [KEY, SECRET];
export const ACCESS_DENIED = { status: 403, message: 'Access denied' };

export const ALICE = { id: 101, name: 'alice' };
export const BOB = { id: 102, name: 'bob' };
export const CAROL = { id: 103, name: 'carol' };
export const DAVE = { id: 104, name: 'dave' };
export const EVE = { id: 105, name: 'eve' };
export const FRANK = { id: 106, name: 'frank' };

// ---------------------------------------------------------------------------
// Matchers: placeholders in expected values that accept a range of actual values
// ---------------------------------------------------------------------------

/** A live timestamp: integer milliseconds close to now. */
export const TS = new Matcher('timestamp ms ≈ now', (v) =>
  Number.isInteger(v) && v > 1e12 && Math.abs(v - Date.now()) < 30000,
);

/** Any UUID (ILIAS uses v4). */
export const UUID = new Matcher('uuid', (v) =>
  typeof v === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
);

export const NONNEG_INT = new Matcher('integer ≥ 0', (v) => Number.isInteger(v) && v >= 0);

/** isGroup of a conversation preloaded from the DB: the original sends 0/1 there. */
export const GROUP_TRUE = new Matcher('isGroup truthy (true or 1)', (v) => v === true || v === 1);
export const GROUP_FALSE = new Matcher('isGroup falsy (false or 0)', (v) => v === false || v === 0);

/** A user id that the browser may have handed over as a string (DOM attribute). */
export const idOf = (id) => new Matcher(`${id} or "${id}"`, (v) => v === id || v === String(id));

/**
 * `latestMessage` of a conversation in a live event: the original refreshes it only in
 * `conversations`/`conversation`, so it may be stale. Accepts null or a message of that
 * conversation (a DB row with aliases or a live message object).
 */
export const latestOf = (convId) =>
  new Matcher(`latestMessage null or a message of ${convId}`, (v) =>
    v === null ||
    (typeof v === 'object' &&
      !Array.isArray(v) &&
      (v.conversationId === convId || v.conversation_id === convId) &&
      typeof v.message === 'string'),
  );

// ---------------------------------------------------------------------------
// Expected payloads
// ---------------------------------------------------------------------------

const pjson = (p) => ({ id: p.id, name: p.name });

/**
 * Conversation JSON `{id, participants, latestMessage, numNewMessages, isGroup}`.
 * Defaults fit a fresh conversation created at runtime (no messages, boolean flag).
 */
export function conv(id, participants, { latest = null, num = 0, group = false } = {}) {
  return {
    id,
    participants: participants.map((p) => (p.id instanceof Matcher ? p : pjson(p))),
    latestMessage: latest,
    numNewMessages: num,
    isGroup: group,
  };
}

/** Conversation JSON of a live event whose latestMessage / numNewMessages may be stale. */
export function liveConv(id, participants, { group = false } = {}) {
  return conv(id, participants, { latest: latestOf(id), num: NONNEG_INT, group });
}

/** An osc_messages row as the server reads it, with the `userId`/`conversationId` aliases. */
export function rowJson(m) {
  return {
    id: m.id,
    conversation_id: m.conv,
    user_id: m.user,
    message: m.message,
    timestamp: m.ts,
    userId: m.user,
    conversationId: m.conv,
  };
}

// ---------------------------------------------------------------------------
// Server + context
// ---------------------------------------------------------------------------

const CONNECT_SETTLE_MS = 60;

/**
 * node:test test with a fresh IM context. opts: generation (8|9|10|11, default 9),
 * charset ('utf8mb3' for 3-byte tables),
 * seed (async (ctx) => …, runs before the server starts), timeout (ms).
 * Failures carry the tail of the server log.
 */
export function imTest(name, opts, fn) {
  if (typeof opts === 'function') {
    fn = opts;
    opts = {};
  }
  const { timeout = 120000, skip, todo, generation = 9, seed, charset } = opts;
  return contextTest(
    name,
    { timeout, skip, todo },
    async () => {
      await clearOfSettingsRefresh();
      return new ImContext(await createTestDb(generation, { charset }), generation, seed);
    },
    fn,
  );
}

/** How long before the server's next settings refresh a test may still start. */
const REFRESH_MARGIN_MS = 45000;

/**
 * The server under test refreshes every user's on-screen chat message setting at :00,
 * :20 and :40 local time, as the original; on ILIAS ≤ 10 a user without a stored
 * preference stops accepting messages then. A test started a few seconds before would
 * see its users fall silent halfway (CI once saw `senderSuppressesMessages` at 15:40:00),
 * so a test starts at least REFRESH_MARGIN_MS before the next refresh, or just after it.
 */
async function clearOfSettingsRefresh() {
  const now = new Date();
  const intoPeriod = (now.getMinutes() % 20) * 60000 + now.getSeconds() * 1000 + now.getMilliseconds();
  const toNext = 20 * 60000 - intoPeriod;
  if (toNext < REFRESH_MARGIN_MS) {
    console.error(`# waiting ${Math.round((toNext + 2000) / 1000)} s: the server's settings refresh at :00/:20/:40 comes first`);
    await sleep(toNext + 2000);
  }
}

export class ImContext extends RecorderContext {
  constructor(db, generation, seed) {
    super(db, generation, { name: NAME, auth: AUTH });
    this.seed = seed;
    this.probeCount = 0;
  }

  /** Runs the seed, starts the server and waits for the conversation preload. */
  async start() {
    if (this.seed) await this.seed(this);
    this.server = await startServer(serverCfg(await freePort()), [clientCfg(NAME, KEY, SECRET, this.db)], {
      dirPrefix: 'ilias-chat-im-',
    });
    // The server may answer Heartbeat before the database is connected; give the
    // conversation preload (seen in the log) a moment before browsers connect. Not a
    // requirement: logins that arrive earlier must wait for it or see the same result.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !/conversations? (loaded|preloaded)|message settings refreshed|cannot load conversations/i.test(this.server.stderr() + this.server.stdout())) {
      await sleep(25);
    }
  }

  logTail(lines = 80) {
    return super.logTail(lines);
  }

  // ----- database -----

  async insertConversation({ id = crypto.randomUUID(), participants, group = false }) {
    await this.db.query('INSERT INTO osc_conversation (id, is_group, participants) VALUES (?, ?, ?)', [
      id,
      group ? 1 : 0,
      JSON.stringify(participants.map(pjson)),
    ]);
    return { id, participants: participants.map(pjson), group };
  }

  /** An osc_messages row; returns {id, conv, user, message, ts}. */
  async insertMessage({ id = crypto.randomUUID(), conv: convId, user, message, ts }) {
    await this.db.query(
      'INSERT INTO osc_messages (id, conversation_id, user_id, message, timestamp) VALUES (?, ?, ?, ?, ?)',
      [id, convId, user, message, ts],
    );
    return { id, conv: convId, user, message, ts };
  }

  async insertActivity({ conv: convId, user, ts, closed = 0 }) {
    await this.db.query(
      'INSERT INTO osc_activity (conversation_id, user_id, timestamp, is_closed) VALUES (?, ?, ?, ?)',
      [convId, user, ts, closed],
    );
  }

  async setPref(user, value, keyword = 'chat_osc_accept_msg') {
    await this.db.query('REPLACE INTO usr_pref (usr_id, keyword, value) VALUES (?, ?, ?)', [user, keyword, value]);
  }

  conversationRow(id) {
    return this.db.query('SELECT id, is_group, participants FROM osc_conversation WHERE id = ?', [id]);
  }

  /** Waits until the osc_conversation row `id` has exactly these participants and flag. */
  async waitConversationRow(id, participants, group, { timeoutMs = 6000 } = {}) {
    const want = participants.map((p) => (p.id instanceof Matcher ? p : pjson(p)));
    const rows = await this.waitRows(
      'SELECT id, is_group, participants FROM osc_conversation WHERE id = ?',
      [id],
      (rows) => {
        if (rows.length !== 1 || Number(rows[0].is_group) !== (group ? 1 : 0)) return false;
        const [a, e] = reconcile(JSON.parse(rows[0].participants), want);
        assert.deepStrictEqual(a, e);
        return true;
      },
      { timeoutMs, what: `osc_conversation ${id} with participants ${JSON.stringify(plain(want))}, is_group ${group ? 1 : 0}` },
    );
    return rows[0];
  }

  /** Waits for the osc_messages row(s) of a conversation (n rows), oldest first. */
  waitMessages(convId, n, { timeoutMs = 6000 } = {}) {
    return this.waitRows(
      'SELECT id, conversation_id, user_id, message, timestamp FROM osc_messages WHERE conversation_id = ? ORDER BY timestamp, id',
      [convId],
      (rows) => rows.length >= n,
      { timeoutMs, what: `${n} osc_messages row(s) of ${convId}` },
    );
  }

  messages(convId) {
    return this.db.query(
      'SELECT id, conversation_id, user_id, message, timestamp FROM osc_messages WHERE conversation_id = ? ORDER BY timestamp, id',
      [convId],
    );
  }

  activity(convId, user) {
    return this.db.query(
      'SELECT conversation_id, user_id, timestamp, is_closed FROM osc_activity WHERE conversation_id = ? AND user_id = ?',
      [convId, user],
    );
  }

  // ----- HTTP backend -----

  /** GET /backend/UserConfigChange/<ns>?message=<json> as PHP sends it. */
  userConfigChange(message, opts = {}) {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    return this.backend('UserConfigChange', [], { ...opts, query: `?message=${encodeURIComponent(text)}` });
  }

  /**
   * What PHP does when a user changes the setting: usr_pref first (`y`/`n`, so the
   * periodic refresh agrees), then UserConfigChange, which must answer HTTP 200
   * {"status":200}.
   */
  async setAccepts(map) {
    for (const [id, accepts] of Object.entries(map)) await this.setPref(Number(id), accepts ? 'y' : 'n');
    const body = Object.fromEntries(Object.entries(map).map(([id, v]) => [id, { acceptsMessages: v }]));
    const r = await this.userConfigChange(body);
    assert.equal(r.status, 200, `UserConfigChange HTTP status (body ${r.body})`);
    assert.deepEqual(r.json, { status: 200 }, `UserConfigChange answered ${r.body}`);
  }

  async heartbeat() {
    const r = await this.backend('Heartbeat', [], { auth: null });
    assert.equal(r.status, 200, 'Heartbeat HTTP status');
    assert.deepEqual(r.json, { status: 200 }, 'Heartbeat body');
    assert.equal(this.server.exited, null, 'server still running');
  }

  // ----- browsers -----

  /** A connected socket.io client of the IM namespace with an event recorder. */
  async browser(label, { transports = ['websocket'], settleMs = CONNECT_SETTLE_MS, ...rest } = {}) {
    const socket = await connect(this.base, `/${NAME}-im`, { transports, ...rest });
    const b = this.addBrowser(new Browser(this, label, socket));
    // il.Chat emits `login` right in the `connect` callback; a server that registers its
    // event handlers after acknowledging the connect can drop it. That race has its own
    // test (im-robustness: "login emitted in the connect callback"); the other tests wait
    // a moment so that they check their own behaviour.
    if (settleMs) await sleep(settleMs);
    return b;
  }

  /**
   * A user online with `tabs` sockets, each logged in (`login` awaited). Waits for quiet
   * and clears every recorder afterwards. Returns {id, name, tabs}.
   */
  async online(user, { tabs = 1 } = {}) {
    const u = { id: user.id, name: user.name, tabs: [] };
    for (let i = 0; i < tabs; i++) {
      const b = await this.browser(tabs > 1 ? `${user.name}#${i + 1}` : user.name);
      await b.login(user.id, user.name);
      u.tabs.push(b);
    }
    await this.settle();
    return u;
  }

  /** `expect` asserts the tabs of a user that the test did not close. */
  tabsOf(user) {
    return user.tabs.filter((b) => !b.closedByTest);
  }

  /** Expected IM message object (G10 adds `id`). */
  msg(convId, user, text, { ts = TS, id = UUID } = {}) {
    const m = { conversationId: convId, userId: user.id, message: text, timestamp: ts };
    if (this.gen >= 10) m.id = id;
    return m;
  }

  /** The text as the generation delivers/stores it (ILIAS 8/9 escape on the server). */
  text(raw) {
    return this.gen >= 10 ? raw : escapeHtml(raw);
  }

  /**
   * Sends a message from `from` (first tab) in a conversation whose other (online,
   * accepting) participants are `others`; asserts the `conversation` + `message` events
   * of everyone (all tabs) and nothing elsewhere. Returns the delivered message object.
   */
  async say(from, convId, participants, raw, { group = false, message = '' } = {}) {
    from.tabs[0].emit('message', convId, from.id, raw);
    const m = this.msg(convId, from, this.text(raw));
    const events = [ev('conversation', liveConv(convId, participants, { group })), ev('message', m)];
    const online = participants.filter((p) => p.tabs && p.tabs.some((b) => !b.closedByTest));
    await this.expect(
      online.map((p) => [p, events]),
      { message: message || `message ${JSON.stringify(raw)} from ${from.name}` },
    );
    const got = from.tabs[0].lastPayload('message');
    return got;
  }

  /**
   * "The server keeps serving others": `from` sends a message in `convId` (a 1:1 with
   * `to`), both get `conversation` + `message`, nobody else gets anything.
   */
  async probe(from, to, convId, label = '') {
    this.probeCount++;
    const text = `probe ${this.probeCount}`;
    from.tabs[0].emit('message', convId, from.id, text);
    const events = [ev('conversation', liveConv(convId, [from, to])), ev('message', this.msg(convId, from, text))];
    await this.expect(
      [
        [from, events],
        [to, events],
      ],
      { quietMs: 120, message: `probe after ${label}` },
    );
  }
}

/** The ILIAS 8/9 escaping (spec §6.6), for expected values. */
export function escapeHtml(s) {
  return String(s)
    .replace(/&(?!\w+;)/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '?');
}

export class Browser extends RecordingBrowser {
  /** login(userId, name) as il.Chat sends it; waits for the `login` reply. */
  async login(id, name) {
    this.emit('login', id, name);
    await this.waitFor('login');
  }
}

/** A user {id, name, tabs} out of a list of browsers. */
export function userOf(user, ...tabs) {
  return { id: user.id, name: user.name, tabs };
}

/**
 * A: `conversation([a, b])` from a's first tab, asserts `conversation-init` on all of a's
 * tabs (nothing elsewhere) and returns the new conversation id.
 */
export async function startConversation(ctx, a, b, { sendB = (x) => ({ id: x.id, name: x.name }) } = {}) {
  a.tabs[0].emit('conversation', [{ id: a.id, name: a.name }, sendB(b)]);
  await a.tabs[0].waitFor('conversation-init');
  const init = a.tabs[0].events.find((e) => e.event === 'conversation-init').args[0];
  assert.ok(init && typeof init.id === 'string', `conversation-init payload ${JSON.stringify(init)}`);
  await ctx.expect([[a, [ev('conversation-init', conv(init.id, [a, b]))]]], { message: `conversation(${a.name}, ${b.name})` });
  return init.id;
}

/**
 * alice, bob and carol online; alice starts the 1:1 `ab` with bob and adds carol, which
 * makes the group conversation `g`. Every recorder is cleared afterwards.
 */
export async function groupOfThree(ctx) {
  const alice = await ctx.online(ALICE);
  const bob = await ctx.online(BOB);
  const carol = await ctx.online(CAROL);
  const ab = await startConversation(ctx, alice, bob);
  alice.tabs[0].emit('addUser', ab, CAROL.id, 'carol');
  const g = (await alice.tabs[0].waitFor('addUser')).args[0].id;
  await ctx.settle();
  return { alice, bob, carol, ab, g };
}
