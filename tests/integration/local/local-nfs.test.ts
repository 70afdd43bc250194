// Proves that `3fs local --nfs PORT` serves the cluster over NFS on that port of 127.0.0.1 (MOUNT and NFSv3 and NFSv4 on the one port, as libnfs reaches them), says so in its summary, and stops the gateway with the rest on SIGINT.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { libnfsSkipReason } from '../helpers/nfs-gateway.js';
import { TestWorld, eventually, type RunningProcess } from '../helpers/processes.js';
import { Nfs3Client } from '../nfs/nfs3-client.js';
import { alive, freeBasePort } from './local-run.js';

const skipReason = libnfsSkipReason();

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function nfsLs(url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('nfs-ls', [url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(skipReason !== undefined)('3fs local --nfs', () => {
  let world: TestWorld;
  let running: RunningProcess | undefined;
  const childPids = new Set<number>();

  beforeEach(() => {
    world = new TestWorld();
  });

  afterEach(async () => {
    if (running !== undefined && running.child.exitCode === null) {
      running.child.kill('SIGINT');
      const timer = setTimeout(() => running?.child.kill('SIGKILL'), 30_000);
      await running.exited;
      clearTimeout(timer);
    }
    for (const pid of childPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await world.cleanup();
  }, 60_000);

  it('serves NFS on the port it was given and stops it on SIGINT', async () => {
    const data = world.tempDir('3fs-local-nfs-');
    const port = await freePort();
    const local = world.spawnBinary('3fs', [
      'local',
      '--data',
      data,
      '--mgmtd-port',
      String(await freeBasePort()),
      '--nfs',
      String(port),
    ]);
    running = local;
    await eventually(
      async () => {
        if (local.child.exitCode !== null)
          throw new Error(`3fs local exited: ${local.stderr().slice(-3000)}`);
        return local.stdout().includes('is up') ? true : undefined;
      },
      90_000,
      '3fs local to come up',
    );
    for (const line of local.stderr().split('\n')) {
      const match = /"pid":(\d+)/.exec(line);
      if (match !== null) childPids.add(Number(match[1]));
    }
    expect(local.stdout()).toContain(`nfs:     127.0.0.1:${port}`);

    const client = await Nfs3Client.connect(port);
    try {
      const root = await client.mount('/');
      expect(root.status).toBe(0);
      expect((await client.mkdir(root.handle as Buffer, 'made-over-nfs')).status).toBe(0);
    } finally {
      client.close();
    }
    for (const version of [3, 4]) {
      const listing = await nfsLs(`nfs://127.0.0.1/?version=${version}&nfsport=${port}&mountport=${port}`);
      expect(listing.code, listing.stderr).toBe(0);
      expect(listing.stdout).toContain('made-over-nfs');
    }

    local.child.kill('SIGINT');
    const { code } = await local.exited;
    expect(local.stdout()).toContain('local cluster stopped\n');
    expect(code).toBe(0);
    await eventually(
      async () => ([...childPids].every((pid) => !alive(pid)) ? true : undefined),
      10_000,
      'every service to be gone',
    );
  });
});
