// Malformed input never disturbs anybody else: every chat-room event with wrong
// types, missing or extra arguments, before login, for unknown rooms, with huge
// payloads; every backend route with bad ids, unknown rooms/users and odd paths. After
// each, another user still gets a normal message and Heartbeat still answers.

import assert from 'node:assert/strict';

import { connect, httpRequest } from './harness.mjs';
import { NAME, NONEMPTY_STRING, ROOM, reconcile, roomTest, sleep } from './room-helpers.mjs';

const ALICE = { id: 101, name: 'alice' };
const BOB = { id: 102, name: 'bob' };
const MALLORY = { id: 666, name: 'mallory' };

const HUGE = 'x'.repeat(600_000);
const OBJ_HUGE = { content: HUGE, format: {} };

/** [label, event, args] sent from mallory's registered, joined socket. */
const MALFORMED_JOINED = [
  // login
  ['login without arguments', 'login', []],
  ['login(null)', 'login', [null]],
  ['login(null, null)', 'login', [null, null]],
  ['login(number, id)', 'login', [123, 777]],
  ['login(name) without id', 'login', ['mallory']],
  ['login(name, "abc")', 'login', ['mallory', 'abc']],
  ['login(name, {})', 'login', ['mallory', {}]],
  ['login(name, [])', 'login', ['mallory', []]],
  ['login([], id)', 'login', [[], 777]],
  ['login({}, id)', 'login', [{}, 777]],
  ['login(name, -1)', 'login', ['mallory', -1]],
  ['login(name, 0)', 'login', ['mallory', 0]],
  ['login(name, 1.5)', 'login', ['mallory', 1.5]],
  ['login(name, 1e300)', 'login', ['mallory', 1e300]],
  ['login(name, "99999999999999999999999")', 'login', ['mallory', '99999999999999999999999']],
  ['login of a user PHP never announced', 'login', ['ghost', 4242]],
  ['login with a huge name', 'login', [HUGE, 4243]],
  ['login(name, id, "notabool")', 'login', ['ghost', 4244, 'notabool']],
  // enterRoom
  ['enterRoom()', 'enterRoom', []],
  ['enterRoom(null)', 'enterRoom', [null]],
  ['enterRoom("abc")', 'enterRoom', ['abc']],
  ['enterRoom({})', 'enterRoom', [{}]],
  ['enterRoom([])', 'enterRoom', [[]]],
  ['enterRoom(true)', 'enterRoom', [true]],
  ['enterRoom(-7)', 'enterRoom', [-7]],
  ['enterRoom(7.5)', 'enterRoom', [7.5]],
  ['enterRoom(1e300)', 'enterRoom', [1e300]],
  ['enterRoom(unknown room)', 'enterRoom', [987654]],
  ['enterRoom(room, "x")', 'enterRoom', [987654, 'x']],
  ['enterRoom(huge string)', 'enterRoom', [HUGE]],
  // message
  ['message()', 'message', []],
  ['message(null, room)', 'message', [null, ROOM]],
  ['message("text", room)', 'message', ['text', ROOM]],
  ['message(42, room)', 'message', [42, ROOM]],
  ['message([], room)', 'message', [[], ROOM]],
  ['message([{content}], room)', 'message', [[{ content: 'in an array', format: {} }], ROOM]],
  ['message({}, room)', 'message', [{}, ROOM]],
  ['message({content: 123}, room)', 'message', [{ content: 123, format: {} }, ROOM]],
  ['message({content: null}, room)', 'message', [{ content: null, format: {} }, ROOM]],
  ['message({content: {}}, room)', 'message', [{ content: { a: 1 }, format: {} }, ROOM]],
  ['message({content: []}, room)', 'message', [{ content: ['a'], format: {} }, ROOM]],
  ['message({format: "bad"}, room)', 'message', [{ content: 'bad format', format: 'bad' }, ROOM]],
  ['message({format: []}, room)', 'message', [{ content: 'array format', format: [] }, ROOM]],
  ['message({target: "bad"}, room)', 'message', [{ content: 'bad target', format: {}, target: 'bad' }, ROOM]],
  ['message({target: []}, room)', 'message', [{ content: 'array target', format: {}, target: [] }, ROOM]],
  ['message({target: {}}, room)', 'message', [{ content: 'empty target', format: {}, target: {} }, ROOM]],
  ['message({target: {id: null}}, room)', 'message', [{ content: 'null target id', format: {}, target: { id: null, public: 0 } }, ROOM]],
  ['message({target: {id: {}}}, room)', 'message', [{ content: 'object target id', format: {}, target: { id: {}, public: 0 } }, ROOM]],
  ['whisper to an unknown user', 'message', [{ content: 'to ghost', format: {}, target: { username: 'g', id: '31337', public: 0 } }, ROOM]],
  ['message(msg) without room', 'message', [{ content: 'no room', format: {} }]],
  ['message(msg, null)', 'message', [{ content: 'null room', format: {} }, null]],
  ['message(msg, "abc")', 'message', [{ content: 'abc room', format: {} }, 'abc']],
  ['message(msg, {})', 'message', [{ content: 'object room', format: {} }, {}]],
  ['message(msg, unknown room)', 'message', [{ content: 'unknown room', format: {} }, 987654]],
  ['message(msg, -7)', 'message', [{ content: 'negative room', format: {} }, -7]],
  ['message with huge content', 'message', [OBJ_HUGE, ROOM]],
  // typing
  ['userStartedTyping()', 'userStartedTyping', []],
  ['userStartedTyping(null)', 'userStartedTyping', [null]],
  ['userStartedTyping("abc")', 'userStartedTyping', ['abc']],
  ['userStartedTyping({})', 'userStartedTyping', [{}]],
  ['userStartedTyping([])', 'userStartedTyping', [[]]],
  ['userStartedTyping(unknown room)', 'userStartedTyping', [987654]],
  ['userStoppedTyping()', 'userStoppedTyping', []],
  ['userStoppedTyping("abc")', 'userStoppedTyping', ['abc']],
  ['userStoppedTyping(unknown room)', 'userStoppedTyping', [987654]],
  ['userStoppedTyping(huge)', 'userStoppedTyping', [HUGE]],
  // events the server does not know
  ['unknown event', 'hackTheRoom', [ROOM, { content: 'x' }]],
  ['IM event on the room namespace', 'conversations', []],
  ['IM message on the room namespace', 'message', ['conv-id', ALICE.id, 'im text']],
];

