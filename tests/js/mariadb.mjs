// A mariadbd of a test's (or benchmark's) own: its own datadir, socket and port on
// 127.0.0.1, never the machine's shared server, so that it can be killed (kill -9),
// frozen (SIGSTOP) and restarted during a chat. Needs Debian's mariadb-server package
// (mariadbd, mariadb-install-db); fails, never skips, without it.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { freePort, sleep } from './harness.mjs';

function findTool(name) {
  const dirs = [...(process.env.PATH || '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  throw new Error(`${name} is missing: install Debian's mariadb-server package (apt-get install mariadb-server)`);
}

const canConnect = (port) =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

/**
 * Initialises a datadir and starts mariadbd on a free port. The handle has `port`,
 * `url` (mysql://root@127.0.0.1:<port>), `kill()` (SIGKILL, waits for the exit),
 * `freeze()`/`thaw()` (SIGSTOP/SIGCONT), `restart()` (same datadir and port) and
 * `stop()` (kills it and removes the datadir).
 */
export async function startThrowawayMariaDb() {
  const mariadbd = findTool('mariadbd');
  const installDb = findTool('mariadb-install-db');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilias-chat-mariadb-'));
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  execFileSync(
    installDb,
    ['--no-defaults', `--datadir=${dir}/data`, ...asRoot, '--auth-root-authentication-method=normal', '--skip-test-db'],
    { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 },
  );
  const port = await freePort();
  let child = null;
  let exited = null;
  const launch = async () => {
    exited = null;
    child = spawn(
      mariadbd,
      [
        '--no-defaults', `--datadir=${dir}/data`, `--socket=${dir}/mysqld.sock`, `--pid-file=${dir}/mysqld.pid`,
        `--port=${port}`, `--log-error=${dir}/error.log`, '--bind-address=127.0.0.1', '--skip-networking=0',
        '--skip-log-bin', '--innodb-buffer-pool-size=64M', '--max-connections=200',
        '--character-set-server=utf8mb4', '--collation-server=utf8mb4_unicode_ci', ...asRoot,
      ],
      { stdio: 'ignore' },
    );
    const ended = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exited = { code, signal }))));
    child.ended = ended;
    const deadline = Date.now() + 60000;
    while (!(await canConnect(port))) {
      if (exited) throw new Error(`mariadbd exited (${JSON.stringify(exited)}):\n${errorLog()}`);
      if (Date.now() > deadline) throw new Error(`mariadbd did not listen within 60 s:\n${errorLog()}`);
      await sleep(100);
    }
  };
  const errorLog = () => {
    try {
      return fs.readFileSync(`${dir}/error.log`, 'utf8');
    } catch {
      return '';
    }
  };
  await launch();
  const db = {
    port,
    url: `mysql://root@127.0.0.1:${port}`,
    errorLog,
    get pid() {
      return child?.pid;
    },
    async kill() {
      if (child && !exited) {
        child.kill('SIGKILL');
        await child.ended;
      }
    },
    freeze() {
      child.kill('SIGSTOP');
    },
    thaw() {
      child.kill('SIGCONT');
    },
    async restart() {
      await db.kill();
      await launch();
    },
    async stop() {
      if (child && !exited) {
        child.kill('SIGCONT');
        await db.kill();
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return db;
}
