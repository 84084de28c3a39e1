// Process lifecycle of ilias-chat with real socket.io clients connected:
//
// * SIGHUP re-reads every client config (and re-expands directory and glob arguments):
//   a new file adds a client (namespaces /<name> and /<name>-im, backend routes), a
//   removed file removes one (its sockets get `shutdown` and are disconnected, its routes
//   answer 403), a changed auth.secret takes effect, and a broken file (invalid JSON or
//   a bad key) changes nothing and is logged with its name and key. Throughout, the
//   sockets of another, unchanged client stay connected and keep exchanging messages.
// * SIGTERM with polling-only and websocket clients: every socket receives `shutdown`,
//   chatroom_users rows move to chatroom_sessions, messages sent just before are in
//   chatroom_history, exit code 0 within a few seconds.
//
// As root (CI), the daemon is started with `--user <throwaway system user>`, so it drops
// privileges and must re-read the configs on SIGHUP as that user.
//
//   cargo build && ILIAS_CHAT_BIN=target/debug/ilias-chat \
//     node --test --test-concurrency=1 tests/js/lifecycle.test.mjs

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  clientCfg,
  connect,
  createTestDb,
  expectConnectError,
  freePort,
  httpRequest,
  requireServerBinary,
  serverCfg,
  serverEnv,
  sleep,
  tempDir,
} from './harness.mjs';

const KEEP = process.env.ILIAS_CHAT_TEST_KEEP === '1';
const ROOM = 7;
const ACCESS_DENIED = { status: 403, message: 'Access denied' };
const TIMEOUT = 120000;

// ---------------------------------------------------------------------------
// A throwaway service user when running as root
// ---------------------------------------------------------------------------

let scratchUser = null;

