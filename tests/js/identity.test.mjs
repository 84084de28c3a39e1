// Verified identity (client.cfg `verify_session`, docs/verified-identity.md), end to end:
// the real binary, a MariaDB with ILIAS' `usr_session` table, and the socket.io client
// ILIAS 9 ships, passing the ILIAS cookies in the handshake as a browser on the ILIAS
// origin does (node's client sends them with `extraHeaders`).
//
// strict: a session of user 101 binds both namespaces to 101 (a login as 102 is refused,
// nothing can be sent as 102); no cookie, an expired, flagged-expired, anonymous, unknown,
// malformed or other-client session → connect_error. lenient: those are let in
// unverified (logged), a valid session still binds. off (the default): nothing changes.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { clientCfg, connect, createTestDb, freePort, httpRequest, serverCfg, sleep, startServer, test } from './harness.mjs';
import { RecordingBrowser } from './recorder.mjs';

const NAME = 'ilident';
const KEY = 'vk-5d1e7a20';
const SECRET = 'vs-9b3f44c8';
const ROOM = 7;
const ALICE = { id: 101, name: 'alice' };
const BOB = { id: 102, name: 'bob' };
const REFUSED = 'not authorized: no valid ILIAS session';

const sid = () => crypto.randomBytes(13).toString('hex');

/** PHP-serialised session data of a logged-in user, as ilAuthSession leaves it. */
const loggedIn = (user, expired = 0) =>
  `_authsession_authenticated|b:1;_authsession_user_id|i:${user};_authsession_expired|i:${expired};SessionType|i:1;`;

/**
 * A database with room 7 and these sessions, and a server whose client.cfg has
 * `overrides`. Returns the context; `close()` in `finally`.
 */
async function start(overrides) {
  const db = await createTestDb(9);
  const now = Math.floor(Date.now() / 1000);
  await db.query(
    "INSERT INTO chatroom_settings (room_id, object_id, room_type, enable_history) VALUES (?, ?, 'repository', 1)",
    [ROOM, 1000 + ROOM],
  );
  const sessions = {
    alice: sid(),
    bob: sid(),
    expired: sid(),
    flagged: sid(),
    anonymous: sid(),
    loggedOut: sid(),
  };
  const rows = [
    [sessions.alice, now + 1800, loggedIn(101), 101],
    [sessions.bob, now + 1800, loggedIn(102), 102],
    // `expires` in the past: ILIAS' cron/GC has not removed it yet.
    [sessions.expired, now - 60, loggedIn(101), 101],
    // Expired by ILIAS' flag; `expires` was refreshed by the request that noticed.
    [sessions.flagged, now + 1800, loggedIn(101, 1), 101],
    // Public section visitor and a session nobody logged in with (user_id 0).
    [sessions.anonymous, now + 1800, '_authsession_authenticated|b:1;_authsession_user_id|i:13;', 13],
    [sessions.loggedOut, now + 1800, '', 0],
  ];
  for (const [id, expires, data, user] of rows) {
    await db.query(
      'INSERT INTO usr_session (session_id, expires, data, ctime, user_id, type, createtime, context) VALUES (?, ?, ?, ?, ?, 1, ?, ?)',
      [id, expires, data, now, user, now - 600, 'ilContextWeb'],
    );
  }
  let server;
  try {
    server = await startServer(serverCfg(await freePort()), [clientCfg(NAME, KEY, SECRET, db, overrides)], {
      dirPrefix: 'ilias-chat-ident-',
    });
  } catch (e) {
    await db.drop();
    throw e;
  }
  const ctx = {
    db,
    server,
    sessions,
    sockets: [],
    log: () => server.stderr() + server.stdout(),
    async waitLog(re, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(ctx.log())) {
        if (Date.now() > deadline) assert.fail(`no log line matching ${re} within ${timeoutMs} ms`);
        await sleep(20);
      }
    },
    cookie: (session, client = NAME) => `PHPSESSID=${session}; ilClientId=${client}; il_lang=en`,
    /** A recording browser on `/<NAME>` (room) or `/<NAME>-im`, sending `cookie`. */
    async browser(ns, label, cookie, { transports = ['websocket'] } = {}) {
      const extraHeaders = cookie ? { Cookie: cookie } : {};
      const socket = await connect(server.baseUrl, ns, { transports, extraHeaders });
      ctx.sockets.push(socket);
      return new RecordingBrowser(ctx, label, socket);
    },
    /** The connect_error a handshake with `cookie` gets (fails if it connects). */
    async refused(ns, cookie) {
      const extraHeaders = cookie ? { Cookie: cookie } : {};
      try {
        const socket = await connect(server.baseUrl, ns, { transports: ['websocket'], extraHeaders });
        ctx.sockets.push(socket);
      } catch (e) {
        return e.message;
      }
      assert.fail(`${ns} with cookie ${JSON.stringify(cookie)} connected`);
    },
    async backend(action, ...segments) {
      const url = `${server.baseUrl}/backend/${action}/${NAME}/${segments.join('/')}`;
      const r = await httpRequest(url, { auth: [KEY, SECRET], headers: { 'Content-Type': 'application/json' } });
      assert.equal(r.status, 200, `${action}: ${r.body}`);
      return r.body;
    },
    async close() {
      for (const s of ctx.sockets) s.close();
      await server.stop();
      await db.drop();
    },
  };
  // A handshake before the database is connected finds no session: wait for it.
  await ctx.waitLog(/database connected/, 20000);
  return ctx;
}

