// Nothing per browser outlives the browser: 1,000 room pages (20 rooms of 50) and 200
// on-screen chat pages connect, log in, enter and disconnect; afterwards every
// per-socket resource the server reports in /backend/Status/<name> ("resources": model
// entries, users' socket lists, grace timers, departed users, event-queue tasks, runtime
// tasks) is back where it was before the first browser came. While they are connected
// the same counts show every one of them, so a count that stays zero cannot pass.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { clientCfg, createTestDb, freePort, httpRequest, serverCfg, startServer } from './harness.mjs';
import { OscPage, RoomPage, phpEntersRoom, waitUntil } from './resume-helpers.mjs';

const NAME = 'ilres';
const AUTH = ['rk', 'rs'];
const ROOMS = 20;
const PER_ROOM = 50;
const ROOM_PAGES = ROOMS * PER_ROOM;
const OSC_PAGES = 200;
const GRACE_MS = 500;
/** Seconds a user whose grace period ended may still come back (server.cfg). */
const RECONNECT_WINDOW = 2;

async function status(base) {
  const r = await httpRequest(`${base}/backend/Status/${NAME}`, { auth: AUTH });
  assert.equal(r.status, 200, `Status: HTTP ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches(items, width, fn) {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

test('1,000 browsers come and go: every per-socket resource is released', { timeout: 240000 }, async () => {
  const db = await createTestDb(10);
  for (let room = 1; room <= ROOMS; room++) {
    await db.query(
      "INSERT INTO chatroom_settings (room_id, object_id, room_type, enable_history) VALUES (?, ?, 'repository', 1)",
      [room, 5000 + room],
    );
  }
  const server = await startServer(
    serverCfg(await freePort(), { log_level: 'warning', reconnect_window: RECONNECT_WINDOW }),
    [clientCfg(NAME, AUTH[0], AUTH[1], db)],
    { env: { ILIAS_CHAT_DISCONNECT_GRACE_MS: String(GRACE_MS) } },
  );
  const pages = [];
  let failed = true;
  try {
    await waitUntil(async () => (await status(server.baseUrl)).database.reachable, { what: 'database connected' });
    const before = (await status(server.baseUrl)).resources;
    assert.deepEqual(
      { ...before, tasks: 0 },
      {
        socket_entries: { room: 0, im: 0 },
        user_sockets: { room: 0, im: 0 },
        grace_timers: 0,
        replay_sockets: 0,
        replay_marks: 0,
        departed_users: 0,
        event_queues: 0,
        tasks: 0,
      },
      'nothing is held before the first browser',
    );

    const users = Array.from({ length: ROOM_PAGES }, (_, i) => ({ id: 2000 + i, name: `u${i}`, room: 1 + (i % ROOMS) }));
    await inBatches(users, 50, (u) => phpEntersRoom(db, server.baseUrl, NAME, AUTH, u.room, u));
    await inBatches(users, 100, async (u) => {
      pages.push(new RoomPage(server.baseUrl, NAME, u, u.room));
    });
    for (const u of users.slice(0, OSC_PAGES)) pages.push(new OscPage(server.baseUrl, NAME, u));
    const roomPages = pages.filter((p) => p instanceof RoomPage);
    const oscPages = pages.filter((p) => p instanceof OscPage);
    await waitUntil(() => roomPages.every((p) => p.entered >= 1) && oscPages.every((p) => p.logins >= 1), {
      timeoutMs: 120000,
      what: 'every page logged in (and in its room)',
    });

    const during = await status(server.baseUrl);
    assert.deepEqual(during.sockets, { room: ROOM_PAGES, im: OSC_PAGES }, 'sockets while connected');
    assert.deepEqual(during.resources.socket_entries, { room: ROOM_PAGES, im: OSC_PAGES }, 'model entries while connected');
    assert.deepEqual(during.resources.user_sockets, { room: ROOM_PAGES, im: OSC_PAGES }, 'users’ socket lists while connected');
    assert.equal(during.resources.event_queues, ROOM_PAGES + OSC_PAGES, 'one event queue per socket while connected');
    assert.equal(during.resources.replay_sockets, ROOM_PAGES, 'the replay follows every room socket while connected');
    assert.ok(during.resources.tasks > before.tasks, `more tasks while connected (${during.resources.tasks} > ${before.tasks})`);

    for (const p of pages) p.close();
    await waitUntil(
      async () => {
        const s = await status(server.baseUrl);
        return s.sockets.room + s.sockets.im === 0;
      },
      { timeoutMs: 30000, what: 'all sockets closed' },
    );
    let after;
    await waitUntil(
      async () => {
        after = (await status(server.baseUrl)).resources;
        return (
          after.departed_users === 0 && after.grace_timers === 0 && after.replay_marks === 0 && after.tasks <= before.tasks
        );
      },
      { timeoutMs: 60000, everyMs: 250, what: 'grace periods and the reconnect window over, tasks back' },
    ).catch((e) => {
      throw new Error(`${e.message}; resources now ${JSON.stringify(after)}, before ${JSON.stringify(before)}`);
    });
    // The runtime's task count is compared as "no more than before": the baseline may hold a
    // transient task (the connection of the status request just answered, a pool check) that
    // has ended by the time of the last reading; a leak keeps the count above it and the wait
    // above times out.
    assert.ok(after.tasks <= before.tasks, `tasks back (${after.tasks} <= ${before.tasks})`);
    assert.deepEqual({ ...after, tasks: before.tasks }, before, 'everything held for the browsers is released');
    assert.equal(server.exited, null, 'the server still runs');
    failed = false;
  } finally {
    for (const p of pages) p.close();
    if (failed) console.error(server.logTail(60));
    await server.stop({ failed });
    await db.drop();
  }
});
