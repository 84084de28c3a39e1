// End-to-end harness for ilias-chat: per-test MariaDB databases, the real binary with
// generated server.cfg/client.cfg, and the socket.io client that ILIAS 9 ships.
//
// Environment:
//   ILIAS_CHAT_BIN                 binary under test (default <repo>/target/debug/ilias-chat)
//   ILIAS_CHAT_TEST_DATABASE_URL   mysql://user:pass@host:port (default mysql://root@127.0.0.1:3306)
//   ILIAS_CHAT_TEST_KEEP=1         keep temp dirs and databases
//
// tests/run.sh sets all of this up; see there.

import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test as nodeTest } from 'node:test';
import { fileURLToPath } from 'node:url';

import mysql from 'mysql2/promise';
import { io } from 'socket.io-client';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCHEMA_DIR = path.join(REPO, 'tests', 'fixtures', 'schema');
export const DEFAULT_DATABASE_URL = 'mysql://root@127.0.0.1:3306';
const KEEP = process.env.ILIAS_CHAT_TEST_KEEP === '1';

let counter = 0;
const uniqueSuffix = () =>
  `${process.pid}_${counter++}_${crypto.randomBytes(4).toString('hex')}`;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------

export function testDatabaseUrl() {
  const v = (process.env.ILIAS_CHAT_TEST_DATABASE_URL || '').trim();
  return v || DEFAULT_DATABASE_URL;
}

/** `mysql://user:pass@host:port` → {host, port, user, password}. */
export function parseDbUrl(url) {
  const u = new URL(url);
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') {
    throw new Error(`ILIAS_CHAT_TEST_DATABASE_URL=${url}: expected mysql://user:pass@host:port`);
  }
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password || ''),
  };
}

async function adminConnection(extra = {}, url = testDatabaseUrl()) {
  const srv = parseDbUrl(url);
  try {
    return await mysql.createConnection({
      host: srv.host,
      port: srv.port,
      user: srv.user,
      password: srv.password,
      connectTimeout: 10000,
      charset: 'utf8mb4_unicode_ci',
      ...extra,
    });
  } catch (e) {
    throw new Error(
      `The e2e tests need a MariaDB/MySQL server and cannot reach ` +
        `mysql://${srv.user}@${srv.host}:${srv.port}: ${e.message}\n` +
        `Start one (root without password on 127.0.0.1:3306 is the default), set ` +
        `ILIAS_CHAT_TEST_DATABASE_URL=mysql://user:pass@host:port, or run ` +
        `\`bash tests/run.sh\`, which provisions a throwaway MariaDB.`,
    );
  }
}

/**
 * A fresh database `ilias_chat_t_<pid>_<n>_<random>` with the ILIAS `generation` (8, 9,
 * 10 or 11) schema from tests/fixtures/schema, on the test database server or the one at
 * `url` (a string, or `{url, charset}`). `charset: 'utf8mb3'` builds it with 3-byte utf8
 * tables, as many ILIAS installations still have. Call `drop()` when done.
 */
export async function createTestDb(generation = 9, options = {}) {
  const { charset = 'utf8mb4', url = testDatabaseUrl() } =
    typeof options === 'string' ? { url: options } : options;
  if (![8, 9, 10, 11].includes(generation)) throw new Error(`no schema for ILIAS ${generation}`);
  if (!['utf8mb4', 'utf8mb3'].includes(charset)) throw new Error(`no ${charset} variant`);
  const srv = parseDbUrl(url);
  const name = `ilias_chat_t_${uniqueSuffix()}`;
  const conn = await adminConnection({ multipleStatements: true }, url);
  await conn.query(
    `CREATE DATABASE \`${name}\` CHARACTER SET ${charset} COLLATE ${charset}_unicode_ci`,
  );
  const db = {
    name,
    generation,
    host: srv.host,
    port: srv.port,
    user: srv.user,
    password: srv.password,
    conn,
    /** Runs SQL on this database; returns rows (mysql2 `query`). */
    async query(sql, params) {
      const [rows] = await conn.query(sql, params);
      return rows;
    },
    /** The `database` section of a client.cfg, as ILIAS writes it. */
    clientCfgDatabase() {
      return {
        type: 'mysql',
        host: srv.host,
        port: srv.port,
        name,
        user: srv.user,
        pass: srv.password,
      };
    },
    async drop() {
      try {
        if (!KEEP) await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
        else console.error(`ILIAS_CHAT_TEST_KEEP=1: keeping database ${name}`);
      } finally {
        await conn.end().catch(() => {});
      }
    },
  };
  try {
    await conn.query(`USE \`${name}\``);
    let schema = fs.readFileSync(path.join(SCHEMA_DIR, `ilias${generation}.sql`), 'utf8');
    if (charset !== 'utf8mb4') {
      // The tables only; the connection keeps speaking utf8mb4, as the server's does.
      schema = schema.replace(/CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci/g, `CHARSET=${charset} COLLATE=${charset}_unicode_ci`).replace(/CHARSET=utf8mb4;/g, `CHARSET=${charset};`);
    }
    await conn.query(schema);
  } catch (e) {
    await db.drop();
    throw e;
  }
  return db;
}

