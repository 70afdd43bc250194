// Proves that a service tells systemd it is ready (READY=1 on NOTIFY_SOCKET) and stops cleanly
// on SIGTERM with exit code 0. A python3 AF_UNIX datagram socket stands in for systemd's.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startMgmtd, writeMgmtdConfig } from '../helpers/mgmtd-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const listener = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
s.settimeout(20)
while True:
    data = s.recv(4096).decode()
    print(data, flush=True)
    if "STOPPING=1" in data:
        break
`;

describe('systemd notification', () => {
  let world: TestWorld;
  beforeEach(() => {
    world = new TestWorld();
  });
  afterEach(async () => {
    await world.cleanup();
  });

  it('sends READY=1 once serving and STOPPING=1 on SIGTERM, then exits 0', async () => {
    const dir = world.tempDir();
    const socketPath = join(dir, 'notify.sock');
    const python = spawn('python3', ['-c', listener, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    let received = '';
    const bound = new Promise<void>((resolve) =>
      python.stdout.on('data', (data: Buffer) => {
        received += data.toString();
        if (received.includes('bound')) resolve();
      }),
    );
    const done = new Promise<void>((resolve) => python.on('exit', () => resolve()));
    try {
      await bound;
      expect(existsSync(socketPath)).toBe(true);
      const config = writeMgmtdConfig({
        dir,
        nodeId: 1,
        secretFile: world.secretFile(dir),
        databasePath: join(dir, 'meta.db'),
      });
      const mgmtd = await startMgmtd(world, config, { NOTIFY_SOCKET: socketPath });
      await mgmtd.process.waitForLog((line) => line['msg'] === 'mgmtd ready');
      mgmtd.process.child.kill('SIGTERM');
      expect(await mgmtd.process.exited).toEqual({ code: 0, signal: null });
      await done;
      expect(received).toContain('READY=1');
      expect(received).toContain('STOPPING=1');
      expect(received.indexOf('READY=1')).toBeLessThan(received.indexOf('STOPPING=1'));
    } finally {
      python.kill('SIGKILL');
    }
  });
});
