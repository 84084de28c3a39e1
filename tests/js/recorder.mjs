// Shared pieces of the IM and chat-room end-to-end tests (im-helpers.mjs,
// room-helpers.mjs): matchers for expected values, "browsers" (socket.io clients that
// record every event they receive) and a per-test context that owns the database, the
// server (harness.startServer) and the browsers, and asserts the complete list of
// events per socket — including that a socket received nothing it should not.

import assert from 'node:assert/strict';
import { test as nodeTest } from 'node:test';

import { httpRequest, sleep } from './harness.mjs';

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

/** A non-empty string (e.g. the `reason` of a failure). */
export const NONEMPTY_STRING = new Matcher('non-empty string', (v) => typeof v === 'string' && v.length > 0);

export const oneOf = (...values) =>
  new Matcher(`one of ${JSON.stringify(values)}`, (v) => values.some((x) => Object.is(x, v)));

/**
 * Walks `expected` and `actual` together; a Matcher in `expected` that accepts the
 * actual value turns both sides into the matcher's label; an Optional key absent from
 * `actual` is dropped. Returns [actual', expected'] for assert.deepStrictEqual, so a
 * failure shows a normal diff.
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

/** `v` with every Matcher/Optional replaced by what a failure message shows for it. */
export function plain(v) {
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

/** An expected event: name and its argument list (no payload → []). */
export function ev(event, ...args) {
  return { event, args };
}

// ---------------------------------------------------------------------------
// Browsers
// ---------------------------------------------------------------------------

/**
 * A socket.io client that records every event: `events` (consumed by the context's
 * `expect`/`settle`) and `all` (the whole life of the socket). A disconnect the test
 * did not ask for is recorded as the event `(disconnect)`.
 */
export class RecordingBrowser {
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

  close() {
    this.closedByTest = true;
    this.socket.close();
  }
}

// ---------------------------------------------------------------------------
// Per-test context
// ---------------------------------------------------------------------------

/**
 * Database, server and browsers of one test. Subclasses set `server` (a
 * harness.startServer handle) and call `addBrowser`; `name`/`auth` are the client's
 * name and Basic-auth pair, the defaults of `backend`.
 */
export class RecorderContext {
  constructor(db, generation, { name, auth }) {
    this.db = db;
    this.gen = generation;
    this.name = name;
    this.auth = auth;
    this.server = null;
    this.browsers = [];
    this.closed = false;
  }

  get base() {
    return this.server.baseUrl;
  }

  /** The end of the server log plus every warning/error line. */
  logTail(lines = 60) {
    return this.server.logTail(lines);
  }

  /** Closes every browser, stops the server (keeping its dir if `failed`), drops the database. */
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
    if (this.server) await this.server.stop({ failed });
    await this.db.drop();
  }

  // ----- database -----

  query(sql, params) {
    return this.db.query(sql, params);
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

  // ----- HTTP backend -----

  /**
   * GET /backend/<action>/<ns>/<segments...> with the client's Basic auth (or `auth`:
   * null = none, [k, s] = other). Resolves {status, headers, body, json}.
   */
  backend(action, segments = [], { auth = this.auth, ns = this.name, query = '' } = {}) {
    const p = [action, ns, ...segments.map((s) => encodeURIComponent(String(s)))].join('/');
    return this.rawGet(`/backend/${p}${query}`, auth);
  }

  /** GET `pathAndQuery` as ILIAS PHP sends it; resolves {status, headers, body, json}. */
  async rawGet(pathAndQuery, auth = this.auth) {
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

  // ----- browsers -----

  addBrowser(b) {
    this.browsers.push(b);
    return b;
  }

  /** The browsers of a user `{tabs}` that `expect` asserts. */
  tabsOf(user) {
    return user.tabs;
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
   * of [browser | user (its tabs, see `tabsOf`), [expected events]]; every other open
   * browser must have received nothing. Waits until each has at least the expected
   * number, then `quietMs` for stragglers; clears the recorders. `unordered`: compare
   * the events of each browser sorted by event name and payload id (for conversation
   * lists).
   */
  async expect(expectations, { quietMs = 250, timeoutMs = 5000, message = '', unordered = false } = {}) {
    const map = new Map();
    for (const [who, list] of expectations) {
      const targets = who instanceof RecordingBrowser ? [who] : this.tabsOf(who);
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
        const brief = got.map((g) => `${g.event} ${JSON.stringify(g.args)}`).join('\n    ');
        failures.push(`${b.label}: ${err.message}\n  ${b.label} received:\n    ${brief || '(nothing)'}`);
      }
    }
    if (failures.length) assert.fail(`${message ? message + ': ' : ''}unexpected events\n${failures.join('\n')}`);
  }
}

/**
 * node:test test around a context: `create()` resolves a RecorderContext (its database
 * made, nothing started), then `ctx.start()` and `fn(ctx, t)` run. Failures carry the
 * server's log tail; the context is always closed (its server dir kept when the test
 * failed).
 */
export function contextTest(name, { timeout, skip, todo }, create, fn) {
  return nodeTest(name, { timeout, skip, todo }, async (t) => {
    const ctx = await create();
    let failed = true;
    try {
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