// ---------------------------------------------------------------------------
// Configs
// ---------------------------------------------------------------------------

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** server.cfg as the ILIAS setup writes it (every key; http on 127.0.0.1; log_level debug). */
export function serverCfg(port, overrides = {}) {
  return {
    address: '127.0.0.1',
    port,
    sub_directory: '',
    protocol: 'http',
    cert: '',
    key: '',
    dhparam: '',
    log: '',
    log_level: 'debug',
    error_log: '',
    deletion_mode: 0,
    deletion_unit: '',
    deletion_value: 0,
    deletion_time: '',
    ...overrides,
  };
}

/** client.cfg as the ILIAS admin GUI writes it. */
export function clientCfg(name, key, secret, db, overrides = {}) {
  return {
    name,
    enable_osc: true,
    enable_browser_notifications: false,
    conversation_idle_state_in_minutes: 1,
    chat_enabled: true,
    enable_smilies: false,
    auth: { key, secret },
    database: db.clientCfgDatabase(),
    ...overrides,
  };
}

/** A temp dir `ilias-chat-js-*`. */
export function tempDir(prefix = 'ilias-chat-js-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Self-signed certificate for 127.0.0.1/localhost made with the openssl CLI.
 * `keyFormat`: 'pkcs8' (BEGIN PRIVATE KEY) or 'pkcs1' (BEGIN RSA PRIVATE KEY).
 * `dhparam`: true to also write DH parameters (as ILIAS admins configure them).
 */
export function makeCert(dir, { keyFormat = 'pkcs8', dhparam = false } = {}) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const run = (args) => {
    try {
      execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60000 });
    } catch (e) {
      throw new Error(`openssl ${args.join(' ')} failed (is the openssl CLI installed?): ${e.stderr || e.message}`);
    }
  };
  run([
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ]);
  let keyPath = key;
  if (keyFormat === 'pkcs1') {
    keyPath = path.join(dir, 'key-rsa.pem');
    run(['rsa', '-in', key, '-traditional', '-out', keyPath]);
    if (!fs.readFileSync(keyPath, 'utf8').includes('BEGIN RSA PRIVATE KEY')) {
      throw new Error('openssl did not write a PKCS#1 key');
    }
  }
  let dh = '';
  if (dhparam) {
    dh = path.join(dir, 'dhparam.pem');
    run(['dhparam', '-dsaparam', '-out', dh, '2048']);
  }
  return { cert, key: keyPath, dhparam: dh };
}

// ---------------------------------------------------------------------------
// HTTP(S) client
// ---------------------------------------------------------------------------

/**
 * One request; resolves {status, headers, body}. `url` is absolute. TLS certificates
 * are not verified (self-signed test certs). Times out after `timeoutMs`.
 */
