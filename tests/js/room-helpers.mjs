// Shared helpers of the repository chat-room end-to-end tests (tests/js/room*.test.mjs).
//
// Each test gets its own MariaDB database (ILIAS 8/9/10 fixture schema), its own
// server process (harness.startServer, with extra environment variables such as
// ILIAS_CHAT_DISCONNECT_GRACE_MS), and "browsers": socket.io clients that record every
// event they receive (recorder.mjs), so a test can assert the complete list of events
// per socket — including that a socket received nothing it should not have.

import assert from 'node:assert/strict';

import { clientCfg, connect, createTestDb, freePort, serverCfg, sleep, startServer } from './harness.mjs';
import { Matcher, RecorderContext, RecordingBrowser, assertMatch, contextTest, ev } from './recorder.mjs';

export { NONEMPTY_STRING, assertMatch, ev, oneOf, reconcile } from './recorder.mjs';
export { sleep };

export const NAME = 'ilroom';
export const KEY = 'rk-8c1f2a7e';
export const SECRET = 'rs-51b0e9d4';
export const ROOM = 7;
export const AUTH = [KEY, SECRET];

export const ALICE = { id: 101, name: 'alice' };
export const BOB = { id: 102, name: 'bob' };
export const CAROL = { id: 103, name: 'carol' };
export const DAVE = { id: 104, name: 'dave' };

/** The user id of the chatroom_users row every start inserts to see the start-up cleanup. */
export const SENTINEL_USER = 990001;
export const SENTINEL_ROOM = 990;

// ---------------------------------------------------------------------------
// Matchers: placeholders in expected values that accept a range of actual values
// ---------------------------------------------------------------------------

/** A live-payload timestamp: integer milliseconds close to now. */
export const TS = new Matcher('timestamp ms ≈ now', (v) =>
  Number.isInteger(v) && Math.abs(v - Date.now()) < 20000,
);

/** A stored timestamp: integer seconds close to now. */
export const TS_S = new Matcher('timestamp s ≈ now', (v) =>
  Number.isInteger(v) && Math.abs(v - Date.now() / 1000) < 20,
);

// The start-up cleanup is awaited through a sentinel chatroom_users row; once one test
// saw that it never happens, later starts do not wait long for it again.
let cleanupMissing = false;

/**
 * node:test test with a fresh room context (see RoomContext.start); failures carry the
 * server's log tail.
 *
 * opts: generation (8|9|10), rooms (chatroom_settings ids), prooms (ILIAS 8:
 * [{id, parent, title, owner, closed}]), chatroomUsers ([{room, user, userdata, connected}]
 * inserted before start), graceMs (ILIAS_CHAT_DISCONNECT_GRACE_MS), env, clientOverrides,
 * serverOverrides (server.cfg keys),
 * sentinel (default true), timeout (ms).
 */
export function roomTest(name, opts, fn) {
  if (typeof opts === 'function') {
    fn = opts;
    opts = {};
  }
  const { timeout = 90000, skip, todo, generation = 9, ...startOpts } = opts;
  return contextTest(
    name,
    { timeout, skip, todo },
    async () => new RoomContext(await createTestDb(generation), generation, startOpts),
    fn,
  );
}

// ---------------------------------------------------------------------------
// Per-test context
// ---------------------------------------------------------------------------

export class RoomContext extends RecorderContext {
  constructor(db, generation, startOpts = {}) {
    super(db, generation, { name: NAME, auth: AUTH });
    this.startOpts = startOpts;
  }

