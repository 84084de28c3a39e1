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
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test as nodeTest } from 'node:test';

import {
  clientCfg,
  connect,
  createTestDb,
  freePort,
  httpRequest,
  serverBinary,
  serverCfg,
  sleep,
  tempDir,
} from './harness.mjs';

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

export class Matcher {
  constructor(label, fn) {
    this.label = label;
    this.fn = fn;
  }
  toString() {
    return `«${this.label}»`;
  }
}

/** An object key that may be absent; when present its value must match `value`. */
export class Optional {
  constructor(value) {
    this.value = value;
  }
}
export const optional = (value) => new Optional(value);

/** A live timestamp: integer milliseconds close to now. */
export const TS = new Matcher('timestamp ms ≈ now', (v) =>
  Number.isInteger(v) && v > 1e12 && Math.abs(v - Date.now()) < 30000,
);

/** Any UUID (ILIAS uses v4). */
export const UUID = new Matcher('uuid', (v) =>
  typeof v === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
);

export const NONNEG_INT = new Matcher('integer ≥ 0', (v) => Number.isInteger(v) && v >= 0);
export const NONEMPTY_STRING = new Matcher('non-empty string', (v) => typeof v === 'string' && v.length > 0);

/** isGroup of a conversation preloaded from the DB: the original sends 0/1 there. */
export const GROUP_TRUE = new Matcher('isGroup truthy (true or 1)', (v) => v === true || v === 1);
export const GROUP_FALSE = new Matcher('isGroup falsy (false or 0)', (v) => v === false || v === 0);

/** A user id that the browser may have handed over as a string (DOM attribute). */
export const idOf = (id) => new Matcher(`${id} or "${id}"`, (v) => v === id || v === String(id));

export const oneOf = (...values) =>
  new Matcher(`one of ${JSON.stringify(values)}`, (v) => values.some((x) => Object.is(x, v)));

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

/**
 * Walks `expected` and `actual` together; a Matcher in `expected` that accepts the
 * actual value turns both sides into the matcher's label; an Optional key absent from
 * `actual` is dropped. Returns [actual', expected'] for assert.deepStrictEqual.
 */
export function reconcile(actual, expected) {
  if (expected instanceof Optional) return reconcile(actual, expected.value);
  if (expected instanceof Matcher) {
    const label = expected.toString();
    return [expected.fn(actual) ? label : actual, label];
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    const a = [];
    const e = [];
    const n = Math.max(actual.length, expected.length);
    for (let i = 0; i < n; i++) {
      if (i >= expected.length) a.push(actual[i]);
      else if (i >= actual.length) e.push(plain(expected[i]));
      else {
        const [x, y] = reconcile(actual[i], expected[i]);
        a.push(x);
        e.push(y);
      }
    }
    return [a, e];
  }
  if (isObject(expected) && isObject(actual)) {
    const a = {};
    const e = {};
    for (const k of Object.keys(actual)) {
      if (k in expected) {
        const [x, y] = reconcile(actual[k], expected[k]);
        a[k] = x;
        e[k] = y;
      } else a[k] = actual[k];
    }
    for (const k of Object.keys(expected)) {
      if (!(k in actual) && !(expected[k] instanceof Optional)) e[k] = plain(expected[k]);
    }
    return [a, e];
  }
  return [actual, plain(expected)];
}

function plain(v) {
  if (v instanceof Optional) return plain(v.value);
  if (v instanceof Matcher) return v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const isObject = (v) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Matcher) && !(v instanceof Optional);

/** assert.deepStrictEqual with Matcher/Optional support. */
export function assertMatch(actual, expected, message) {
  const [a, e] = reconcile(actual, expected);
  assert.deepStrictEqual(a, e, message);
}

// ---------------------------------------------------------------------------
// Expected payloads
// ---------------------------------------------------------------------------

/** An expected event: name and its argument list. */
export function ev(event, ...args) {
  return { event, args };
}

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

const KEEP = process.env.ILIAS_CHAT_TEST_KEEP === '1';
const CONNECT_SETTLE_MS = 60;

// Started as root, the server switches to a service user unless told `--user root`
// (binaries without that option do not switch).
let userArgsCache;
function userArgs(bin) {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return [];
  if (userArgsCache === undefined) {
    let help = '';
    try {
      help = execFileSync(bin, ['--help'], { encoding: 'utf8', timeout: 10000 });
    } catch (e) {
      help = String(e.stdout || '');
    }
    userArgsCache = /--user\b/.test(help) ? ['--user', 'root'] : [];
  }
  return userArgsCache;
}

/**
 * Starts the binary with server.cfg + client.cfg in a fresh temp dir (also the cwd) and
 * waits until GET /backend/Heartbeat/<first name> answers 200.
 */
