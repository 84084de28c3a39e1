// Helpers of the "nobody is dropped" tests and benchmarks (reconnect.test.mjs,
// restart.test.mjs, reload-load.test.mjs, bench/resume.mjs): ILIAS pages emulated with
// the real socket.io-client and reconnection on (as ILIAS uses it), and a socket keeper
// that plays systemd's ilias-chat.socket so a daemon can be restarted on the same
// listening socket.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

import { io } from 'socket.io-client';

import { REPO, httpRequest, requireServerBinary, serverEnv, sleep } from './harness.mjs';

/** Waits until `cond()` is true, polling every `everyMs`; throws `what` after `timeoutMs`. */
export async function waitUntil(cond, { timeoutMs = 10000, everyMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * A repository chat-room page of ILIAS 9/10: on every `connect` it sends `login`, on
 * `loggedIn` it sends `enterRoom`; `shutdown` closes the socket (ILIAS then redirects
 * away). Counts what a person would notice.
 */
export class RoomPage {
  constructor(base, name, user, room, opts = {}) {
    this.user = user;
    this.room = room;
    this.connects = 0;
    this.loggedIn = 0;
    this.entered = 0;
    this.disconnects = 0;
    this.shutdowns = 0;
    this.connectErrors = 0;
    this.messages = [];
    this.notices = [];
    this.socket = io(`${base}/${name}`, {
      forceNew: true,
      reconnection: true,
      transports: ['websocket'],
      ...opts,
    });
    const s = this.socket;
    s.on('connect', () => {
      this.connects++;
      s.emit('login', user.name, user.id);
    });
    s.on('loggedIn', () => {
      this.loggedIn++;
      s.emit('enterRoom', room);
    });
    s.on('private_room_entered', () => this.entered++);
    s.on('disconnect', () => this.disconnects++);
    s.on('connect_error', () => this.connectErrors++);
    s.on('shutdown', () => {
      this.shutdowns++;
      s.close();
    });
    s.on('message', (m) => this.messages.push(m));
    s.on('notice', (n) => this.notices.push(n));
  }

  /** Sends a chat message (buffered by socket.io-client while disconnected). */
  say(content) {
    this.socket.emit('message', { content, format: {} }, this.room);
  }

  /** Contents of the messages received, in order. */
  texts() {
    return this.messages.map((m) => m.content);
  }

  noticesOf(content) {
    return this.notices.filter((n) => n.content === content);
  }

  close() {
    this.socket.close();
  }
}

/** An on-screen chat page: `login(id, name)` on every connect. */
export class OscPage {
  constructor(base, name, user, opts = {}) {
    this.user = user;
    this.connects = 0;
    this.logins = 0;
    this.disconnects = 0;
    this.shutdowns = 0;
    this.messages = [];
    this.conversations = [];
    this.socket = io(`${base}/${name}-im`, {
      forceNew: true,
      reconnection: true,
      transports: ['websocket'],
      ...opts,
    });
    const s = this.socket;
    s.on('connect', () => {
      this.connects++;
      s.emit('login', user.id, user.name);
    });
    s.on('login', () => this.logins++);
    s.on('disconnect', () => this.disconnects++);
    s.on('shutdown', () => this.shutdowns++);
    s.on('message', (m) => this.messages.push(m));
    s.on('conversation-init', (c) => this.conversations.push(c));
    s.on('conversation', (c) => this.conversations.push(c));
  }

  close() {
    this.socket.close();
  }
}

/** GET /backend/<action>/<name>/<segments> with Basic auth; resolves the JSON body. */
export async function backend(base, name, auth, action, ...segments) {
  const url = `${base}/backend/${action}/${name}/${segments.join('/')}`;
  const r = await httpRequest(url, {
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
    auth,
  });
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

/** What PHP does when a user opens a room page: the row, Connect, EnterPrivateRoom. */
export async function phpEntersRoom(db, base, name, auth, room, user) {
  await db.query(
    'REPLACE INTO chatroom_users (room_id, user_id, userdata, connected) VALUES (?, ?, ?, ?)',
    [room, user.id, JSON.stringify({ login: user.name, id: user.id }), Math.floor(Date.now() / 1000)],
  );
  await backend(base, name, auth, 'Connect', room, user.id);
  const r = await backend(base, name, auth, 'EnterPrivateRoom', room, user.id);
  if (!r.success) throw new Error(`EnterPrivateRoom ${room}/${user.id}: ${JSON.stringify(r)}`);
}

/** Resolves once GET /backend/Heartbeat/<name> answers 200. */
export async function waitHeartbeat(base, name, timeoutMs = 20000) {
  await waitUntil(
    async () => {
      try {
        return (await httpRequest(`${base}/backend/Heartbeat/${name}`, { timeoutMs: 2000 })).status === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs, everyMs: 50, what: `Heartbeat of ${base}` },
  );
}

/**
 * `tests/js/socket-keeper.pl` holding 127.0.0.1:`port`: `launch()` starts the daemon
 * (`args` after the binary) on the socket, `terminate(pid)` sends SIGTERM and waits for
 * the exit status. `close()` ends the keeper and every daemon still running.
 */
export class Keeper {
  static async start(port, args, { env = {}, log }) {
    const keeper = new Keeper();
    keeper.log = log;
    keeper.exits = new Map();
    keeper.waiters = [];
    keeper.live = new Set();
    const bin = requireServerBinary();
    keeper.child = spawn('perl', [path.join(REPO, 'tests', 'js', 'socket-keeper.pl'), String(port), bin, ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: serverEnv(env),
    });
    const lines = readline.createInterface({ input: keeper.child.stdout });
    lines.on('line', (line) => {
      const [word, a, b] = line.split(' ');
      if (word === 'exited') {
        keeper.live.delete(Number(a));
        keeper.exits.set(Number(a), Number(b));
      }
      keeper.waiters = keeper.waiters.filter((w) => !w(word, a, b));
    });
    await keeper.next((word) => word === 'listening', 10000, 'the keeper listening');
    return keeper;
  }

  next(match, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socket keeper: no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((word, a, b) => {
        if (!match(word, a, b)) return false;
        clearTimeout(timer);
        resolve([word, a, b]);
        return true;
      });
    });
  }

  /** Starts a daemon on the kept socket; resolves its pid. */
  async launch() {
    const started = this.next((word) => word === 'started', 10000, 'started line');
    this.child.stdin.write(`start ${this.log}\n`);
    const [, pid] = await started;
    this.live.add(Number(pid));
    return Number(pid);
  }

  /** SIGTERM to a daemon; resolves its wait status (0 = exit 0). */
  async terminate(pid, timeoutMs = 30000) {
    const exited = this.exits.has(pid)
      ? Promise.resolve()
      : this.next((word, a) => word === 'exited' && Number(a) === pid, timeoutMs, `exit of ${pid}`);
    process.kill(pid, 'SIGTERM');
    await exited;
    return this.exits.get(pid);
  }

  logText() {
    try {
      return fs.readFileSync(this.log, 'utf8');
    } catch {
      return '';
    }
  }

  async close() {
    for (const pid of this.live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.child.stdin.end();
    await Promise.race([new Promise((r) => this.child.once('exit', r)), sleep(3000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