  /**
   * Inserts rooms (and rows), starts the server and waits until the client has loaded
   * its rooms and run the start-up cleanup.
   */
  async start() {
    const {
      rooms = [ROOM],
      prooms = [],
      chatroomUsers = [],
      graceMs = 300,
      env = {},
      clientOverrides = {},
      serverOverrides = {},
      sentinel = true,
    } = this.startOpts;
    for (const id of rooms) await this.insertRoom(id);
    for (const p of prooms) {
      await this.db.query(
        'INSERT INTO chatroom_prooms (proom_id, parent_id, title, owner, created, closed, is_public) VALUES (?, ?, ?, ?, ?, ?, 1)',
        [p.id, p.parent, p.title, p.owner, Math.floor(Date.now() / 1000) - 60, p.closed ?? 0],
      );
    }
    const users = [...chatroomUsers];
    if (sentinel) users.push({ room: SENTINEL_ROOM, user: SENTINEL_USER });
    for (const u of users) await this.insertChatroomUser(u);
    this.server = await startServer(
      serverCfg(await freePort(), serverOverrides),
      [clientCfg(NAME, KEY, SECRET, this.db, clientOverrides)],
      { env: { ILIAS_CHAT_DISCONNECT_GRACE_MS: String(graceMs), ...env }, dirPrefix: 'ilias-chat-room-' },
    );
    await this.waitLoaded(rooms.map((r) => `${r}_0`).concat(prooms.filter((p) => !p.closed).map((p) => `${p.parent}_${p.id}`)));
    if (sentinel) await this.waitSentinelCleanup();
  }

  /** Keeps the server dir also when a login had to be sent twice (see Browser.login). */
  close({ failed = false } = {}) {
    return super.close({ failed: failed || !!this.lostLogins });
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

  /** The chatroom_history query of rows matching `where` (ILIAS 8 incl. sub_room), oldest first. */
  historySql(where) {
    const cols = this.gen === 8 ? 'hist_id, room_id, message, timestamp, sub_room' : 'hist_id, room_id, message, timestamp';
    return `SELECT ${cols} FROM chatroom_history WHERE ${where} ORDER BY hist_id`;
  }

  /** chatroom_history rows (ILIAS 8 incl. sub_room), oldest first. */
  history(where = '1=1', params = []) {
    return this.db.query(this.historySql(where), params);
  }

  /** Waits until there are at least `n` history rows matching `where`; returns all of them. */
  waitHistory(n, where = '1=1', params = [], timeoutMs = 6000) {
    return this.waitRows(
      this.historySql(where),
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
    return this.addBrowser(new Browser(this, label, socket));
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

  /** room_id (and sub_room) of a chatroom_history row; its timestamp column is seconds ≈ now. */
  assertStoredRow(row, room, sub) {
    assert.equal(row.room_id, room, `room_id of ${row.message}`);
    if (this.gen === 8) assert.equal(row.sub_room, sub, `sub_room of ${row.message}`);
    assertMatch(row.timestamp, TS_S, 'timestamp column (seconds)');
  }

  /**
   * Checks one chatroom_history row against the expected JSON text: compact, same key
   * order, timestamp in seconds equal to the timestamp column, room (and sub room).
   */
  assertStored(row, expectedText, { room = ROOM, sub = 0 } = {}) {
    if (typeof expectedText !== 'string') return this.assertStoredNotice(row, expectedText, { room, sub });
    this.assertStoredRow(row, room, sub);
    const m = /"timestamp":(-?\d+)/.exec(row.message || '');
    assert.ok(m, `stored JSON has a numeric timestamp: ${row.message}`);
    assert.equal(Number(m[1]), row.timestamp, `JSON timestamp (seconds) = column: ${row.message}`);
    assert.equal(row.message.replace(/"timestamp":-?\d+/, '"timestamp":«TS»'), expectedText);
  }

  /** A stored notice: compact JSON equal (as an object) to `expected`, timestamps in seconds. */
  assertStoredNotice(row, expected, { room = ROOM, sub = 0 } = {}) {
    this.assertStoredRow(row, room, sub);
    const parsed = JSON.parse(row.message);
    assert.equal(JSON.stringify(parsed), row.message, 'stored JSON is compact');
    assert.equal(parsed.timestamp, row.timestamp, `JSON timestamp (seconds) = column: ${row.message}`);
    assertMatch(parsed, expected, `stored notice ${row.message}`);
  }
}

export class Browser extends RecordingBrowser {
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