export async function spawnServer(serverConfig, clientConfigs, { env = {}, timeoutMs = 20000 } = {}) {
  const bin = serverBinary();
  if (!fs.existsSync(bin)) {
    throw new Error(`server binary ${bin} not found: run \`cargo build\` or set ILIAS_CHAT_BIN`);
  }
  const dir = tempDir('ilias-chat-im-');
  const serverPath = path.join(dir, 'server.cfg');
  fs.writeFileSync(serverPath, JSON.stringify(serverConfig, null, 4) + '\n');
  const clientPaths = clientConfigs.map((c, i) => {
    const p = path.join(dir, `client${i}.cfg`);
    fs.writeFileSync(p, JSON.stringify(c, null, 4) + '\n');
    return p;
  });
  const stdoutPath = path.join(dir, 'stdout.log');
  const stderrPath = path.join(dir, 'stderr.log');
  const outFd = fs.openSync(stdoutPath, 'w');
  const errFd = fs.openSync(stderrPath, 'w');
  const childEnv = { ...process.env, RUST_BACKTRACE: '1', ...env };
  for (const v of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'JOURNAL_STREAM']) {
    delete childEnv[v];
  }
  const child = spawn(bin, [...userArgs(bin), serverPath, ...clientPaths], {
    cwd: dir,
    stdio: ['ignore', outFd, errFd],
    env: childEnv,
  });
  fs.closeSync(outFd);
  fs.closeSync(errFd);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve((exited = { code, signal })));
    child.on('error', (error) => resolve((exited = { error })));
  });
  const read = (p) => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  };
  const server = {
    dir,
    child,
    port: Number(serverConfig.port),
    baseUrl: `http://127.0.0.1:${serverConfig.port}`,
    get exited() {
      return exited;
    },
    stderr: () => read(stderrPath) + read(stdoutPath),
    async stop({ failed = false } = {}) {
      if (!exited) {
        child.kill('SIGKILL');
        await Promise.race([exitPromise, sleep(5000)]);
      }
      if (failed || KEEP) console.error(`keeping ${dir}`);
      else fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  const probe = `${server.baseUrl}/backend/Heartbeat/${encodeURIComponent(clientConfigs[0].name)}`;
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    if (exited) {
      const logs = server.stderr();
      await server.stop({ failed: true });
      throw new Error(`ilias-chat exited during startup (${JSON.stringify(exited)})\n${logs}`);
    }
    try {
      const r = await httpRequest(probe, { timeoutMs: 2000 });
      if (r.status === 200) return server;
      last = `HTTP ${r.status} ${r.body}`;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) {
      const logs = server.stderr();
      await server.stop({ failed: true });
      throw new Error(`ilias-chat did not answer ${probe} within ${timeoutMs} ms (last: ${last})\n${logs}`);
    }
    await sleep(50);
  }
}

/**
 * node:test test with a fresh IM context. opts: generation (8|9|10, default 9),
 * seed (async (ctx) => …, runs before the server starts), timeout (ms).
 * Failures carry the tail of the server log.
 */
export function imTest(name, opts, fn) {
  if (typeof opts === 'function') {
    fn = opts;
    opts = {};
  }
  const { timeout = 120000, skip, todo, generation = 9, seed } = opts;
  return nodeTest(name, { timeout, skip, todo }, async (t) => {
    const db = await createTestDb(generation);
    const ctx = new ImContext(db, generation);
    let failed = true;
    try {
      if (seed) await seed(ctx);
      await ctx.start();
      await fn(ctx, t);
      failed = false;
    } catch (e) {
      const extra = ctx.server ? `\n${ctx.logTail()}` : '';
      try {
        e.message = `${e.message}${extra}`;
      } catch {
        /* frozen */
      }
      throw e;
    } finally {
      await ctx.close({ failed });
    }
  });
}

export class ImContext {
  constructor(db, generation) {
    this.db = db;
    this.gen = generation;
    this.server = null;
    this.browsers = [];
    this.closed = false;
    this.probeCount = 0;
  }

  get base() {
    return this.server.baseUrl;
  }