function run(cmd, args) {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 }).toString();
  } catch (e) {
    if (e.code === 'ENOENT') {
      throw new Error(`\`${cmd}\` is missing: install the Debian package \`passwd\``);
    }
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr || e.message}`);
  }
}

before(async () => {
  if (process.getuid?.() !== 0) return;
  const name = `ilchat_t${crypto.randomBytes(4).toString('hex')}`;
  for (let attempt = 0; ; attempt++) {
    try {
      run('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--user-group', name]);
      break;
    } catch (e) {
      // Another useradd holding /etc/passwd's lock: retry for a while.
      if (attempt > 50 || /missing/.test(e.message)) throw e;
      await sleep(100 + Math.random() * 200);
    }
  }
  scratchUser = name;
});

after(async () => {
  if (!scratchUser) return;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      run('userdel', [scratchUser]);
      break;
    } catch (e) {
      if (/does not exist/.test(e.message)) break;
      await sleep(100 + Math.random() * 200);
    }
  }
  try {
    run('getent', ['group', scratchUser]);
    run('groupdel', [scratchUser]);
  } catch {
    /* the group went with the user */
  }
});

// ---------------------------------------------------------------------------
// Per-test context: configs in a temp dir, databases, the daemon, browsers
// ---------------------------------------------------------------------------

class Ctx {
  constructor() {
    this.dir = tempDir('ilias-chat-js-life-');
    // mkdtemp makes 0700; the daemon re-reads configs here after dropping root.
    fs.chmodSync(this.dir, 0o755);
    this.dbs = [];
    this.browsers = [];
    this.server = null;
  }

  /** A database (ILIAS 9 schema) with chat room ROOM. */
  async db() {
    const db = await createTestDb(9);
    this.dbs.push(db);
    await db.query(
      "INSERT INTO chatroom_settings (room_id, object_id, room_type, enable_history) VALUES (?, ?, 'repository', 1)",
      [ROOM, 1000 + ROOM],
    );
    return db;
  }

  /** Writes a client config (object, or raw text) at `rel` inside the temp dir. */
  write(rel, cfg) {
    const p = path.join(this.dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o755 });
    fs.writeFileSync(p, typeof cfg === 'string' ? cfg : JSON.stringify(cfg, null, 4) + '\n');
    return p;
  }

  /** Starts the daemon with `clientArgs` and waits for Heartbeat. */
  async start(clientArgs, { serverOverrides = {}, probe = 'alpha', timeoutMs = 30000 } = {}) {
    const bin = requireServerBinary();
    const port = await freePort();
    const serverPath = this.write('server.cfg', serverCfg(port, serverOverrides));
    this.stderrPath = path.join(this.dir, 'stderr.log');
    this.stdoutPath = path.join(this.dir, 'stdout.log');
    const out = fs.openSync(this.stdoutPath, 'w');
    const err = fs.openSync(this.stderrPath, 'w');
    const userArgs = scratchUser ? ['--user', scratchUser] : [];
    const child = spawn(bin, [...userArgs, serverPath, ...clientArgs], {
      cwd: this.dir,
      stdio: ['ignore', out, err],
      env: serverEnv(),
    });
    fs.closeSync(out);
    fs.closeSync(err);
    const server = { child, port, base: `http://127.0.0.1:${port}`, exited: null };
    server.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => resolve((server.exited = { code, signal, at: Date.now() })));
      child.on('error', (error) => resolve((server.exited = { error, at: Date.now() })));
    });
    this.server = server;
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (server.exited) throw new Error(`ilias-chat exited during startup: ${JSON.stringify(server.exited)}`);
      try {
        const r = await httpRequest(`${server.base}/backend/Heartbeat/${probe}`, { timeoutMs: 2000 });
        if (r.status === 200) break;
        last = `HTTP ${r.status} ${r.body}`;
      } catch (e) {
        last = e.message;
      }
      if (Date.now() > deadline) throw new Error(`no Heartbeat within ${timeoutMs} ms (last: ${last})`);
      await sleep(100);
    }
    return server;
  }

  get base() {
    return this.server.base;
  }

  signal(sig) {
    process.kill(this.server.child.pid, sig);
  }

  stderr() {
    try {
      return fs.readFileSync(this.stderrPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** Waits until the daemon's stderr (from byte `from` on) satisfies `pred`. */
  async waitStderr(from, pred, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.stderr().slice(from);
      if (pred(text)) return text;
      if (Date.now() > deadline) return null;
      await sleep(50);
    }
  }

  /** GET /backend/<action>/<name>/<segments…> with Basic auth; {status, body, json}. */
  async backend(action, name, segments, auth) {
    const p = [action, name, ...segments.map((s) => encodeURIComponent(String(s)))].join('/');
    const r = await httpRequest(`${this.base}/backend/${p}`, {
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      auth,
    });
    let json;
    try {
      json = JSON.parse(r.body);
    } catch {
      json = undefined;
    }
    return { ...r, json };
  }

  /** Polls a backend call until `pred(response)` holds; returns it or fails. */
  async pollBackend(what, args, pred, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    let r;
    for (;;) {
      r = await this.backend(...args);
      if (pred(r)) return r;
      if (Date.now() > deadline) assert.fail(`${what}: last answer HTTP ${r.status} ${r.body}`);
      await sleep(100);
    }
  }

  /**
   * Waits until client `name` lists room ROOM (GetRooms): its database is connected in
   * the background after the start or a reload, and rooms come from there.
   */
  async waitRooms(name, auth) {
    await this.pollBackend(
      `GetRooms/${name} must list room ${ROOM}_0 from ${name}'s database`,
      ['GetRooms', name, [], auth],
      (r) => r.json && r.json.rooms && `${ROOM}_0` in r.json.rooms,
    );
  }

  /** A socket.io client of `namespace` recording every event (and its disconnect). */
  async browser(label, namespace, opts = {}) {
    const socket = await connect(this.base, namespace, { transports: ['websocket'], ...opts });
    const b = { label, socket, events: [], namespace };
    socket.onAny((event, ...args) => b.events.push({ event, args }));
    socket.on('disconnect', (reason) => b.events.push({ event: '(disconnect)', args: [reason] }));
    this.browsers.push(b);
    return b;
  }

  /**
   * The ILIAS chat-room flow for one user of client `name`: PHP's Connect and
   * EnterPrivateRoom, then the browser's login → loggedIn and enterRoom.
   */
  async join(name, auth, userId, userName, opts = {}) {
    await this.waitRooms(name, auth);
    const c = await this.backend('Connect', name, [ROOM, userId], auth);
    assert.deepEqual(c.json, { status: 200 }, `Connect/${name}/${ROOM}/${userId}: ${c.body}`);
    const e = await this.backend('EnterPrivateRoom', name, [ROOM, userId], auth);
    assert.deepEqual(e.json, { success: true }, `EnterPrivateRoom/${name}/${ROOM}/${userId}: ${e.body}`);
    const b = await this.browser(`${userName}@${name}`, `/${name}`, opts);
    b.socket.emit('login', userName, userId);
    await waitEvent(b, (ev) => ev.event === 'loggedIn', `${b.label}: loggedIn`);
    b.socket.emit('enterRoom', ROOM);
    await waitEvent(b, (ev) => ev.event === 'private_room_entered', `${b.label}: private_room_entered`);
    return b;
  }

  async close(failed) {
    for (const b of this.browsers) {
      try {
        b.socket.close();
      } catch {
        /* ignore */
      }
    }
    if (this.server && !this.server.exited) {
      this.server.child.kill('SIGKILL');
      await Promise.race([this.server.exitPromise, sleep(5000)]);
    }
    if (failed || KEEP) console.error(`keeping ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
    for (const db of this.dbs) await db.drop().catch(() => {});
  }

  logTail(n = 60) {
    const lines = this.stderr().split('\n');
    return `----- ilias-chat stderr (${this.stderrPath}), last ${n} lines -----\n${lines.slice(-n).join('\n')}\n----- end -----`;
  }
}

/** Waits until `b` recorded an event matching `pred` (does not consume it). */
async function waitEvent(b, pred, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = b.events.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) {
      assert.fail(`${what}: not within ${timeoutMs} ms; ${b.label} got ${JSON.stringify(b.events.map((e) => e.event))}`);
    }
    await sleep(10);
  }
}

/** A room message from `from`, which `to` must receive. */
async function exchange(from, to, text) {
  from.socket.emit('message', { content: text, format: {} }, ROOM);
  await waitEvent(
    to,
    (ev) => ev.event === 'message' && ev.args[0] && ev.args[0].content === text,
    `${to.label} receives ${JSON.stringify(text)} from ${from.label}`,
  );
}

/** Neither disconnected nor told to shut down, still connected, still chatting. */
async function assertUnaffected(a, b, tag) {
  for (const x of [a, b]) {
    const bad = x.events.filter((e) => e.event === '(disconnect)' || e.event === 'shutdown');
    assert.deepEqual(bad, [], `${x.label} (an unchanged client) must not be disconnected by the reload (${tag})`);
    assert.ok(x.socket.connected, `${x.label} still connected (${tag})`);
  }
  await exchange(a, b, `${tag}: ${a.label} → ${b.label}`);
  await exchange(b, a, `${tag}: ${b.label} → ${a.label}`);
}

/** node:test test with a fresh context; failures carry the daemon's log tail. */
function lifecycleTest(name, fn) {
  return test(name, { timeout: TIMEOUT }, async () => {
    const ctx = new Ctx();
    let failed = true;
    try {
      await fn(ctx);
      failed = false;
    } catch (e) {
      try {
        e.message = `${e.message}\n${ctx.logTail()}`;
      } catch {
        /* frozen */
      }
      throw e;
    } finally {
      await ctx.close(failed);
    }
  });
}

const ALPHA = ['ka', 'sa'];
const BETA = ['kb', 'sb'];

/** alpha's two users in room ROOM, chatting over websocket. */
async function alphaUsers(ctx) {
  const a = await ctx.join('alpha', ALPHA, 1001, 'anna');
  const b = await ctx.join('alpha', ALPHA, 1002, 'bert');
  await exchange(a, b, 'before the reload');
  return [a, b];
}

// ---------------------------------------------------------------------------
// SIGHUP
// ---------------------------------------------------------------------------

lifecycleTest('SIGHUP adds the client of a new file matched by a glob argument', async (ctx) => {
  const alphaDb = await ctx.db();
  const betaDb = await ctx.db();
  ctx.write('clients/alpha.cfg', clientCfg('alpha', ...ALPHA, alphaDb));
  // Passed literally (as systemd passes ExecStart= arguments): the daemon expands it.
  await ctx.start([path.join(ctx.dir, 'clients', '*.cfg')]);
  const [a, b] = await alphaUsers(ctx);

  const unknown = await ctx.backend('Connect', 'beta', [ROOM, 2001], BETA);
  assert.deepEqual(unknown.json, ACCESS_DENIED, `beta is not configured yet: ${unknown.body}`);
  await expectConnectError(ctx.base, '/beta', { transports: ['websocket'] });

  ctx.write('clients/beta.cfg', clientCfg('beta', ...BETA, betaDb));
  ctx.write('clients/beta.cfg.dpkg-dist', '{ not loaded');
  ctx.signal('SIGHUP');
  await ctx.pollBackend(
    'after SIGHUP, Connect/beta with beta\'s credentials must answer {"status":200}',
    ['Connect', 'beta', [ROOM, 2001], BETA],
    (r) => r.json && r.json.status === 200,
  );
  const c = await ctx.join('beta', BETA, 2001, 'carl');
  const im = await ctx.browser('beta-im', '/beta-im');
  assert.ok(c.socket.connected && im.socket.connected, 'both namespaces of the new client are live');
  await assertUnaffected(a, b, 'after adding beta');
});

lifecycleTest('SIGHUP removes the client of a deleted file of a directory argument', async (ctx) => {
  const alphaDb = await ctx.db();
  const betaDb = await ctx.db();
  ctx.write('clients/alpha.cfg', clientCfg('alpha', ...ALPHA, alphaDb));
  const betaFile = ctx.write('clients/beta.cfg', clientCfg('beta', ...BETA, betaDb));
  await ctx.start([path.join(ctx.dir, 'clients')]);
  const [a, b] = await alphaUsers(ctx);
  const room = await ctx.join('beta', BETA, 2001, 'carl');
  const im = await ctx.browser('beta-im (polling)', '/beta-im', { transports: ['polling'] });

  fs.rmSync(betaFile);
  ctx.signal('SIGHUP');
  for (const x of [room, im]) {
    await waitEvent(x, (e) => e.event === 'shutdown', `${x.label}: 'shutdown' after its client was removed`);
  }
  // Then the server disconnects them (socket.io DISCONNECT → 'io server disconnect').
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline && [room, im].some((x) => !x.events.some((e) => e.event === '(disconnect)'))) {
    await sleep(20);
  }
  const stillConnected = [room, im]
    .filter((x) => !x.events.some((e) => e.event === '(disconnect)'))
    .map((x) => `${x.label} (connected=${x.socket.connected}, events ${JSON.stringify(x.events.map((e) => e.event))})`);
  assert.deepEqual(stillConnected, [], 'the removed client\'s sockets must be disconnected within 10 s of the reload');
  const r = await ctx.backend('Connect', 'beta', [ROOM, 2002], BETA);
  assert.ok(
    r.status === 403 || (r.json && r.json.status === 403),
    `the removed client's backend routes must answer 403, got HTTP ${r.status} ${r.body}`,
  );
  await expectConnectError(ctx.base, '/beta', { transports: ['websocket'] });
  await assertUnaffected(a, b, 'after removing beta');
});

lifecycleTest('SIGHUP applies a changed auth.secret', async (ctx) => {
  const alphaDb = await ctx.db();
  const betaDb = await ctx.db();
  const alphaFile = ctx.write('alpha.cfg', clientCfg('alpha', ...ALPHA, alphaDb));
  const betaFile = ctx.write('beta.cfg', clientCfg('beta', ...BETA, betaDb));
  await ctx.start([alphaFile, betaFile]);
  const [a, b] = await alphaUsers(ctx);
  const before = await ctx.backend('Connect', 'beta', [ROOM, 2001], BETA);
  assert.deepEqual(before.json, { status: 200 });

  ctx.write('beta.cfg', clientCfg('beta', 'kb', 'sb-new', betaDb));
  ctx.signal('SIGHUP');
  await ctx.pollBackend(
    'after SIGHUP the new secret must work',
    ['Connect', 'beta', [ROOM, 2001], ['kb', 'sb-new']],
    (r) => r.json && r.json.status === 200,
  );
  const old = await ctx.backend('Connect', 'beta', [ROOM, 2001], BETA);
  assert.deepEqual(old.json, ACCESS_DENIED, `the old secret must be refused: HTTP ${old.status} ${old.body}`);
  await assertUnaffected(a, b, 'after changing beta\'s secret');
});

lifecycleTest('SIGHUP with a broken config keeps the old state and names the file and key', async (ctx) => {
  const alphaDb = await ctx.db();
  const betaDb = await ctx.db();
  const gammaDb = await ctx.db();
  ctx.write('clients/alpha.cfg', clientCfg('alpha', ...ALPHA, alphaDb));
  ctx.write('clients/beta.cfg', clientCfg('beta', ...BETA, betaDb));
  await ctx.start([path.join(ctx.dir, 'clients')]);
  const [a, b] = await alphaUsers(ctx);
  const c = await ctx.join('beta', BETA, 2001, 'carl');

  // 1. Invalid JSON.
  let from = ctx.stderr().length;
  ctx.write('clients/beta.cfg', '{"name": "beta", "auth": ');
  ctx.signal('SIGHUP');
  const logged = await ctx.waitStderr(from, (t) => t.includes('beta.cfg'));
  assert.ok(logged !== null, 'a reload with invalid JSON in beta.cfg must log an error naming beta.cfg');
  assert.match(logged, /ERROR|error/, `logged as an error: ${logged}`);
  const still = await ctx.backend('Connect', 'beta', [ROOM, 2002], BETA);
  assert.deepEqual(still.json, { status: 200 }, `beta keeps its old configuration: ${still.body}`);
  assert.deepEqual(c.events.filter((e) => e.event === '(disconnect)' || e.event === 'shutdown'), [], 'beta\'s socket stays');
  await assertUnaffected(a, b, 'after the invalid JSON');

  // 2. Valid JSON, a bad key — together with a changed secret and a new valid file:
  //    none of it may be applied.
  from = ctx.stderr().length;
  ctx.write('clients/beta.cfg', { ...clientCfg('beta', 'kb', 'sb-new', betaDb), ilias_version: 'seven' });
  ctx.write('clients/gamma.cfg', clientCfg('gamma', 'kg', 'sg', gammaDb));
  ctx.signal('SIGHUP');
  const logged2 = await ctx.waitStderr(from, (t) => t.includes('beta.cfg') && t.includes('ilias_version'));
  assert.ok(logged2 !== null, `the failed reload must log beta.cfg and the bad key ilias_version; got:\n${ctx.stderr().slice(from)}`);
  const oldSecret = await ctx.backend('Connect', 'beta', [ROOM, 2003], BETA);
  assert.deepEqual(oldSecret.json, { status: 200 }, `the old secret still works: ${oldSecret.body}`);
  const newSecret = await ctx.backend('Connect', 'beta', [ROOM, 2003], ['kb', 'sb-new']);
  assert.deepEqual(newSecret.json, ACCESS_DENIED, `the new secret is not applied: ${newSecret.body}`);
  const gamma = await ctx.backend('Connect', 'gamma', [ROOM, 3001], ['kg', 'sg']);
  assert.deepEqual(gamma.json, ACCESS_DENIED, `gamma is not added by a failed reload: ${gamma.body}`);
  assert.deepEqual(c.events.filter((e) => e.event === '(disconnect)' || e.event === 'shutdown'), [], 'beta\'s socket stays');
  await assertUnaffected(a, b, 'after the bad key');

  // 3. Fixed: everything is applied.
  ctx.write('clients/beta.cfg', clientCfg('beta', 'kb', 'sb-new', betaDb));
  ctx.signal('SIGHUP');
  await ctx.pollBackend(
    'after fixing beta.cfg and SIGHUP, the new secret works',
    ['Connect', 'beta', [ROOM, 2004], ['kb', 'sb-new']],
    (r) => r.json && r.json.status === 200,
  );
  const g = await ctx.backend('Connect', 'gamma', [ROOM, 3001], ['kg', 'sg']);
  assert.deepEqual(g.json, { status: 200 }, `gamma is added now: ${g.body}`);
  await assertUnaffected(a, b, 'after the fix');
});

// ---------------------------------------------------------------------------
// SIGTERM
// ---------------------------------------------------------------------------

lifecycleTest('SIGTERM: shutdown to every socket, users to sessions, history kept, exit 0', async (ctx) => {
  const db = await ctx.db();
  // A row the start-up cleanup moves away: once it is gone, rows we add stay until SIGTERM.
  await db.query('INSERT INTO chatroom_users (room_id, user_id, userdata, connected) VALUES (990, 990001, ?, ?)', [
    JSON.stringify({ login: 'sentinel', id: 990001 }),
    Math.floor(Date.now() / 1000) - 300,
  ]);
  const file = ctx.write('alpha.cfg', clientCfg('alpha', ...ALPHA, db));
  await ctx.start([file]);
  const deadline = Date.now() + 10000;
  while ((await db.query('SELECT 1 FROM chatroom_users WHERE user_id = 990001')).length > 0) {
    if (Date.now() > deadline) assert.fail('the start-up cleanup did not move the old chatroom_users row within 10 s');
    await sleep(50);
  }

  const poll = await ctx.join('alpha', ALPHA, 3001, 'paula', { transports: ['polling'] });
  const ws = await ctx.join('alpha', ALPHA, 3002, 'walter', { transports: ['websocket'] });
  const imPoll = await ctx.browser('im (polling)', '/alpha-im', { transports: ['polling'] });
  const imWs = await ctx.browser('im (websocket)', '/alpha-im', { transports: ['websocket'] });
  assert.equal(poll.socket.io.engine.transport.name, 'polling', 'the polling-only client stays on polling');
  const connected = Math.floor(Date.now() / 1000) - 60;
  // What ILIAS PHP writes when the users enter the room.
  for (const [id, login] of [
    [3001, 'paula'],
    [3002, 'walter'],
  ]) {
    await db.query('INSERT INTO chatroom_users (room_id, user_id, userdata, connected) VALUES (?, ?, ?, ?)', [
      ROOM,
      id,
      JSON.stringify({ login, id }),
      connected,
    ]);
  }

  // Messages right before SIGTERM: delivered, then the signal at once.
  await exchange(poll, ws, 'last words over polling');
  await exchange(ws, poll, 'last words over websocket');
  const sent = Date.now();
  ctx.signal('SIGTERM');

  for (const b of [poll, ws, imPoll, imWs]) {
    await waitEvent(b, (e) => e.event === 'shutdown', `${b.label}: 'shutdown' on SIGTERM`, 5000);
  }
  const exited = await Promise.race([ctx.server.exitPromise, sleep(5000).then(() => null)]);
  assert.ok(exited, `ilias-chat still running 5 s after SIGTERM`);
  assert.deepEqual({ code: exited.code, signal: exited.signal }, { code: 0, signal: null }, 'exit status after SIGTERM');
  console.log(`exit ${exited.code} ${exited.at - sent} ms after SIGTERM`);

  const users = await db.query('SELECT room_id, user_id FROM chatroom_users');
  assert.deepEqual(users, [], 'chatroom_users is empty after the stop');
  const sessions = await db.query(
    'SELECT room_id, user_id, userdata, connected, disconnected FROM chatroom_sessions WHERE room_id = ? ORDER BY user_id',
    [ROOM],
  );
  const now = Math.floor(Date.now() / 1000);
  assert.deepEqual(
    sessions.map((s) => [s.room_id, s.user_id, s.connected]),
    [
      [ROOM, 3001, connected],
      [ROOM, 3002, connected],
    ],
    `every chatroom_users row moved to chatroom_sessions: ${JSON.stringify(sessions)}`,
  );
  for (const s of sessions) {
    assert.ok(Math.abs(s.disconnected - now) < 30, `disconnected ≈ now: ${JSON.stringify(s)}`);
    assert.equal(JSON.parse(s.userdata).id, s.user_id, 'userdata copied');
  }
  const history = await db.query('SELECT message FROM chatroom_history WHERE room_id = ? ORDER BY hist_id', [ROOM]);
  const texts = history.map((h) => JSON.parse(h.message)).filter((m) => m.type === 'message').map((m) => m.content);
  for (const t of ['last words over polling', 'last words over websocket']) {
    assert.ok(texts.includes(t), `chatroom_history holds ${JSON.stringify(t)}; has ${JSON.stringify(texts)}`);
  }
});
