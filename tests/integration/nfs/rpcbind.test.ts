// Proves the gateway registers NFS (v3, v4) and MOUNT on its one port with a real rpcbind, which rpcinfo then lists, and removes them at stop. It needs root, rpcbind and rpcinfo: without them it skips saying why, and under CI=true fails instead. It starts its own rpcbind on port 111, or uses the one already listening there.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { registerWithRpcbind, unregisterFromRpcbind } from '../../../src/nfs/rpcbind.js';
import { eventually } from '../helpers/processes.js';
import { skipWithout } from '../../helpers/requirements.js';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const rpcbindPath = spawnSync(
  'sh',
  ['-c', 'command -v rpcbind || ls /usr/sbin/rpcbind /sbin/rpcbind 2>/dev/null'],
  {
    encoding: 'utf8',
  },
)
  .stdout.trim()
  .split('\n')[0];
const missing =
  process.geteuid?.() !== 0
    ? 'not root (rpcbind takes registrations from root)'
    : rpcbindPath === undefined || rpcbindPath === ''
      ? 'rpcbind is not installed'
      : spawnSync('sh', ['-c', 'command -v rpcinfo']).status !== 0
        ? 'rpcinfo is not installed'
        : undefined;
const skipped = skipWithout('rpcbind and rpcinfo, as root (apt-get install rpcbind)', missing);

// Skipped only off CI, when not root or when rpcbind or rpcinfo is missing: the reason is printed;
// under CI=true skipWithout throws instead, so the file fails (.ci/run installs rpcbind).
describe.skipIf(skipped)('registration with rpcbind', () => {
  let rpcbind: ChildProcess | undefined;

  beforeAll(async () => {
    // An rpcbind already listening (the system's) serves as well as one of our own.
    if (await portOpen(111)) return;
    rpcbind = spawn(rpcbindPath as string, ['-f', '-w'], { stdio: 'ignore' });
    await eventually(async () => ((await portOpen(111)) ? true : undefined), 10_000, 'rpcbind to listen');
  });

  afterAll(() => {
    if (rpcbind?.pid !== undefined) process.kill(rpcbind.pid, 'SIGKILL');
  });

  it('lists NFS and MOUNT on the gateway port after registering, and neither after unregistering', async () => {
    const registrations = [
      { program: 100005, version: 3, port: 20491 },
      { program: 100003, version: 3, port: 20491 },
      { program: 100003, version: 4, port: 20491 },
    ];
    expect(await registerWithRpcbind(registrations, silentLogger())).toBe(true);
    const listed = execFileSync('rpcinfo', ['-p', '127.0.0.1'], { encoding: 'utf8' });
    expect(listed).toMatch(/100005\s+3\s+tcp\s+20491/);
    expect(listed).toMatch(/100003\s+3\s+tcp\s+20491/);
    expect(listed).toMatch(/100003\s+4\s+tcp\s+20491/);
    await unregisterFromRpcbind(registrations, silentLogger());
    expect(execFileSync('rpcinfo', ['-p', '127.0.0.1'], { encoding: 'utf8' })).not.toContain('20491');
  });
});
