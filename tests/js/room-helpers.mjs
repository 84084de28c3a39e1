// Shared helpers of the repository chat-room end-to-end tests (tests/js/room*.test.mjs).
//
// Each test gets its own MariaDB database (ILIAS 8/9/10 fixture schema), its own
// server process (spawned here rather than with harness.startServer because the tests
// need extra environment variables such as ILIAS_CHAT_DISCONNECT_GRACE_MS and a
// SIGTERM), and "browsers": socket.io clients that record every event they receive,
// so a test can assert the complete list of events per socket — including that a
// socket received nothing it should not have.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
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

export const NAME = 'ilroom';
export const KEY = 'rk-8c1f2a7e';
export const SECRET = 'rs-51b0e9d4';
export const ROOM = 7;
export const AUTH = [KEY, SECRET];
const KEEP = process.env.ILIAS_CHAT_TEST_KEEP === '1';

/** The user id of the chatroom_users row every start inserts to see the start-up cleanup. */
export const SENTINEL_USER = 990001;
export const SENTINEL_ROOM = 990;

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

/** A live-payload timestamp: integer milliseconds close to now. */
export const TS = new Matcher('timestamp ms ≈ now', (v) =>
  Number.isInteger(v) && Math.abs(v - Date.now()) < 20000,
);

/** A stored timestamp: integer seconds close to now. */
export const TS_S = new Matcher('timestamp s ≈ now', (v) =>
  Number.isInteger(v) && Math.abs(v - Date.now() / 1000) < 20,
);

/** A non-empty string (e.g. the `reason` of a failure). */
export const NONEMPTY_STRING = new Matcher('non-empty string', (v) => typeof v === 'string' && v.length > 0);

export const oneOf = (...values) =>
  new Matcher(`one of ${JSON.stringify(values)}`, (v) => values.some((x) => Object.is(x, v)));

/**
 * Walks `expected` and `actual` together; a Matcher in `expected` that accepts the
 * actual value turns both sides into the matcher's label. Returns [actual', expected']
 * for assert.deepStrictEqual, so a failure shows a normal diff.
 */
export function reconcile(actual, expected) {
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
    for (const k of Object.keys(expected)) if (!(k in actual)) e[k] = plain(expected[k]);
    return [a, e];
  }
  return [actual, plain(expected)];
}

function plain(v) {
  if (v instanceof Matcher) return v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Matcher);

/** assert.deepStrictEqual with Matcher support. */
export function assertMatch(actual, expected, message) {
  const [a, e] = reconcile(actual, expected);
  assert.deepStrictEqual(a, e, message);
}

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

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

async function spawnServer(serverConfig, clientConfigs, { env = {}, timeoutMs = 20000 } = {}) {
  const bin = serverBinary();
  if (!fs.existsSync(bin)) {
    throw new Error(`server binary ${bin} not found: run \`cargo build\` or set ILIAS_CHAT_BIN`);
  }
  const dir = tempDir('ilias-chat-room-');
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
    exitPromise,
    get exited() {
      return exited;
    },
    stderr: () => read(stderrPath),
    stdout: () => read(stdoutPath),
    /** The end of the log plus every warning/error line (full log in `dir` with ILIAS_CHAT_TEST_KEEP=1). */
    logTail(lines = 60) {
      const all = (read(stderrPath) + read(stdoutPath)).split('\n');
      // eslint-disable-next-line no-control-regex
      const strip = (l) => l.replace(/\x1b\[[0-9;]*m/g, '');
      const warn = all.filter((l) => /WARN|ERROR|panic/i.test(l)).slice(-40).map(strip);
      return (
        `----- ilias-chat warnings/errors (last 40) -----\n${warn.join('\n')}\n` +
        `----- ilias-chat log tail (${dir}) -----\n${all.slice(-lines).map(strip).join('\n')}\n----- end -----`
      );
    },
    async kill() {
      if (!exited) {
        child.kill('SIGKILL');
        await Promise.race([exitPromise, sleep(5000)]);
      }
    },
  };
  const probe = `${server.baseUrl}/backend/Heartbeat/${encodeURIComponent(clientConfigs[0].name)}`;
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    if (exited) {
      const logs = server.logTail();
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
      const logs = server.logTail();
      await server.kill();
      throw new Error(`ilias-chat did not answer ${probe} within ${timeoutMs} ms (last: ${last})\n${logs}`);
    }
    await sleep(50);
  }
}

