// The edges hold (issue 11): an oversize message closes only its sender's connection
// (1009 over websocket, as the original) and nothing of it is delivered or stored; a
// websocket that stops reading leaves its room within write_timeout while the others
// lose nothing; a flood of malformed events costs a bounded number of log lines and
// cuts the flooding socket off while a bystander is still served.

import assert from 'node:assert/strict';

import { ALICE, BOB, ROOM, roomTest, sleep } from './room-helpers.mjs';

const MALLORY = { id: 666, name: 'mallory' };
const TEN_MB = 'x'.repeat(10_000_000);

/** The `ws` WebSocket under a socket.io-client socket (websocket transport). */
function rawWebsocket(browser) {
  const ws = browser.socket.io.engine.transport.ws;
  assert.ok(ws, `${browser.label}: not on the websocket transport`);
  return ws;
}

/** Resolves with the close code the server sent on `ws` (or rejects after `ms`). */
function closeCode(ws, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`websocket not closed within ${ms} ms`)), ms);
    ws.addEventListener('close', (event) => {
      clearTimeout(timer);
      resolve(event.code);
    });
  });
}

/** History rows longer than a chat message can be (leave notices may come and go). */
async function hugeRows(ctx) {
  const rows = await ctx.db.query('SELECT COUNT(*) AS n FROM chatroom_history WHERE LENGTH(message) > 100000');
  return Number(rows[0].n);
}

/** Waits until `browser` got a user list of ROOM without `user`. */
async function waitUserGone(browser, user, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lists = browser.all.filter((e) => e.event === 'userlist');
    const last = lists.at(-1)?.args[0];
    const users = last ? Object.values(last.users ?? {}) : [];
    if (last && !users.some((u) => u.id === user.id)) return;
    if (Date.now() > deadline) assert.fail(`${user.name} still in the user list after ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await sleep(50);
  }
}

roomTest('a 10 MB message over websocket: closed with 1009, nothing delivered or stored', async (ctx) => {
  const alice = (await ctx.join(ALICE)).tabs[0];
  const bob = (await ctx.join(BOB)).tabs[0];
  const closed = closeCode(rawWebsocket(alice));
  alice.say(TEN_MB);
  assert.equal(await closed, 1009, 'close code for a message beyond 1 MB');
  await sleep(1000);
  assert.equal(bob.all.filter((e) => e.event === 'message').length, 0, 'bob got nothing');
  assert.equal(await hugeRows(ctx), 0, 'nothing stored');
  // The others go on.
  bob.say('still here');
  await bob.waitFor('message');
  assert.equal(bob.lastPayload('message').content, 'still here');
});

roomTest('a 10 MB message over polling: the session is closed, nothing delivered or stored', async (ctx) => {
  const alice = (await ctx.join({ ...ALICE, transports: ['polling'] })).tabs[0];
  const bob = (await ctx.join(BOB)).tabs[0];
  alice.say(TEN_MB);
  await alice.waitFor('(disconnect)', 10000);
  await sleep(1000);
  assert.equal(bob.all.filter((e) => e.event === 'message').length, 0, 'bob got nothing');
  assert.equal(await hugeRows(ctx), 0, 'nothing stored');
});

roomTest(
  'a websocket that stops reading leaves the room within write_timeout; the others lose nothing',
  { serverOverrides: { write_timeout: 2 }, timeout: 120000 },
  async (ctx) => {
    const alice = (await ctx.join(ALICE)).tabs[0];
    const bob = (await ctx.join(BOB)).tabs[0];
    const mallory = (await ctx.join(MALLORY)).tabs[0];
    // Mallory's browser stops reading: its TCP window closes, the server's writes
    // to it stop making progress.
    rawWebsocket(mallory)._socket.pause();
    const started = Date.now();
    const COUNT = 2000;
    const text = 'y'.repeat(3000);
    let received = 0;
    const order = [];
    bob.socket.on('message', (m) => {
      received++;
      order.push(Number(m.content.slice(0, 8)));
    });
    for (let i = 0; i < COUNT; i++) {
      alice.say(String(i).padStart(8, '0') + text);
      // Paced by what bob receives: alice's own queue must not overflow.
      while (i - received > 200) await sleep(5);
    }
    await waitUserGone(bob, MALLORY, 60000);
    const gone = Date.now() - started;
    const deadline = Date.now() + 60000;
    while (received < COUNT && Date.now() < deadline) await sleep(50);
    assert.equal(received, COUNT, 'bob got every message');
    assert.deepEqual(order, [...Array(COUNT).keys()], 'in order');
    console.error(`# non-reading websocket removed from the user list after ${gone} ms`);
    // The notice of a leaving user, as the original sends it after the grace period.
    const deadlineNotice = Date.now() + 5000;
    const left = () =>
      bob.all.some((e) => e.event === 'notice' && e.args[0]?.content === 'disconnected' && e.args[0]?.data?.username === MALLORY.name);
    while (!left() && Date.now() < deadlineNotice) await sleep(50);
    assert.ok(left(), 'bob got the notice that mallory left');
  },
);

roomTest(
  '100,000 malformed events: few log lines, the socket cut off, a bystander still served',
  { serverOverrides: { log_level: 'info' }, timeout: 120000 },
  async (ctx) => {
    const alice = (await ctx.join(ALICE)).tabs[0];
    const bob = (await ctx.join(BOB)).tabs[0];
    const mallory = (await ctx.join(MALLORY)).tabs[0];
    const linesBefore = ctx.server.stderr().split('\n').length;
    for (let i = 0; i < 100_000; i++) mallory.emit('message', 42, ROOM);
    await mallory.waitFor('(disconnect)', 60000);
    // The bystander is still served.
    alice.say('after the flood');
    await bob.waitFor('message', 10000);
    assert.equal(bob.lastPayload('message').content, 'after the flood');
    await sleep(500);
    const lines = ctx.server.stderr().split('\n').slice(linesBefore - 1);
    console.error(`# ${lines.length} log lines for 100,000 malformed events`);
    assert.ok(lines.length < 100, `bounded log: ${lines.length} lines\n${lines.slice(0, 20).join('\n')}`);
  },
);