export function httpRequest(url, { method = 'GET', headers = {}, auth, body, timeoutMs = 10000 } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  const h = { Connection: 'close', ...headers };
  if (auth) h.Authorization = 'Basic ' + Buffer.from(`${auth[0]}:${auth[1]}`).toString('base64');
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      { method, headers: h, rejectUnauthorized: false, agent: false, timeout: timeoutMs },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** GET like ILIAS PHP (JSON content type, Connection: close, optional Basic auth). */
export function iliasGet(url, auth) {
  return httpRequest(url, {
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
    auth,
  });
}

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

export function serverBinary() {
  return process.env.ILIAS_CHAT_BIN || path.join(REPO, 'target', 'debug', 'ilias-chat');
}

/** serverBinary(), or an error that says how to build it. */
export function requireServerBinary() {
  const bin = serverBinary();
  if (!fs.existsSync(bin)) {
    throw new Error(`server binary ${bin} not found: run \`cargo build\` or set ILIAS_CHAT_BIN`);
  }
  return bin;
}

/**
 * The environment of a server under test: ours plus RUST_BACKTRACE=1 and `extra`, without
 * the systemd variables (socket activation, notify, watchdog, journal) of the test runner.
 */
export function serverEnv(extra = {}) {
  const env = { ...process.env, RUST_BACKTRACE: '1', ...extra };
  for (const v of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'JOURNAL_STREAM']) {
    delete env[v];
  }
  return env;
}

/**
 * Watches `child` for its end: returns {exitPromise, exited()}; both give
 * {code, signal} or {error} (null from exited() while it runs).
 */
function watchExit(child) {
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve((exited = { code, signal })));
    child.on('error', (error) => resolve((exited = { error })));
  });
  return { exitPromise, exited: () => exited };
}

const liveServers = new Set();

/**
 * Starts the binary with SERVER_CFG CLIENT_CFG... (files in a fresh temp dir, which is
 * also the cwd) and waits until GET /backend/Heartbeat/<first name> answers 200.
 * Options: `env` (extra environment variables), `dirPrefix` (of the temp dir),
 * `timeoutMs`. As root it passes `--user root`. The handle has `baseUrl`, `port`, `dir`,
 * `child`, `exited`, `exitPromise`, `stderr()`, `stdout()`, `logs()`, `logTail(lines)`
 * and `stop({failed})` (SIGKILL if still running; removes the dir unless `failed` or
 * ILIAS_CHAT_TEST_KEEP=1).
 */