// The start-up cleanup is awaited through a sentinel chatroom_users row; once one test
// saw that it never happens, later starts do not wait long for it again.
let cleanupMissing = false;

/**
 * Creates a database, inserts rooms (and rows), starts the server and waits until the
 * client has loaded its rooms and run the start-up cleanup.
 *
 * opts: generation (8|9|10), rooms (chatroom_settings ids), prooms (ILIAS 8:
 * [{id, parent, title, owner, closed}]), chatroomUsers ([{room, user, userdata, connected}]
 * inserted before start), graceMs (ILIAS_CHAT_DISCONNECT_GRACE_MS), env, clientOverrides,
 * sentinel (default true).
 */
export async function startRoom(opts = {}) {
  const {
    generation = 9,
    rooms = [ROOM],
    prooms = [],
    chatroomUsers = [],
    graceMs = 300,
    env = {},
    clientOverrides = {},
    sentinel = true,
  } = opts;
  const db = await createTestDb(generation);
  const ctx = new RoomContext(db, generation);
  try {
    for (const id of rooms) await ctx.insertRoom(id);
    for (const p of prooms) {
      await db.query(
        'INSERT INTO chatroom_prooms (proom_id, parent_id, title, owner, created, closed, is_public) VALUES (?, ?, ?, ?, ?, ?, 1)',
        [p.id, p.parent, p.title, p.owner, Math.floor(Date.now() / 1000) - 60, p.closed ?? 0],
      );
    }
    const users = [...chatroomUsers];
    if (sentinel) users.push({ room: SENTINEL_ROOM, user: SENTINEL_USER });
    for (const u of users) await ctx.insertChatroomUser(u);
    ctx.server = await spawnServer(
      serverCfg(await freePort()),
      [clientCfg(NAME, KEY, SECRET, db, clientOverrides)],
      { env: { ILIAS_CHAT_DISCONNECT_GRACE_MS: String(graceMs), ...env } },
    );
    await ctx.waitLoaded(rooms.map((r) => `${r}_0`).concat(prooms.filter((p) => !p.closed).map((p) => `${p.parent}_${p.id}`)));
    if (sentinel) await ctx.waitSentinelCleanup();
  } catch (e) {
    await ctx.close({ failed: true });
    throw e;
  }
  return ctx;
}

/**
 * node:test test with a fresh room context; failures carry the server's log tail.
 * `opts` are startRoom's plus `timeout` (ms).
 */
