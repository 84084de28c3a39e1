// SIGHUP under load: browsers in a busy room while the server reloads several times
// (once with a changed backend secret, which applies in place) — none is disconnected,
// every message reaches every browser once, in order. (The large version — 2,000
// browsers, 5 reloads — is tests/js/bench/resume.mjs.)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { clientCfg, createTestDb, freePort, serverCfg, sleep, startServer } from './harness.mjs';
import { RoomPage, backend, phpEntersRoom, waitUntil } from './resume-helpers.mjs';

const NAME = 'ilreload';
const ROOM = 7;
const BROWSERS = 150;
const MESSAGES = 60;

test('SIGHUP under load: no browser is disconnected, no message is lost', { timeout: 120000 }, async () => {
  const db = await createTestDb(9);
  await db.query("INSERT INTO chatroom_settings (room_id, object_id, room_type, enable_history) VALUES (?, ?, 'repository', 1)", [ROOM, 1007]);
  const server = await startServer(serverCfg(await freePort()), [clientCfg(NAME, 'k1', 's1', db)]);
  const pages = [];
  let failed = true;
  try {
    await waitUntil(() => /chat rooms loaded/.test(server.stderr()), { what: 'rooms loaded' });
    for (let i = 0; i < BROWSERS; i++) {
      const user = { id: 1000 + i, name: `u${i}` };
      await phpEntersRoom(db, server.baseUrl, NAME, ['k1', 's1'], ROOM, user);
      pages.push(new RoomPage(server.baseUrl, NAME, user, ROOM));
    }
    await waitUntil(() => pages.every((p) => p.entered >= 1), { timeoutMs: 30000, what: 'every browser in the room' });

    const sender = pages[0];
    const sent = [];
    const sending = (async () => {
      for (let i = 0; i < MESSAGES; i++) {
        sent.push(`m${i}`);
        sender.say(`m${i}`);
        await sleep(25);
      }
    })();
    const clientFile = path.join(server.dir, 'client0.cfg');
    for (let i = 0; i < 3; i++) {
      await sleep(300);
      if (i === 1) fs.writeFileSync(clientFile, JSON.stringify(clientCfg(NAME, 'k1', 's2', db)));
      server.child.kill('SIGHUP');
    }
    await sending;
    await waitUntil(() => pages.every((p) => p.messages.length >= MESSAGES), { timeoutMs: 30000, what: 'every message at every browser' });
    await waitUntil(() => (server.stderr().match(/configuration reloaded/g) || []).length === 3, { what: 'three reloads' });

    for (const p of pages) {
      assert.equal(p.disconnects, 0, `${p.user.name} was not disconnected`);
      assert.equal(p.connects, 1, `${p.user.name} did not reconnect`);
      assert.deepEqual(p.texts(), sent, `${p.user.name} got every message once, in order`);
    }
    assert.match(server.stderr(), /backend credentials changed/);
    // The new secret is in force without a restart.
    assert.deepEqual(await backend(server.baseUrl, NAME, ['k1', 's2'], 'Connect', ROOM, 1), { status: 200 });
    failed = false;
  } finally {
    for (const p of pages) p.close();
    if (failed) console.error(server.logTail(80));
    await server.stop({ failed });
    await db.drop();
  }
});