export async function startServer(
  serverConfig,
  clientConfigs,
  { timeoutMs = 20000, env = {}, dirPrefix = 'ilias-chat-js-srv-' } = {},
) {
  const bin = requireServerBinary();
  const dir = tempDir(dirPrefix);
  const serverPath = path.join(dir, 'server.cfg');
  fs.writeFileSync(serverPath, JSON.stringify(serverConfig, null, 4) + '\n');
  const clientPaths = clientConfigs.map((c, i) => {
    const p = path.join(dir, `client${i}.cfg`);
    fs.writeFileSync(p, JSON.stringify(c, null, 4) + '\n');
    return p;
  });
  const stdoutPath = path.join(dir, 'stdout.log');
  const stderrPath = path.join(dir, 'stderr.log');
  const outFd = fs.openSync(stdoutPath, 'w');
  const errFd = fs.openSync(stderrPath, 'w');
  // Tests run as root in CI; without a service user the server would refuse to start
  // (it drops root to `onscreenchat` by default).
  const asRoot = process.getuid?.() === 0 ? ['--user', 'root'] : [];
  // Journal and snapshot stay in the test's directory (STATE_DIRECTORY below, which a
  // test may set itself), never in /var/lib/ilias-chat.
  const child = spawn(bin, [...asRoot, serverPath, ...clientPaths], {
    cwd: dir,
    stdio: ['ignore', outFd, errFd],
    env: serverEnv({ STATE_DIRECTORY: path.join(dir, 'state'), ...env }),
  });
  fs.closeSync(outFd);
  fs.closeSync(errFd);
  const { exitPromise, exited } = watchExit(child);
  const protocol = serverConfig.protocol === 'https' ? 'https' : 'http';
  const port = Number(serverConfig.port);
  const names = clientConfigs.map((c) => c.name);
  const server = {
    port,
    protocol,
    dir,
    names,
    child,
    exitPromise,
    baseUrl: `${protocol}://127.0.0.1:${port}`,
    get exited() {
      return exited();
    },
    stderr: () => readOr(stderrPath),
    stdout: () => readOr(stdoutPath),
    logs() {
      const out = readOr(stdoutPath);
      return (
        `----- ilias-chat stderr (${stderrPath}) -----\n${readOr(stderrPath)}` +
        (out ? `----- ilias-chat stdout -----\n${out}` : '') +
        `----- end of ilias-chat output -----`
      );
    },
    /** The end of the log plus every warning/error line (full log in `dir` with ILIAS_CHAT_TEST_KEEP=1). */
    logTail(lines = 60) {
      // eslint-disable-next-line no-control-regex
      const strip = (l) => l.replace(/\x1b\[[0-9;]*m/g, '');
      const all = (readOr(stderrPath) + readOr(stdoutPath)).split('\n').map(strip);
      const warn = all.filter((l) => /WARN|ERROR|panic/i.test(l)).slice(-40);
      return (
        `----- ilias-chat warnings/errors (last 40) -----\n${warn.join('\n')}\n` +
        `----- ilias-chat log tail (${dir}) -----\n${all.slice(-lines).join('\n')}\n----- end -----`
      );
    },
    async stop({ failed = false } = {}) {
      liveServers.delete(server);
      if (!exited()) {
        child.kill('SIGKILL');
        await Promise.race([exitPromise, sleep(5000)]);
      }
      if (failed || KEEP) console.error(`keeping ${dir}`);
      else fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  liveServers.add(server);

  const probe = `${server.baseUrl}/backend/Heartbeat/${encodeURIComponent(names[0] ?? 'probe')}`;
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    if (exited()) {
      await server.stop({ failed: true });
      throw new Error(`ilias-chat exited during startup (${JSON.stringify(exited())})\n${server.logs()}`);
    }
    try {
      const r = await httpRequest(probe, { timeoutMs: 2000 });
      if (r.status === 200) return server;
      last = `HTTP ${r.status} ${r.body}`;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) {
      await server.stop({ failed: true });
      throw new Error(`ilias-chat did not answer ${probe} within ${timeoutMs} ms (last: ${last})\n${server.logs()}`);
    }
    await sleep(100);
  }
}

/** The line `--demo` prints on stdout once it listens on 127.0.0.1:`port`. */
export function demoUrlLine(port) {
  return `ilias-chat demo: open http://127.0.0.1:${port}/demo/ in two browser tabs (Ctrl-C stops)`;
}

/**
 * Starts `ilias-chat --demo --state-dir <tmp>/state --listen 127.0.0.1:<free port>`
 * and waits until its stdout carries the URL line (`demoUrlLine`). The returned handle
 * has `baseUrl`, `stateDir`, `stdout()`, `logs()`, `exited`, `waitExit(ms)` (resolves
 * the exit status or null on timeout), `signal(name)` and `stop()` (SIGKILL if still
 * running, removes the temp dir unless the test failed or ILIAS_CHAT_TEST_KEEP=1).
 * While it runs, `test()` failures carry its output.
 */
export async function startDemo({ timeoutMs = 20000, args = [] } = {}) {
  const bin = requireServerBinary();
  const port = await freePort();
  const dir = tempDir('ilias-chat-js-demo-');
  const stateDir = path.join(dir, 'state');
  const stderrPath = path.join(dir, 'stderr.log');
  const errFd = fs.openSync(stderrPath, 'w');
  const child = spawn(
    bin,
    ['--demo', '--state-dir', stateDir, '--listen', `127.0.0.1:${port}`, ...args],
    { cwd: dir, stdio: ['ignore', 'pipe', errFd], env: serverEnv() },
  );
  fs.closeSync(errFd);
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  const { exitPromise, exited } = watchExit(child);
  const demo = {
    port,
    dir,
    stateDir,
    child,
    baseUrl: `http://127.0.0.1:${port}`,
    get exited() {
      return exited();
    },
    stdout: () => stdout,
    stderr: () => readOr(stderrPath),
    logs() {
      return (
        `----- ilias-chat --demo stderr (${stderrPath}) -----\n${readOr(stderrPath)}` +
        (stdout ? `----- ilias-chat --demo stdout -----\n${stdout}` : '') +
        `----- end of ilias-chat --demo output -----`
      );
    },
    signal(name) {
      if (!exited()) child.kill(name);
    },
    async waitExit(ms) {
      let timer;
      const t = new Promise((r) => (timer = setTimeout(() => r(null), ms)));
      try {
        return await Promise.race([exitPromise, t]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop({ failed = false } = {}) {
      liveServers.delete(demo);
      if (!exited()) {
        child.kill('SIGKILL');
        await Promise.race([exitPromise, sleep(5000)]);
      }
      if (failed || KEEP) console.error(`keeping ${dir}`);
      else fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  liveServers.add(demo);

  const line = demoUrlLine(port);
  const deadline = Date.now() + timeoutMs;
  while (!stdout.split('\n').includes(line)) {
    if (exited()) {
      await demo.stop({ failed: true });
      throw new Error(`ilias-chat --demo exited during startup (${JSON.stringify(exited())})\n${demo.logs()}`);
    }
    if (Date.now() > deadline) {
      await demo.stop({ failed: true });
      throw new Error(`ilias-chat --demo did not print ${JSON.stringify(line)} within ${timeoutMs} ms\n${demo.logs()}`);
    }
    await sleep(50);
  }
  return demo;
}

function readOr(p) {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/**
 * node:test `test()` whose failure message carries the output of every server that is
 * running at that moment (the server's log is the first thing one needs).
 */
export function test(name, options, fn) {
  if (typeof options === 'function') {
    fn = options;
    options = {};
  }
  return nodeTest(name, options, async (t) => {
    try {
      return await fn(t);
    } catch (e) {
      const logs = [...liveServers].map((s) => s.logs()).join('\n');
      if (!logs) throw e;
      const err = new Error(`${e && e.message}\n${logs}`, { cause: e });
      throw err;
    }
  });
}

// ---------------------------------------------------------------------------
// socket.io client
// ---------------------------------------------------------------------------

/**
 * Connects a socket.io client to `baseUrl + namespace` (a fresh Manager, no
 * reconnection). Resolves with the socket on `connect`, rejects with the error of
 * `connect_error` (socket closed) or on timeout. Records on `socket.e2e` the transport
 * the engine started with and a promise of the transport it upgraded to.
 */
export function connect(baseUrl, namespace, opts = {}) {
  const { timeoutMs = 10000, ...rest } = opts;
  const socket = io(baseUrl + namespace, {
    forceNew: true,
    reconnection: false,
    timeout: timeoutMs,
    rejectUnauthorized: false,
    ...rest,
  });
  const engine = socket.io.engine;
  socket.e2e = {
    initialTransport: engine?.transport?.name,
    upgraded: engine
      ? new Promise((resolve) => engine.once('upgrade', (tr) => resolve(tr.name)))
      : Promise.resolve(undefined),
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`connect ${baseUrl}${namespace} (${JSON.stringify(rest)}): no connect/connect_error in ${timeoutMs + 2000} ms`));
    }, timeoutMs + 2000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
}

/**
 * Resolves with the payload of the next `name` event on `emitter` (the argument, or the
 * array of arguments when there are several); rejects after `timeoutMs`.
 */
export function nextEvent(emitter, name, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const handler = (...args) => {
      clearTimeout(timer);
      resolve(args.length <= 1 ? args[0] : args);
    };
    const timer = setTimeout(() => {
      emitter.off(name, handler);
      reject(new Error(`no '${name}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.once(name, handler);
  });
}

/** Resolves true if `promise` settles within `ms`, else false (never rejects). */
export async function within(promise, ms) {
  let timer;
  const t = new Promise((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), t]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Expects the connection to fail; resolves with the connect_error (fails the test if it
 * connects).
 */
export async function expectConnectError(baseUrl, namespace, opts = {}) {
  let socket;
  try {
    socket = await connect(baseUrl, namespace, opts);
  } catch (err) {
    return err;
  }
  socket.close();
  throw new Error(`expected ${baseUrl}${namespace} (${JSON.stringify(opts)}) to be refused, but it connected`);
}