export function roomTest(name, opts, fn) {
  if (typeof opts === 'function') {
    fn = opts;
    opts = {};
  }
  const { timeout = 90000, skip, todo, ...startOpts } = opts;
  return nodeTest(name, { timeout, skip, todo }, async (t) => {
    const ctx = await startRoom(startOpts);
    let failed = true;
    try {
      await fn(ctx, t);
      failed = false;
    } catch (e) {
      const extra = `\n${ctx.server ? ctx.server.logTail() : ''}`;
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

// ---------------------------------------------------------------------------
// Per-test context
// ---------------------------------------------------------------------------

export class RoomContext {
  constructor(db, generation) {
    this.db = db;
    this.gen = generation;
    this.server = null;
    this.browsers = [];
    this.closed = false;
  }

  get base() {
    return this.server.baseUrl;
  }

  // ----- database -----

  async insertRoom(id) {
    await this.db.query(
      "INSERT INTO chatroom_settings (room_id, object_id, room_type, enable_history) VALUES (?, ?, 'repository', 1)",
      [id, 1000 + id],
    );
  }

  async insertChatroomUser({ room, user, userdata, connected }) {
    const ud = userdata ?? JSON.stringify({ login: `user${user}`, id: user });
    const c = connected ?? Math.floor(Date.now() / 1000) - 120;
    await this.db.query('INSERT INTO chatroom_users (room_id, user_id, userdata, connected) VALUES (?, ?, ?, ?)', [
      room,
      user,
      ud,
      c,
    ]);
    return { room_id: room, user_id: user, userdata: ud, connected: c };
  }

  query(sql, params) {
    return this.db.query(sql, params);
  }

  /** Polls `sql` until `pred(rows)` holds; returns the rows or fails with the last ones. */
  async waitRows(sql, params, pred, { timeoutMs = 6000, what = sql } = {}) {
    const deadline = Date.now() + timeoutMs;
    let rows;
    for (;;) {
      rows = await this.db.query(sql, params);
      if (pred(rows)) return rows;
      if (Date.now() > deadline) {
        assert.fail(`waited ${timeoutMs} ms for ${what}; last rows: ${JSON.stringify(rows, null, 1)}`);
      }
      await sleep(50);
    }
  }

  /** chatroom_history rows (ILIAS 8 incl. sub_room), oldest first. */
  history(where = '1=1', params = []) {
    const cols = this.gen === 8 ? 'hist_id, room_id, message, timestamp, sub_room' : 'hist_id, room_id, message, timestamp';
    return this.db.query(`SELECT ${cols} FROM chatroom_history WHERE ${where} ORDER BY hist_id`, params);
  }

  /** Waits until there are at least `n` history rows matching `where`; returns all of them. */
  waitHistory(n, where = '1=1', params = [], timeoutMs = 6000) {
    const cols = this.gen === 8 ? 'hist_id, room_id, message, timestamp, sub_room' : 'hist_id, room_id, message, timestamp';
    return this.waitRows(
      `SELECT ${cols} FROM chatroom_history WHERE ${where} ORDER BY hist_id`,
      params,
      (rows) => rows.length >= n,
      { timeoutMs, what: `${n} chatroom_history row(s) WHERE ${where} ${JSON.stringify(params)}` },
    );
  }

  async waitLoaded(roomKeys, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (this.server.exited) throw new Error(`ilias-chat exited: ${JSON.stringify(this.server.exited)}`);
      try {
        const r = await this.backend('GetRooms', []);
        const rooms = r.json && r.json.rooms;
        if (rooms && roomKeys.every((k) => k in rooms)) return;
        last = r.body;
      } catch (e) {
        last = e.message;
      }
      // Fallback while GetRooms is missing: the log line of the room preload.
      if (/chat rooms loaded/.test(this.server.stderr() + this.server.stdout())) return;
      if (Date.now() > deadline) {
        throw new Error(`rooms ${roomKeys.join(', ')} not loaded within ${timeoutMs} ms (GetRooms: ${last})`);
      }
      await sleep(50);
    }
  }

  async waitSentinelCleanup() {
    const deadline = Date.now() + (cleanupMissing ? 300 : 5000);
    for (;;) {
      const rows = await this.db.query('SELECT user_id FROM chatroom_users WHERE user_id = ?', [SENTINEL_USER]);
      if (rows.length === 0) return;
      if (Date.now() > deadline) {
        cleanupMissing = true;
        // Not ours to test here (see the start-up cleanup test); remove it so later
        // checks of chatroom_users are not confused.
        await this.db.query('DELETE FROM chatroom_users WHERE user_id = ?', [SENTINEL_USER]);
        return;
      }
      await sleep(50);
    }
  }

  // ----- HTTP backend -----

  /**
   * GET /backend/<action>/<NAME>/<segments...> with the client's Basic auth (or `auth`:
   * null = none, [k, s] = other). Resolves {status, headers, body, json}.
   */
  async backend(action, segments = [], { auth = AUTH, ns = NAME, query = '' } = {}) {
    const p = [action, ns, ...segments.map((s) => encodeURIComponent(String(s)))].join('/');
    return this.rawGet(`/backend/${p}${query}`, auth);
  }

  async rawGet(pathAndQuery, auth = AUTH) {
    const r = await httpRequest(`${this.base}${pathAndQuery}`, {
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

  /** A backend call that must answer HTTP 200 with exactly `expected` (Matchers allowed). */
  async expectBackend(action, segments, expected, opts) {
    const r = await this.backend(action, segments, opts);
    assert.equal(r.status, 200, `${action}/${segments.join('/')}: HTTP status (body ${r.body})`);
    assert.ok(r.json !== undefined, `${action}/${segments.join('/')}: JSON body, got ${r.body}`);
    assertMatch(r.json, expected, `${action}/${segments.join('/')} answered ${r.body}`);
    return r.json;
  }

  async heartbeat() {
    const r = await this.rawGet(`/backend/Heartbeat/${NAME}`, null);
    assert.equal(r.status, 200, 'Heartbeat HTTP status');
    assert.deepEqual(r.json, { status: 200 }, 'Heartbeat body');
  }

  /** ILIAS 8 inserts the sub-room segment after the room id. */
  seg(room, sub, ...rest) {
    return this.gen === 8 ? [room, sub ?? 0, ...rest] : [room, ...rest];
  }

  /** The success answer of an action route (ILIAS 8 shapes add subRoomId). */
  ok(sub = 0) {
    return this.gen === 8 ? { success: true, subRoomId: sub } : { success: true };
  }

  // ----- browsers -----

  /** A connected socket.io client of the room namespace with an event recorder. */
  async browser(label, { transports = ['websocket'], ...rest } = {}) {
    const socket = await connect(this.base, `/${NAME}`, { transports, ...rest });
    const b = new Browser(this, label, socket);
    this.browsers.push(b);
    return b;
  }

  /**
   * The PHP + browser flow for one user: Connect, EnterPrivateRoom, then per tab a
   * socket, login → loggedIn, enterRoom → private_room_entered. Waits for quiet and
   * clears every recorder afterwards.
   */
  async join({ id, name, room = ROOM, sub = 0, tabs = 1, ppv, register = true, enter = true, transports }) {
    await this.expectBackend('Connect', [room, id], { status: 200 });
    if (register) await this.expectBackend('EnterPrivateRoom', this.seg(room, sub, id), this.ok(sub));
    const user = { id, name, ppv: !!ppv, tabs: [] };
    for (let i = 0; i < tabs; i++) {
      const b = await this.browser(tabs > 1 ? `${name}#${i + 1}` : name, { transports });
      await b.login(name, id, ppv);
      if (enter) await b.enter(room, sub);
      user.tabs.push(b);
    }
    await this.settle();
    return user;
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
   * `quietMs` for stragglers; clears the recorders.
   */
  async expect(expectations, { quietMs = 250, timeoutMs = 5000, message = '' } = {}) {
    const map = new Map();
    for (const [who, list] of expectations) {
      const targets = who instanceof Browser ? [who] : who.tabs;
      for (const b of targets) map.set(b, list);
    }
    const open = this.browsers.filter((b) => !b.closedByTest);
    for (const b of open) if (!map.has(b)) map.set(b, []);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && [...map].some(([b, list]) => b.events.length < list.length)) await sleep(20);
    await sleep(quietMs);
    const failures = [];
    for (const [b, list] of map) {
      const got = b.events.splice(0);
      const [a, e] = reconcile(got, list);
      try {
        assert.deepStrictEqual(a, e);
      } catch (err) {
        const brief = got.map((g) => `${g.event} ${JSON.stringify(g.args)}`).join('\n    ');
        failures.push(`${b.label}: ${err.message}\n  ${b.label} received:\n    ${brief || '(nothing)'}`);
      }
    }
    if (failures.length) assert.fail(`${message ? message + ': ' : ''}unexpected events\n${failures.join('\n')}`);
  }

  // ----- expected payloads (generation-aware) -----

  scope(room = ROOM, sub = 0) {
    return this.gen === 8 ? { roomId: room, subRoomId: sub } : { roomId: room };
  }

  entry(user) {
    const e = { id: user.id, username: user.name };
    if (this.gen === 10) e.profile_picture_visible = !!user.ppv;
    return e;
  }

  userlist(users, room = ROOM, sub = 0) {
    return ev('userlist', {
      type: 'userlist',
      timestamp: TS,
      content: 'userlist',
      ...this.scope(room, sub),
      users: Object.fromEntries(users.map((u) => [String(u.id), this.entry(u)])),
    });
  }

  notice(content, data, room = ROOM, sub = 0) {
    const p = { type: 'notice', content };
    if (data !== undefined) p.data = data;
    Object.assign(p, { timestamp: TS }, this.scope(room, sub));
    return ev('notice', p);
  }

  action(type, extra = {}, room = ROOM, sub = 0, content = type) {
    return ev(type === 'user_started_typing' ? 'userStartedTyping' : type === 'user_stopped_typing' ? 'userStoppedTyping' : type, {
      type,
      timestamp: TS,
      content,
      ...this.scope(room, sub),
      ...extra,
    });
  }

  /** The `message` payload (object in wire key order). */
  messagePayload(from, content, { room = ROOM, sub = 0, format = {}, target, timestamp = TS } = {}) {
    const p = { type: 'message', timestamp, content, ...this.scope(room, sub), from: this.entry(from), format };
    if (target !== undefined) p.target = target;
    return p;
  }

  message(from, content, opts) {
    return ev('message', this.messagePayload(from, content, opts));
  }

  /** The exact text ILIAS expects in chatroom_history.message (timestamp as «TS»). */
  storedMessage(from, content, opts = {}) {
    return JSON.stringify(this.messagePayload(from, content, { ...opts, timestamp: '«TS»' })).replace('"«TS»"', '«TS»');
  }

  /**
   * A stored notice. Its key order is not prescribed (PHP only matches
   * `"type":"notice"`), so it is compared as an object (see assertStoredNotice).
   */
  storedNotice(content, data, room = ROOM, sub = 0) {
    const p = { type: 'notice', content };
    if (data !== undefined) p.data = data;
    Object.assign(p, { timestamp: TS_S }, this.scope(room, sub));
    return p;
  }

  /**
   * Checks one chatroom_history row against the expected JSON text: compact, same key
   * order, timestamp in seconds equal to the timestamp column, room (and sub room).
   */
  assertStored(row, expectedText, { room = ROOM, sub = 0 } = {}) {
    if (typeof expectedText !== 'string') return this.assertStoredNotice(row, expectedText, { room, sub });
    assert.equal(row.room_id, room, `room_id of ${row.message}`);
    if (this.gen === 8) assert.equal(row.sub_room, sub, `sub_room of ${row.message}`);
    assertMatch(row.timestamp, TS_S, 'timestamp column (seconds)');
    const m = /"timestamp":(-?\d+)/.exec(row.message || '');
    assert.ok(m, `stored JSON has a numeric timestamp: ${row.message}`);
    assert.equal(Number(m[1]), row.timestamp, `JSON timestamp (seconds) = column: ${row.message}`);
    assert.equal(row.message.replace(/"timestamp":-?\d+/, '"timestamp":«TS»'), expectedText);
  }

  /** A stored notice: compact JSON equal (as an object) to `expected`, timestamps in seconds. */
  assertStoredNotice(row, expected, { room = ROOM, sub = 0 } = {}) {
    assert.equal(row.room_id, room, `room_id of ${row.message}`);
    if (this.gen === 8) assert.equal(row.sub_room, sub, `sub_room of ${row.message}`);
    assertMatch(row.timestamp, TS_S, 'timestamp column (seconds)');
    const parsed = JSON.parse(row.message);
    assert.equal(JSON.stringify(parsed), row.message, 'stored JSON is compact');
    assert.equal(parsed.timestamp, row.timestamp, `JSON timestamp (seconds) = column: ${row.message}`);
    assertMatch(parsed, expected, `stored notice ${row.message}`);
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
    if (this.server) {
      await this.server.kill();
      if (failed || KEEP || this.lostLogins) console.error(`keeping ${this.server.dir}`);
      else fs.rmSync(this.server.dir, { recursive: true, force: true });
    }
    await this.db.drop();
  }
}

/** An expected event: name and its argument list (no payload → []). */
export function ev(event, ...args) {
  return { event, args };
}

export class Browser {
  constructor(ctx, label, socket) {
    this.ctx = ctx;
    this.label = label;
    this.socket = socket;
    this.events = [];
    this.closedByTest = false;
    socket.onAny((event, ...args) => this.events.push({ event, args }));
    socket.on('disconnect', (reason) => {
      if (!this.closedByTest) this.events.push({ event: '(disconnect)', args: [reason] });
    });
  }

  emit(event, ...args) {
    this.socket.emit(event, ...args);
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

  /**
   * login(name, id[, profilePictureVisible]) and wait for loggedIn. A login the server
   * lost (an event sent right after `connect` can arrive before the server registered
   * its handlers) is sent once more after 1.5 s, so the other scenarios still run; the
   * race itself is asserted by its own test in room-flow.test.mjs.
   */
  async login(name, id, ppv) {
    const args = ppv === undefined ? [name, id] : [name, id, ppv];
    this.emit('login', ...args);
    try {
      await this.waitFor('loggedIn', 1500);
    } catch {
      this.ctx.lostLogins = (this.ctx.lostLogins || 0) + 1;
      console.error(`# ${this.label}: no loggedIn within 1.5 s, sending login again (lost event?) sid=${this.socket.id} server=${this.ctx.server.dir}`);
      this.emit('login', ...args);
      await this.waitFor('loggedIn');
    }
  }

  /** enterRoom as the generation's browser sends it; waits for private_room_entered. */
  async enter(room = ROOM, sub = 0, { wait = true } = {}) {
    const args = this.ctx.gen === 8 ? [room, sub] : [room];
    const before = this.events.filter((e) => e.event === 'private_room_entered').length;
    this.emit('enterRoom', ...args);
    if (!wait) return;
    const deadline = Date.now() + 5000;
    while (this.events.filter((e) => e.event === 'private_room_entered').length <= before) {
      if (Date.now() > deadline) assert.fail(`${this.label}: no private_room_entered after enterRoom(${args})`);
      await sleep(10);
    }
  }

  /** message({content, format, target?}, room[, sub]) as the generation's browser sends it. */
  say(content, { room = ROOM, sub = 0, format = {}, target } = {}) {
    const msg = { content, format };
    if (target !== undefined) msg.target = target;
    const args = this.ctx.gen === 8 ? [msg, room, sub] : [msg, room];
    this.emit('message', ...args);
  }

  close() {
    this.closedByTest = true;
    this.socket.close();
  }
}

/** Basic-auth variants that must all be refused. */
export const BAD_AUTHS = [
  ['none', null],
  ['wrong secret', [KEY, 'nope']],
  ['wrong key', ['nope', SECRET]],
  ['swapped', [SECRET, KEY]],
  ['empty', ['', '']],
];

export const ACCESS_DENIED = { status: 403, message: 'Access denied' };

/** Seconds now. */
export const nowS = () => Math.floor(Date.now() / 1000);
