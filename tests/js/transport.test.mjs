// socket.io transport end-to-end: polling, websocket, polling→websocket upgrade on both
// namespaces of a client; socket.io paths with and without sub_directory; unknown
// namespaces; HTTPS; the served browser bundle; CORS; Engine.IO handshake defaults.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';

import {
  clientCfg,
  connect,
  createTestDb,
  expectConnectError,
  freePort,
  httpRequest,
  iliasGet,
  makeCert,
  nextEvent,
  serverCfg,
  sleep,
  startServer,
  tempDir,
  test,
} from './harness.mjs';
import fs from 'node:fs';

const NAME = 'onscreen';
const KEY = 'k-0cdc8989-d5f0';
const SECRET = 's-f7471a0e-c454';
const NAMESPACES = [`/${NAME}`, `/${NAME}-im`];

/** One database + one server for a describe block. */
function fixture(serverOverrides = {}, { generation = 9, beforeStart } = {}) {
  const ctx = {};
  before(async () => {
    ctx.db = await createTestDb(generation);
    const extra = beforeStart ? beforeStart(ctx) : {};
    ctx.server = await startServer(
      serverCfg(await freePort(), { ...serverOverrides, ...extra }),
      [clientCfg(NAME, KEY, SECRET, ctx.db)],
    );
  });
  after(async () => {
    await ctx.server?.stop();
    await ctx.db?.drop();
  });
  return ctx;
}

/** Connect, run `fn(socket)`, always close. */
async function withSocket(baseUrl, ns, opts, fn) {
  const socket = await connect(baseUrl, ns, opts);
  try {
    assert.equal(socket.connected, true, 'socket.connected');
    await fn(socket);
  } finally {
    socket.close();
  }
}

async function assertPollingOnly(baseUrl, ns, opts = {}) {
  await withSocket(baseUrl, ns, { ...opts, transports: ['polling'] }, async (s) => {
    assert.equal(s.io.engine.transport.name, 'polling');
    // No upgrade may happen when only polling is allowed; give it a moment to try.
    await sleep(300);
    assert.equal(s.io.engine.transport.name, 'polling');
    assert.equal(s.connected, true);
  });
}

async function assertWebsocketOnly(baseUrl, ns, opts = {}) {
  await withSocket(baseUrl, ns, { ...opts, transports: ['websocket'] }, async (s) => {
    assert.equal(s.io.engine.transport.name, 'websocket');
  });
}

async function assertPollingThenUpgrade(baseUrl, ns, opts = {}) {
  await withSocket(baseUrl, ns, opts, async (s) => {
    assert.equal(s.e2e.initialTransport, 'polling', 'the client starts with polling');
    const upgradedTo = await Promise.race([
      s.e2e.upgraded,
      sleep(10000).then(() => 'no upgrade within 10 s'),
    ]);
    assert.equal(upgradedTo, 'websocket', 'upgrade event');
    assert.equal(s.io.engine.transport.name, 'websocket');
    assert.equal(s.connected, true, 'still connected after the upgrade');
  });
}

