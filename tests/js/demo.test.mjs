// `ilias-chat --demo` end-to-end: the URL line, the page and the socket.io bundle it
// loads, two users going through the page's exact flow with the socket.io client ILIAS 9
// ships (enter → connect → login → loggedIn → enterRoom → chat), HTML escaping of
// message text, a reload keeping the user id, the state directory, and SIGTERM.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe } from 'node:test';

import { io } from 'socket.io-client';

import { demoUrlLine, httpRequest, sleep, startDemo, test } from './harness.mjs';

const TIMEOUT_MS = 10000;
/** The room's title as the page's header names it ("chat room “Demo room”"). */
const ROOM_TITLE = 'Demo room';

/** GET <base>/demo/enter?name=NAME as the page's fetch("enter?name=…") does. */
async function enter(baseUrl, name) {
  const r = await httpRequest(`${baseUrl}/demo/enter?name=${encodeURIComponent(name)}`);
  assert.equal(r.status, 200, `enter?name=${name}: HTTP ${r.status} ${r.body}`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  return JSON.parse(r.body);
}

/**
 * One browser tab of the demo page, without the DOM: `enter`, then
 * `io(room.namespace, {path: room.path})`, `login(name, userId)` on connect and
 * `enterRoom(roomId)` on loggedIn. Every event the server sends is recorded in
 * `tab.events` as {event, args} (socket.io's own connect/disconnect are not).
 */
async function openTab(baseUrl, name) {
  const room = await enter(baseUrl, name);
  const socket = io(baseUrl + room.namespace, {
    path: room.path,
    forceNew: true,
    reconnection: false,
    timeout: TIMEOUT_MS,
  });
  const tab = { name, room, socket, events: [] };
  const waiters = new Set();
  socket.onAny((event, ...args) => {
    tab.events.push({ event, args });
    for (const w of waiters) w();
  });
  socket.on('connect', () => socket.emit('login', room.name, room.userId));
  socket.on('loggedIn', () => socket.emit('enterRoom', room.roomId));
  /** Resolves once `tab.events` holds `count` events named `event`. */
  tab.waitFor = (event, count = 1, ms = TIMEOUT_MS) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const got = tab.events.filter((e) => e.event === event);
        if (got.length >= count) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(got[count - 1].args);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `${name}: expected ${count} '${event}' event(s) within ${ms} ms; ` +
              `got events ${JSON.stringify(tab.events)}`,
          ),
        );
      }, ms);
      if (!check()) waiters.add(check);
    });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no connect within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${name}: connect_error ${err.message}`));
    });
  });
  return tab;
}

/**
 * The recorded events with every `timestamp` checked (a millisecond number between
 * `since` and now) and replaced by 'TS', so that whole payloads compare exactly.
 */
function normalised(tab, since) {
  const now = Date.now() + 1000;
  return tab.events.map(({ event, args }) => ({
    event,
    args: args.map((a) => {
      if (a && typeof a === 'object' && 'timestamp' in a) {
        assert.equal(typeof a.timestamp, 'number', `${tab.name}: ${event}.timestamp ${JSON.stringify(a)}`);
        assert.ok(
          Number.isInteger(a.timestamp) && a.timestamp >= since - 1000 && a.timestamp <= now,
          `${tab.name}: ${event}.timestamp ${a.timestamp} is not milliseconds of this test run (${since}..${now})`,
        );
        return { ...a, timestamp: 'TS' };
      }
      return a;
    }),
  }));
}

describe('ilias-chat --demo', () => {
  const ctx = { tabs: [] };
  before(async () => {
    ctx.t0 = Date.now();
    ctx.demo = await startDemo();
  });
  after(async () => {
    for (const tab of ctx.tabs) tab.socket.close();
    await ctx.demo?.stop();
  });

  test('prints the URL line on stdout and writes its state directory', { timeout: 60000 }, async () => {
    const { demo } = ctx;
    const lines = demo.stdout().split('\n');
    assert.equal(lines[0], demoUrlLine(demo.port), `stdout: ${JSON.stringify(demo.stdout())}`);
    const files = fs.readdirSync(demo.stateDir).sort();
    for (const f of ['client.cfg', 'demo.sqlite', 'server.cfg']) {
      assert.ok(files.includes(f), `state dir ${demo.stateDir} lacks ${f}: ${JSON.stringify(files)}`);
    }
    const server = JSON.parse(fs.readFileSync(`${demo.stateDir}/server.cfg`, 'utf8'));
    assert.equal(server.address, '127.0.0.1');
    assert.equal(server.port, demo.port);
    const client = JSON.parse(fs.readFileSync(`${demo.stateDir}/client.cfg`, 'utf8'));
    assert.equal(client.name, 'demo');
    assert.equal(client.database?.type, 'sqlite');
  });

  test('serves the page and the socket.io bundle it loads', { timeout: 60000 }, async () => {
    const { baseUrl } = ctx.demo;
    const page = await httpRequest(`${baseUrl}/demo/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /^<!doctype html>/i);
    assert.ok(
      page.body.includes('<script src="/socket.io/socket.io.js"></script>'),
      'the page loads /socket.io/socket.io.js',
    );
    for (const id of ['name', 'login-form', 'text', 'send-form', 'messages', 'users']) {
      assert.ok(page.body.includes(`id="${id}"`), `the page has #${id}`);
    }

    const bundle = await httpRequest(`${baseUrl}/socket.io/socket.io.js`);
    assert.equal(bundle.status, 200);
    assert.match(String(bundle.headers['content-type']), /javascript/);
    assert.match(bundle.body, /Socket\.IO v4\./);

    for (const p of ['/', '/demo']) {
      const r = await httpRequest(baseUrl + p);
      assert.ok([301, 302, 303, 307, 308].includes(r.status), `GET ${p}: HTTP ${r.status}`);
      assert.equal(r.headers.location, '/demo/', `GET ${p} redirects to /demo/`);
    }

    const empty = await httpRequest(`${baseUrl}/demo/enter?name=${encodeURIComponent('  ')}`);
    assert.equal(empty.status, 400, `enter with a blank name: ${empty.body}`);
  });

  test('two users chat through the page flow; every event and payload', { timeout: 60000 }, async () => {
    const { baseUrl } = ctx.demo;
    const since = ctx.t0;

    const ann = await openTab(baseUrl, 'ann');
    ctx.tabs.push(ann);
    assert.deepEqual(ann.room, {
      userId: ann.room.userId,
      name: 'ann',
      roomId: 1,
      history: [],
      namespace: '/demo',
      path: '/socket.io',
    });
    assert.ok(Number.isInteger(ann.room.userId), `userId ${ann.room.userId}`);
    const [welcome] = await ann.waitFor('notice'); // welcome_to_chat: ann is fully in the room
    // The title is checked last (see ROOM_TITLE) so that the rest of the flow still runs.
    const title = welcome?.data?.title;
    assert.equal(typeof title, 'string', `welcome_to_chat data.title: ${JSON.stringify(welcome)}`);

    // Past the room's user-list interval (userlist_interval, 100 ms) after ann's entry:
    // bob's entry is an isolated change, announced exactly as by the original (a list,
    // then the notice); entries closer together get one list at the interval's end.
    await sleep(150);
    const bob = await openTab(baseUrl, 'bob');
    ctx.tabs.push(bob);
    assert.equal(bob.room.name, 'bob');
    assert.equal(bob.room.roomId, 1);
    assert.notEqual(bob.room.userId, ann.room.userId, 'ann and bob get different user ids');
    await bob.waitFor('notice'); // welcome_to_chat
    await ann.waitFor('notice', 2); // connect (bob)

    const A = { id: ann.room.userId, username: 'ann' };
    const B = { id: bob.room.userId, username: 'bob' };
    const both = { [A.id]: A, [B.id]: B };
    const head = (content) => ({ type: content, timestamp: 'TS', content, roomId: 1 });
    const notice = (content, who) => ({
      type: 'notice',
      content,
      data: { ...who, title },
      timestamp: 'TS',
      roomId: 1,
    });

    const annJoined = [
      { event: 'loggedIn', args: [] },
      { event: 'private_room_entered', args: [{ ...head('private_room_entered'), subscriber: A }] },
      { event: 'userlist', args: [{ ...head('userlist'), users: { [A.id]: A } }] },
      { event: 'notice', args: [notice('welcome_to_chat', A)] },
      { event: 'userlist', args: [{ ...head('userlist'), users: both }] },
      { event: 'notice', args: [notice('connect', B)] },
    ];
    const bobJoined = [
      { event: 'loggedIn', args: [] },
      { event: 'private_room_entered', args: [{ ...head('private_room_entered'), subscriber: B }] },
      { event: 'userlist', args: [{ ...head('userlist'), users: both }] },
      { event: 'notice', args: [notice('welcome_to_chat', B)] },
    ];
    await sleep(200); // nothing else may arrive
    assert.deepEqual(normalised(ann, since), annJoined, 'ann: events after both joined');
    assert.deepEqual(normalised(bob, since), bobJoined, 'bob: events after both joined');

    ann.socket.emit('message', { content: '<b>hi</b> & bye', format: {} }, ann.room.roomId);
    await Promise.all([ann.waitFor('message'), bob.waitFor('message')]);
    await sleep(200);
    const message = {
      type: 'message',
      timestamp: 'TS',
      content: '&lt;b&gt;hi&lt;/b&gt; &amp; bye',
      roomId: 1,
      from: A,
      format: {},
    };
    assert.deepEqual(normalised(ann, since), [...annJoined, { event: 'message', args: [message] }], 'ann: events after the message');
    assert.deepEqual(normalised(bob, since), [...bobJoined, { event: 'message', args: [message] }], 'bob: events after the message');
    // Both saw the very same message.
    assert.equal(ann.events.at(-1).args[0].timestamp, bob.events.at(-1).args[0].timestamp);
    ctx.expected = {
      ann: [...annJoined, { event: 'message', args: [message] }],
      bob: [...bobJoined, { event: 'message', args: [message] }],
    };
    assert.equal(title, ROOM_TITLE, 'the title in welcome_to_chat/connect notices is the room the page names');
  });

  test('a reload (second enter) keeps the user id and shows the last messages', { timeout: 60000 }, async () => {
    assert.equal(ctx.tabs.length, 2, 'needs the tabs of the chat test');
    const [ann, bob] = ctx.tabs;
    // The room's last messages come with the page, as PHP renders them (once the
    // write-behind queue has stored the message).
    const said = ann.events.findLast((e) => e.event === 'message').args[0];
    let again;
    for (const deadline = Date.now() + TIMEOUT_MS; ; await sleep(100)) {
      again = await enter(ctx.demo.baseUrl, 'ann');
      if (again.history.length > 0 || Date.now() > deadline) break;
    }
    assert.deepEqual(
      again,
      {
        ...ann.room,
        // Stored with seconds (what PHP reads), handed to the page as milliseconds.
        history: [
          { from: { username: 'ann' }, content: said.content, timestamp: Math.floor(said.timestamp / 1000) * 1000 },
        ],
      },
      'second enter for ann',
    );
    const bobAgain = await enter(ctx.demo.baseUrl, 'bob');
    assert.equal(bobAgain.userId, bob.room.userId, 'second enter for bob');
    // Announcing an already present user sends nothing to the open tabs.
    await sleep(200);
    assert.ok(ctx.expected, 'the chat test passed (it knows which events must be there)');
    assert.deepEqual(normalised(ann, ctx.t0), ctx.expected.ann);
    assert.deepEqual(normalised(bob, ctx.t0), ctx.expected.bob);
  });

  test('SIGTERM: every tab gets shutdown, the process exits 0 within 10 s', { timeout: 60000 }, async () => {
    const { demo } = ctx;
    const tabs = ctx.tabs.filter((tab) => tab.socket.connected);
    assert.ok(tabs.length > 0, 'needs the connected tabs of the chat test');
    const disconnects = tabs.map(
      (tab) => new Promise((resolve) => tab.socket.once('disconnect', (reason) => resolve(reason))),
    );
    const shutdowns = Promise.allSettled(tabs.map((tab) => tab.waitFor('shutdown')));
    const transports = tabs.map((tab) => `${tab.name}: ${tab.socket.io.engine?.transport?.name}`);
    const started = Date.now();
    demo.signal('SIGTERM');
    const [got, status] = await Promise.all([shutdowns, demo.waitExit(10000)]);
    const elapsed = Date.now() - started;
    const why = async () =>
      `(after ${elapsed} ms; transports at SIGTERM ${transports.join(', ')}; ` +
      `exit status ${JSON.stringify(status)}; disconnect reasons ` +
      `${JSON.stringify(await Promise.all(disconnects.map((d) => Promise.race([d, sleep(100).then(() => 'none')]))))})`;
    const missed = tabs.filter((_, i) => got[i].status !== 'fulfilled').map((tab) => tab.name);
    assert.deepEqual(missed, [], `tabs without a shutdown event ${await why()}`);
    assert.deepEqual(got.map((r) => r.value), tabs.map(() => []), 'shutdown carries no payload');
    assert.ok(status, `ilias-chat --demo still runs ${elapsed} ms after SIGTERM`);
    assert.deepEqual(status, { code: 0, signal: null }, 'exit status after SIGTERM');
    // The state stays for the next start.
    const files = fs.readdirSync(demo.stateDir);
    for (const f of ['client.cfg', 'demo.sqlite', 'server.cfg']) assert.ok(files.includes(f), `${f} kept`);
    assert.ok(ctx.expected, 'the chat test passed (it knows which events must be there)');
    const [ann, bob] = ctx.tabs;
    assert.deepEqual(normalised(ann, ctx.t0), [...ctx.expected.ann, { event: 'shutdown', args: [] }]);
    assert.deepEqual(normalised(bob, ctx.t0), [...ctx.expected.bob, { event: 'shutdown', args: [] }]);
  });

  test('the whole session logged no ERROR or WARN line', { timeout: 60000 }, async () => {
    const bad = ctx.demo.stderr().split('\n').filter((l) => /^\S+\s+(ERROR|WARN)\b/.test(l));
    assert.deepEqual(bad, [], 'ilias-chat --demo stderr');
  });
});