/** [label, event, args] sent from a socket that never logged in. */
const BEFORE_LOGIN = [
  ['enterRoom before login', 'enterRoom', [ROOM]],
  ['message before login', 'message', [{ content: 'anonymous', format: {} }, ROOM]],
  ['whisper before login', 'message', [{ content: 'anon whisper', format: {}, target: { username: 'alice', id: '101', public: 0 } }, ROOM]],
  ['userStartedTyping before login', 'userStartedTyping', [ROOM]],
  ['userStoppedTyping before login', 'userStoppedTyping', [ROOM]],
];

roomTest('malformed and unauthorised chat-room events are ignored; everybody else keeps chatting', { generation: 9, timeout: 180000 }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join(BOB);
  const mallory = await ctx.join(MALLORY);
  // A logged-in user who is not registered in the room.
  const outsider = await ctx.join({ id: 667, name: 'outsider', register: false, enter: false });
  const anon = await ctx.browser('anonymous');
  const m = mallory.tabs[0];

  let n = 0;
  const check = async (label) => {
    n += 1;
    assert.equal(ctx.server.exited, null, `server still running after: ${label}`);
    const text = `ping ${n}`;
    alice.tabs[0].say(text);
    const msg = ctx.message(ALICE, text);
    await ctx.expect(
      [
        [alice, [msg]],
        [bob, [msg]],
        [mallory, [msg]],
      ],
      { quietMs: 60, message: `after ${label}` },
    );
    await ctx.heartbeat();
  };

  for (const [label, event, args] of MALFORMED_JOINED) {
    m.emit(event, ...args);
    await check(label);
  }
  for (const [label, event, args] of BEFORE_LOGIN) {
    anon.emit(event, ...args);
    await check(label);
  }
  for (const [label, event, args] of [
    ['message of an unregistered user', 'message', [{ content: 'outsider speaks', format: {} }, ROOM]],
    ['whisper of an unregistered user', 'message', [{ content: 'outsider whispers', format: {}, target: { username: 'alice', id: '101', public: 0 } }, ROOM]],
    ['typing of an unregistered user', 'userStartedTyping', [ROOM]],
    ['enterRoom of an unregistered user', 'enterRoom', [ROOM]],
  ]) {
    outsider.tabs[0].emit(event, ...args);
    await check(label);
  }
  // Binary attachments instead of JSON.
  m.emit('message', Buffer.from('binary'), ROOM);
  await check('binary message');
  m.emit('login', Buffer.from('bin'), Buffer.from('bin'));
  await check('binary login');

  // Nothing mallory sent was stored; alice's pings were.
  const rows = await ctx.waitHistory(n, `message LIKE '%"type":"message"%'`, [], 10000);
  assert.deepEqual(
    rows.map((r) => JSON.parse(r.message).content),
    Array.from({ length: n }, (_, i) => `ping ${i + 1}`),
  );
  // mallory is still herself (no malformed login renamed or moved her).
  m.say('mallory is fine');
  const ok = ctx.message(MALLORY, 'mallory is fine');
  await ctx.expect([
    [alice, [ok]],
    [bob, [ok]],
    [mallory, [ok]],
  ]);
});