const names = (b) => b.all.map((e) => e.event);
const count = (b, name) => b.all.filter((e) => e.event === name).length;

/** Waits until `b` recorded an event matching `pred`; returns its payload. */
async function waitPayload(b, name, pred = () => true, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = b.all.find((e) => e.event === name && pred(e.args[0]));
    if (hit) return hit.args[0];
    if (Date.now() > deadline) assert.fail(`${b.label}: no matching '${name}'; got ${JSON.stringify(b.all)}`);
    await sleep(10);
  }
}

test('strict: a session of user 101 binds the chat-room namespace; login or speaking as 102 is refused', { timeout: 60000 }, async () => {
  const ctx = await start({ verify_session: 'strict' });
  try {
    for (const user of [ALICE, BOB]) {
      await ctx.backend('Connect', ROOM, user.id);
      await ctx.backend('EnterPrivateRoom', ROOM, user.id);
    }
    // Bob, verified by his own session, listens in the room.
    const bob = await ctx.browser(`/${NAME}`, 'bob', ctx.cookie(ctx.sessions.bob));
    bob.emit('login', BOB.name, BOB.id);
    await bob.waitFor('loggedIn');
    bob.emit('enterRoom', ROOM);
    await bob.waitFor('private_room_entered');

    // Alice's browser (polling first, as browsers start) tries to be Bob, and to speak
    // in the room before any accepted login; then does what her session allows.
    const alice = await ctx.browser(`/${NAME}`, 'alice', ctx.cookie(ctx.sessions.alice), {
      transports: ['polling', 'websocket'],
    });
    alice.emit('login', BOB.name, BOB.id);
    alice.emit('enterRoom', ROOM);
    alice.emit('message', { content: 'forged', format: {} }, ROOM);
    alice.emit('login', ALICE.name, ALICE.id);
    alice.emit('enterRoom', ROOM);
    alice.emit('message', { content: 'real', format: {} }, ROOM);

    const real = await waitPayload(bob, 'message', (m) => m.content === 'real');
    assert.equal(real.from.id, ALICE.id, `the message is Alice's: ${JSON.stringify(real)}`);
    // The events of one socket are handled in order: had the first login or message
    // been accepted, its results would have arrived before these.
    assert.equal(count(alice, 'loggedIn'), 1, `alice: ${JSON.stringify(names(alice))}`);
    const forged = bob.all.filter((e) => e.event === 'message' && e.args[0].content === 'forged');
    assert.deepEqual(forged, [], 'nothing was said before the accepted login');
    const entered = alice.all.filter((e) => e.event === 'private_room_entered');
    assert.equal(entered.length, 1, `alice entered once: ${JSON.stringify(entered)}`);
    assert.equal(entered[0].args[0].subscriber.id, ALICE.id);
    await ctx.waitLog(/login as user 102 refused: the socket's ILIAS session belongs to user 101/);
  } finally {
    await ctx.close();
  }
});

test('strict: a session of user 101 binds the on-screen chat; login or messages as 102 are refused', { timeout: 60000 }, async () => {
  const ctx = await start({ verify_session: 'strict' });
  try {
    const ns = `/${NAME}-im`;
    const bob = await ctx.browser(ns, 'bob', ctx.cookie(ctx.sessions.bob));
    bob.emit('login', BOB.id, BOB.name);
    await bob.waitFor('login');

    const alice = await ctx.browser(ns, 'alice', ctx.cookie(ctx.sessions.alice));
    alice.emit('login', BOB.id, BOB.name);
    alice.emit('login', ALICE.id, ALICE.name);
    const me = await waitPayload(alice, 'login');
    assert.equal(me.id, ALICE.id, `alice is logged in as herself: ${JSON.stringify(me)}`);
    assert.equal(count(alice, 'login'), 1, `one accepted login: ${JSON.stringify(names(alice))}`);
    await ctx.waitLog(/login as user 102 refused: the socket's ILIAS session belongs to user 101/);

    alice.emit('conversation', [
      { id: ALICE.id, name: ALICE.name },
      { id: BOB.id, name: BOB.name },
    ]);
    const conv = await waitPayload(alice, 'conversation-init');
    alice.emit('message', conv.id, BOB.id, 'forged');
    alice.emit('message', conv.id, ALICE.id, 'real');
    const real = await waitPayload(bob, 'message', (m) => m.message === 'real');
    assert.equal(real.userId, ALICE.id);
    const forged = [...bob.all, ...alice.all].filter((e) => e.event === 'message' && e.args[0].message === 'forged');
    assert.deepEqual(forged, [], 'the message as 102 was not delivered');
    const stored = await ctx.db.query('SELECT user_id, message FROM osc_messages ORDER BY timestamp');
    assert.ok(stored.every((r) => r.message !== 'forged'), `stored: ${JSON.stringify(stored)}`);
  } finally {
    await ctx.close();
  }
});

test('strict: no cookie, an expired, anonymous, unknown, malformed or other-client session is refused in both namespaces', { timeout: 60000 }, async () => {
  const ctx = await start({ verify_session: 'strict' });
  try {
    const s = ctx.sessions;
    const cases = [
      ['no cookie', null, /no PHPSESSID cookie/],
      ['no session cookie', 'il_lang=en; ilClientId=ilident', /no PHPSESSID cookie/],
      ['expired', ctx.cookie(s.expired), /no live session/],
      ['flagged expired by ILIAS', ctx.cookie(s.flagged), /no live session/],
      ['anonymous (13)', ctx.cookie(s.anonymous), /no live session/],
      ['nobody logged in (0)', ctx.cookie(s.loggedOut), /no live session/],
      ['unknown id', ctx.cookie(sid()), /no live session/],
      ['malformed id', `PHPSESSID=${s.alice}'x; ilClientId=${NAME}`, /is not a PHP session id/],
      ['another ILIAS client', ctx.cookie(s.alice, 'otherclient'), /names another ILIAS client/],
    ];
    for (const ns of [`/${NAME}`, `/${NAME}-im`]) {
      for (const [what, cookie, reason] of cases) {
        const before = ctx.log().length;
        assert.equal(await ctx.refused(ns, cookie), REFUSED, `${ns}, ${what}`);
        const line = new RegExp(`connection refused \\(verify_session strict\\): .*${reason.source}`);
        await ctx.waitLog({ test: () => line.test(ctx.log().slice(before)) });
      }
    }
    // The same server still admits a valid session (refusals leave nothing behind).
    const alice = await ctx.browser(`/${NAME}-im`, 'alice', ctx.cookie(s.alice));
    alice.emit('login', ALICE.id, ALICE.name);
    await alice.waitFor('login');
    // Without ilClientId (a proxy path the cookie does not cover) the session decides.
    const noClient = await ctx.browser(`/${NAME}`, 'alice2', `PHPSESSID=${s.alice}`);
    noClient.emit('login', ALICE.name, ALICE.id);
    await ctx.backend('Connect', ROOM, ALICE.id);
    noClient.emit('login', ALICE.name, ALICE.id);
    await noClient.waitFor('loggedIn');
  } finally {
    await ctx.close();
  }
});

test('lenient: browsers without a valid session are let in unverified and logged; a valid session still binds', { timeout: 60000 }, async () => {
  const ctx = await start({ verify_session: 'lenient' });
  try {
    await ctx.backend('Connect', ROOM, BOB.id);
    const anon = await ctx.browser(`/${NAME}`, 'no cookie', null);
    anon.emit('login', BOB.name, BOB.id);
    await anon.waitFor('loggedIn');
    await ctx.waitLog(/socket accepted unverified \(verify_session lenient\): no PHPSESSID cookie/);

    const expired = await ctx.browser(`/${NAME}-im`, 'expired', ctx.cookie(ctx.sessions.expired));
    expired.emit('login', BOB.id, BOB.name);
    await expired.waitFor('login');
    await ctx.waitLog(/socket accepted unverified \(verify_session lenient\): no live session/);

    const alice = await ctx.browser(`/${NAME}-im`, 'alice', ctx.cookie(ctx.sessions.alice));
    alice.emit('login', BOB.id, BOB.name);
    alice.emit('login', ALICE.id, ALICE.name);
    const me = await waitPayload(alice, 'login');
    assert.equal(me.id, ALICE.id);
    assert.equal(count(alice, 'login'), 1, `alice: ${JSON.stringify(names(alice))}`);
    await ctx.waitLog(/login as user 102 refused/);
  } finally {
    await ctx.close();
  }
});

test('off (the default): the handshake is not checked and login is believed, as before', { timeout: 60000 }, async () => {
  const ctx = await start({});
  try {
    await ctx.backend('Connect', ROOM, BOB.id);
    const anon = await ctx.browser(`/${NAME}`, 'no cookie', null);
    anon.emit('login', BOB.name, BOB.id);
    await anon.waitFor('loggedIn');
    const alice = await ctx.browser(`/${NAME}-im`, 'alice', ctx.cookie(ctx.sessions.alice));
    alice.emit('login', BOB.id, BOB.name);
    const me = await waitPayload(alice, 'login');
    assert.equal(me.id, BOB.id);
    assert.doesNotMatch(ctx.log(), /verify_session|ILIAS sessions? (looked up|verified)|socket bound/);
  } finally {
    await ctx.close();
  }
});