describe('default socket.io path (/socket.io), plain http', () => {
  const ctx = fixture();
  const base = () => ctx.server.baseUrl;

  for (const ns of NAMESPACES) {
    test(`${ns}: polling only`, () => assertPollingOnly(base(), ns));
    test(`${ns}: websocket only`, () => assertWebsocketOnly(base(), ns));
    test(`${ns}: default transports upgrade polling → websocket`, () =>
      assertPollingThenUpgrade(base(), ns));
    test(`${ns}: explicit path /socket.io works`, () =>
      assertPollingThenUpgrade(base(), ns, { path: '/socket.io' }));
  }

  test('several sockets of both namespaces at once', async () => {
    const sockets = await Promise.all([
      connect(base(), NAMESPACES[0]),
      connect(base(), NAMESPACES[1]),
      connect(base(), NAMESPACES[0], { transports: ['websocket'] }),
      connect(base(), NAMESPACES[1], { transports: ['polling'] }),
    ]);
    try {
      const ids = new Set(sockets.map((s) => s.id));
      assert.equal(ids.size, sockets.length, 'distinct socket ids');
      for (const s of sockets) assert.equal(s.connected, true);
    } finally {
      sockets.forEach((s) => s.close());
    }
  });

  test('an unknown namespace is refused with "Invalid namespace"', async () => {
    for (const transports of [['polling'], ['websocket']]) {
      const err = await expectConnectError(base(), '/nope', { transports });
      assert.equal(err.message, 'Invalid namespace', `${transports}: ${err}`);
    }
    // Not a client name either: the IM suffix alone, and a client name with a wrong case.
    for (const ns of ['/nope-im', `/${NAME.toUpperCase()}`]) {
      const err = await expectConnectError(base(), ns, { transports: ['polling'] });
      assert.equal(err.message, 'Invalid namespace', `${ns}: ${err}`);
    }
  });

  test('a connected socket stays connected', async () => {
    await withSocket(base(), NAMESPACES[1], {}, async (s) => {
      const gone = nextEvent(s, 'disconnect', 1500).then(
        (reason) => reason,
        () => null,
      );
      assert.equal(await gone, null, 'no disconnect');
    });
  });

  test('browser bundle is served at /socket.io/socket.io.js and .min.js', async () => {
    for (const file of ['socket.io.js', 'socket.io.min.js']) {
      const r = await httpRequest(`${base()}/socket.io/${file}`);
      assert.equal(r.status, 200, `${file}: status`);
      assert.match(String(r.headers['content-type']), /javascript/, `${file}: content-type`);
      assert.ok(r.body.includes('4.8'), `${file}: body mentions version 4.8`);
      assert.ok(r.body.length > 10000, `${file}: body looks like the bundle (${r.body.length} bytes)`);
    }
  });

  test('CORS: a polling handshake with an Origin gets that origin and credentials back', async () => {
    const origin = 'http://ilias.example';
    const r = await httpRequest(`${base()}/socket.io/?EIO=4&transport=polling&t=abc`, {
      headers: { Origin: origin },
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['access-control-allow-origin'], origin);
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
  });

  test('CORS: preflight for the polling POST is allowed', async () => {
    const origin = 'https://ilias.example:8443';
    const r = await httpRequest(`${base()}/socket.io/?EIO=4&transport=polling&t=abc`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    });
    assert.ok([200, 204].includes(r.status), `status ${r.status}`);
    assert.equal(r.headers['access-control-allow-origin'], origin);
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.match(String(r.headers['access-control-allow-methods']), /POST/);
  });

  test('Engine.IO v4 handshake advertises the socket.io 4 defaults', async () => {
    const r = await httpRequest(`${base()}/socket.io/?EIO=4&transport=polling&t=abc`);
    assert.equal(r.status, 200, r.body);
    assert.ok(r.body.startsWith('0{'), `open packet: ${r.body}`);
    const open = JSON.parse(r.body.slice(1));
    assert.equal(typeof open.sid, 'string');
    assert.deepEqual(open.upgrades, ['websocket']);
    assert.equal(open.pingInterval, 25000);
    assert.equal(open.pingTimeout, 20000);
    assert.equal(open.maxPayload, 1000000);
  });

  test('backend heartbeat is served next to socket.io', async () => {
    const r = await iliasGet(`${base()}/backend/Heartbeat/${NAME}`);
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { status: 200 });
  });
});