  async start() {
    this.server = await spawnServer(serverCfg(await freePort()), [clientCfg(NAME, KEY, SECRET, this.db)]);
    // The server may answer Heartbeat before the database is connected; give the
    // conversation preload (seen in the log) a moment before browsers connect. Not a
    // requirement: logins that arrive earlier must wait for it or see the same result.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !/conversations? (loaded|preloaded)|message settings refreshed|cannot load conversations/i.test(this.server.stderr())) {
      await sleep(25);
    }
  }

  logTail(lines = 80) {
    // eslint-disable-next-line no-control-regex
    const strip = (l) => l.replace(/\x1b\[[0-9;]*m/g, '');
    const all = this.server.stderr().split('\n').map(strip);
    const warn = all.filter((l) => /WARN|ERROR|panic/i.test(l)).slice(-40);
    return (
      `----- ilias-chat warnings/errors (last 40) -----\n${warn.join('\n')}\n` +
      `----- ilias-chat log tail (${this.server.dir}) -----\n${all.slice(-lines).join('\n')}\n----- end -----`
    );
  }

  async close({ failed = false } = {}) {
    if (this.closed) return;
    this.closed = true;
    for (const b of this.browsers) {
      try {
        b.socket.close();
      } catch {
        /* ignore */
      }
    }
    if (this.server) await this.server.stop({ failed: failed || KEEP });
    await this.db.drop();
  }

  // ----- database -----

  query(sql, params) {
    return this.db.query(sql, params);
  }

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

  /** Polls `sql` until `pred(rows)` holds; returns the rows or fails with the last ones. */
  async waitRows(sql, params, pred, { timeoutMs = 6000, what = sql } = {}) {
    const deadline = Date.now() + timeoutMs;
    let rows;
    for (;;) {
      rows = await this.db.query(sql, params);
      let ok = false;
      try {
        ok = pred(rows);
      } catch {
        ok = false;
      }
      if (ok) return rows;
      if (Date.now() > deadline) {
        assert.fail(`waited ${timeoutMs} ms for ${what}; last rows: ${JSON.stringify(rows, null, 1)}`);
      }
      await sleep(50);
    }
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

  async backend(action, segments = [], { auth = AUTH, ns = NAME, query = '' } = {}) {
    const p = [action, ns, ...segments.map((s) => encodeURIComponent(String(s)))].join('/');
    const r = await httpRequest(`${this.base}/backend/${p}${query}`, {
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      auth: auth || undefined,
    });
    let json;
    try {
      json = JSON.parse(r.body);
    } catch {
      json = undefined;
    }
    return { ...r, json };
  }

  /** GET /backend/UserConfigChange/<ns>?message=<json> as PHP sends it. */
  userConfigChange(message, opts = {}) {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    return this.backend('UserConfigChange', [], { ...opts, query: `?message=${encodeURIComponent(text)}` });
  }

  /** UserConfigChange that must answer HTTP 200 {"status":200}. */
  async setAccepts(map) {
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
    const b = new Browser(this, label, socket);
    this.browsers.push(b);
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

  /** Waits until no browser received anything for `quietMs`, then clears every recorder. */
  async settle(quietMs = 150, maxMs = 4000) {
    const deadline = Date.now() + maxMs;
    let total = -1;
    for (;;) {
      const now = this.browsers.reduce((n, b) => n + b.events.length, 0);
      if (now === total || Date.now() > deadline) break;
      total = now;
      await sleep(quietMs);
    }
    for (const b of this.browsers) b.events.length = 0;
  }

  /**
   * Asserts the complete list of events of every open browser: `expectations` is a list
   * of [browser | user (all its tabs), [expected events]]; every other open browser must
   * have received nothing. Waits until each has at least the expected number, then
   * `quietMs` for stragglers; clears the recorders. `unordered`: compare the events of
   * each browser sorted by event name and payload id (for conversation lists).
   */
  async expect(expectations, { quietMs = 250, timeoutMs = 5000, message = '', unordered = false } = {}) {
    const map = new Map();
    for (const [who, list] of expectations) {
      const targets = who instanceof Browser ? [who] : who.tabs.filter((b) => !b.closedByTest);
      for (const b of targets) map.set(b, list);
    }
    const open = this.browsers.filter((b) => !b.closedByTest);
    for (const b of open) if (!map.has(b)) map.set(b, []);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && [...map].some(([b, list]) => b.events.length < list.length)) await sleep(20);
    await sleep(quietMs);
    const failures = [];
    const key = (e) => `${e.event}\u0000${e.args && e.args[0] && typeof e.args[0] === 'object' ? String(e.args[0].id) : ''}`;
    const sort = (list) => [...list].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
    for (const [b, list] of map) {
      let got = b.events.splice(0);
      let want = list;
      if (unordered) {
        got = sort(got);
        want = sort(list);
      }
      const [a, e] = reconcile(got, want);
      try {
        assert.deepStrictEqual(a, e);
      } catch (err) {
        failures.push(`${b.label}: ${err.message}`);
      }
    }
    if (failures.length) assert.fail(`${message ? message + ': ' : ''}unexpected events\n${failures.join('\n')}`);
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

export class Browser {
  constructor(ctx, label, socket) {
    this.ctx = ctx;
    this.label = label;
    this.socket = socket;
    this.events = [];
    this.all = [];
    this.closedByTest = false;
    socket.onAny((event, ...args) => {
      this.events.push({ event, args });
      this.all.push({ event, args });
    });
    socket.on('disconnect', (reason) => {
      if (!this.closedByTest) this.events.push({ event: '(disconnect)', args: [reason] });
    });
  }

  emit(event, ...args) {
    this.socket.emit(event, ...args);
  }

  /** The payload of the last recorded `name` event (of the whole life of the socket). */
  lastPayload(name) {
    for (let i = this.all.length - 1; i >= 0; i--) if (this.all[i].event === name) return this.all[i].args[0];
    return undefined;
  }

  /** Waits until an event named `name` was recorded (does not consume). */
  async waitFor(name, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find((e) => e.event === name);
      if (hit) return hit;
      if (Date.now() > deadline) {
        assert.fail(`${this.label}: no '${name}' within ${timeoutMs} ms; got ${JSON.stringify(this.events.map((e) => e.event))}`);
      }
      await sleep(10);
    }
  }

  /** login(userId, name) as il.Chat sends it; waits for the `login` reply. */
  async login(id, name) {
    this.emit('login', id, name);
    await this.waitFor('login');
  }

  close() {
    this.closedByTest = true;
    this.socket.close();
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