roomTest('broken socket.io packets and oversized frames only cost the sender its connection', { generation: 9 }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join(BOB);
  const check = async (label) => {
    assert.equal(ctx.server.exited, null, `server still running after: ${label}`);
    alice.tabs[0].say(label);
    await ctx.expect(
      [
        [alice, [ctx.message(ALICE, label)]],
        [bob, [ctx.message(ALICE, label)]],
      ],
      { message: `after ${label}` },
    );
    await ctx.heartbeat();
  };
  const raw = async (label, packet) => {
    const s = await connect(ctx.base, `/${NAME}`, { transports: ['websocket'] });
    s.io.engine.write(packet);
    await sleep(200);
    s.close();
    await check(label);
  };
  await raw('invalid JSON in an event packet', '42/ilroom,["message",{"content":');
  await raw('event packet without a name', '42/ilroom,[]');
  await raw('event name that is not a string', '42/ilroom,[42,"x"]');
  await raw('event packet with an object instead of an array', '42/ilroom,{"a":1}');
  await raw('unknown packet type', '49/ilroom,["message"]');
  await raw('binary event claiming attachments that never come', '451-/ilroom,["message",{"_placeholder":true,"num":0},7]');
  await raw('garbage', '\u0000\u0001garbage');
  await raw('JSON nested 500 deep', `42/ilroom,["message",{"content":"deep","format":${'{"a":'.repeat(500)}1${'}'.repeat(500)}},7]`);
  await raw('JSON array nested 5000 deep', `42/ilroom,["enterRoom",${'['.repeat(5000)}${']'.repeat(5000)}]`);
  // More than maxHttpBufferSize (1 MB) in one frame.
  const big = await ctx.browser('big');
  big.emit('message', { content: 'y'.repeat(2_000_000), format: {} }, ROOM);
  await sleep(500);
  big.closedByTest = true;
  big.close();
  await check('2 MB frame');
});