describe('sub_directory "/chat" (ILIAS 8 database)', () => {
  const ctx = fixture({ sub_directory: '/chat' }, { generation: 8 });
  const base = () => ctx.server.baseUrl;

  for (const ns of NAMESPACES) {
    // The ILIAS room client passes path = sub_directory; the on-screen chat passes
    // sub_directory + "/socket.io". Both must work, with every transport setup.
    for (const path of ['/chat', '/chat/socket.io']) {
      test(`${ns} at path ${path}: polling only`, () => assertPollingOnly(base(), ns, { path }));
      test(`${ns} at path ${path}: websocket only`, () => assertWebsocketOnly(base(), ns, { path }));
      test(`${ns} at path ${path}: polling → websocket upgrade`, () =>
        assertPollingThenUpgrade(base(), ns, { path }));
    }
  }

  test('/socket.io is not served when sub_directory is set', async () => {
    for (const transports of [['polling'], ['websocket']]) {
      const err = await expectConnectError(base(), NAMESPACES[0], { path: '/socket.io', transports });
      assert.ok(err instanceof Error, String(err));
    }
    const r = await httpRequest(`${base()}/socket.io/?EIO=4&transport=polling&t=x`);
    assert.notEqual(r.status, 200, `GET /socket.io/?EIO=4... answered ${r.status} ${r.body}`);
  });

  test('the browser bundle is served below the socket.io path', async () => {
    const r = await httpRequest(`${base()}/chat/socket.io/socket.io.js`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /javascript/);
    assert.ok(r.body.includes('4.8'));
  });

  test('/backend stays at the root (sub_directory does not apply to it)', async () => {
    const r = await iliasGet(`${base()}/backend/Heartbeat/${NAME}`);
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { status: 200 });
  });
});

describe('https with a self-signed certificate and DH parameters', () => {
  const certDir = tempDir('ilias-chat-js-tls-');
  const ctx = fixture(
    { protocol: 'https' },
    { beforeStart: () => makeCert(certDir, { dhparam: true }) },
  );
  after(() => fs.rmSync(certDir, { recursive: true, force: true }));
  const base = () => ctx.server.baseUrl;

  test('base URL is https', () => {
    assert.ok(base().startsWith('https://'), base());
  });

  test('heartbeat over https', async () => {
    const r = await iliasGet(`${base()}/backend/Heartbeat/${NAME}`);
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { status: 200 });
  });

  test('authenticated backend call over https', async () => {
    const ok = await iliasGet(`${base()}/backend/Connect/${NAME}/1/6`, [KEY, SECRET]);
    assert.deepEqual(JSON.parse(ok.body), { status: 200 });
    const denied = await iliasGet(`${base()}/backend/Connect/${NAME}/1/6`, [KEY, 'wrong']);
    assert.deepEqual(JSON.parse(denied.body), { status: 403, message: 'Access denied' });
  });

  for (const ns of NAMESPACES) {
    test(`${ns}: polling only over https`, () => assertPollingOnly(base(), ns));
    test(`${ns}: websocket only over https`, () => assertWebsocketOnly(base(), ns));
    test(`${ns}: polling → websocket upgrade over https`, () => assertPollingThenUpgrade(base(), ns));
  }

  test('plain http on the https port does not get a chat answer', async () => {
    const r = await httpRequest(`http://127.0.0.1:${ctx.server.port}/backend/Heartbeat/${NAME}`).catch(
      (e) => ({ error: e }),
    );
    assert.ok(r.error || r.status !== 200 || !r.body.includes('"status":200'), JSON.stringify(r));
  });
});

describe('https with a PKCS#1 RSA key and an empty dhparam (ILIAS 10 database)', () => {
  const certDir = tempDir('ilias-chat-js-tls-');
  const ctx = fixture(
    { protocol: 'https' },
    { generation: 10, beforeStart: () => makeCert(certDir, { keyFormat: 'pkcs1' }) },
  );
  after(() => fs.rmSync(certDir, { recursive: true, force: true }));
  const base = () => ctx.server.baseUrl;

  test('heartbeat, polling and websocket over https', async () => {
    const r = await iliasGet(`${base()}/backend/Heartbeat/${NAME}`);
    assert.deepEqual(JSON.parse(r.body), { status: 200 });
    await assertPollingOnly(base(), NAMESPACES[0]);
    await assertWebsocketOnly(base(), NAMESPACES[1]);
  });
});