roomTest('malformed backend calls answer JSON (never HTTP 500) and change nothing', { generation: 9, rooms: [ROOM, 8] }, async (ctx) => {
  const alice = await ctx.join(ALICE);
  const bob = await ctx.join(BOB);
  const FAIL = { success: false, reason: NONEMPTY_STRING };
  const cases = [
    ['Connect', [ROOM, 'abc']],
    ['Connect', [ROOM, '-1']],
    ['Connect', [ROOM, '1.5']],
    ['Connect', [ROOM, '99999999999999999999999']],
    ['Connect', [ROOM, ' ']],
    ['EnterPrivateRoom', [987654, ALICE.id]],
    ['EnterPrivateRoom', [ROOM, 4711]],
    ['EnterPrivateRoom', ['abc', ALICE.id]],
    ['EnterPrivateRoom', [ROOM, 'abc']],
    ['EnterPrivateRoom', ['7abc', ALICE.id]],
    ['EnterPrivateRoom', ['1e3', ALICE.id]],
    ['EnterPrivateRoom', ['0x7', ALICE.id]],
    ['LeavePrivateRoom', [987654, ALICE.id]],
    ['LeavePrivateRoom', [ROOM, 4711]],
    ['LeavePrivateRoom', ['abc', ALICE.id]],
    ['InvitePrivateRoom', [987654, ALICE.id, BOB.id]],
    ['InvitePrivateRoom', [ROOM, ALICE.id, 'abc']],
    ['InvitePrivateRoom', [ROOM, 'abc', BOB.id]],
    ['ClearMessages', [987654, ALICE.id]],
    ['ClearMessages', ['abc', ALICE.id]],
    ['ClearMessages', [ROOM, 'abc']],
    ['Kick', [987654, BOB.id]],
    ['Kick', [ROOM, 'abc']],
    ['Kick', ['', BOB.id]],
    ['Ban', [987654, BOB.id]],
    ['Ban', [ROOM, 'abc']],
    ['CreatePrivateRoom', ['abc', ALICE.id, 'title']],
    ['CreatePrivateRoom', [ROOM, 'abc', 'title']],
    ['CreatePrivateRoom', ['-5', ALICE.id, 'title']],
  ];
  const wrong = [];
  // Kick and Ban of a user the server does not know (offline) succeed and emit
  // nothing: PHP writes chatroom_bans only after a successful answer, and offline
  // users must be bannable.
  for (const action of ['Kick', 'Ban']) {
    const r = await ctx.backend(action, [ROOM, 4711]);
    if (r.json?.success !== true) wrong.push(`${action}/${ROOM}/4711 (offline user): ${r.body}`);
  }
  for (const [action, segs] of cases) {
    const r = await ctx.backend(action, segs);
    const what = `${action}/${segs.join('/')}`;
    if (r.status !== 200 || r.json === undefined) wrong.push(`${what}: HTTP ${r.status} ${r.body}`);
    else {
      const [a, e] = reconcile(r.json, FAIL);
      try {
        assert.deepStrictEqual(a, e);
      } catch {
        wrong.push(`${what}: ${r.body}`);
      }
    }
    await ctx.heartbeat();
  }
  try {
    await ctx.expect([], { message: 'refused backend calls emitted something' });
  } catch (e) {
    wrong.push(e.message.split('\n').filter((l) => /received:|^\s{4}\S/.test(l) || /emitted/.test(l)).join('\n'));
  }

  // Odd paths: never a 500, always a JSON body.
  const paths = [
    `/backend/Kick/${NAME}/%FF%FE/102`,
    `/backend/Kick/${NAME}/${ROOM}/%00`,
    `/backend/Kick/${NAME}/${ROOM}/102/extra/segments/here`,
    `/backend/Kick/${NAME}`,
    `/backend/Kick/${NAME}/${ROOM}`,
    `/backend/Connect/${NAME}/${ROOM}/101?x=${'y'.repeat(5000)}`,
    `/backend/Connect/${NAME}/${'9'.repeat(3000)}/101`,
    `/backend/GetRooms/${NAME}/extra`,
    `/backend/NoSuchAction/${NAME}/1/2`,
    `/backend/${NAME}`,
    `/backend/`,
    `/backend/Kick/..%2F..%2Fetc%2Fpasswd/7/102`,
    `/backend/CreatePrivateRoom/${NAME}/50/101/${'%F0%9F%98%80'.repeat(50)}`,
  ];
  for (const p of paths) {
    const r = await ctx.rawGet(p);
    if (r.status >= 500 || r.json === undefined) wrong.push(`${p.slice(0, 120)}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    await ctx.heartbeat();
  }
  // Other methods.
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await httpRequest(`${ctx.base}/backend/Kick/${NAME}/${ROOM}/${BOB.id}`, {
      method,
      auth: ['rk-8c1f2a7e', 'rs-51b0e9d4'],
      body: '{}',
      headers: { 'Content-Type': 'application/json' },
    });
    if (r.status >= 500) wrong.push(`${method}: HTTP ${r.status} ${r.body}`);
  }
  try {
    await ctx.expect([], { message: 'odd paths emitted something' });
  } catch (e) {
    wrong.push(e.message.split('\n').filter((l) => /received:|^\s{4}\S/.test(l) || /emitted/.test(l)).join('\n'));
  }
  assert.deepEqual(wrong, [], 'expected {"success":false,"reason":…} (HTTP 200) for the calls, JSON and no 5xx for the paths');

  // Still in business.
  bob.tabs[0].say('still fine');
  await ctx.expect([
    [alice, [ctx.message(BOB, 'still fine')]],
    [bob, [ctx.message(BOB, 'still fine')]],
  ]);
  await ctx.expectBackend('GetRooms', [], { rooms: { [`${ROOM}_0`]: {}, '8_0': {}, '50_0': {} } });
});
