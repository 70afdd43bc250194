// Proves that `3fs local --s3 PORT` serves the cluster over S3 on that port of 127.0.0.1 with an access key it made for the user who runs it (in <data>/etc/s3-credentials, readable by that user only), says so in its summary, stops the gateway with the rest on SIGINT, and finds the same key and objects on its next run.
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestWorld, eventually, type RunningProcess } from '../helpers/processes.js';
import { alive, freeBasePort } from './local-run.js';

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

/** The key of an AWS shared credentials file's [default] profile. */
function keyIn(path: string): { accessKeyId: string; secretAccessKey: string } {
  const text = readFileSync(path, 'utf8');
  return {
    accessKeyId: /^aws_access_key_id = (\S+)$/m.exec(text)?.[1] ?? '',
    secretAccessKey: /^aws_secret_access_key = (\S+)$/m.exec(text)?.[1] ?? '',
  };
}

describe('3fs local --s3', () => {
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

  /** Starts `3fs local` on `data` with the gateway on `port`; resolves once it is up. */
  async function startLocal(data: string, basePort: number, port: number): Promise<RunningProcess> {
    const local = world.spawnBinary('3fs', [
      'local',
      '--data',
      data,
      '--mgmtd-port',
      String(basePort),
      '--s3',
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
    return local;
  }

  async function stopLocal(local: RunningProcess): Promise<void> {
    local.child.kill('SIGINT');
    const { code } = await local.exited;
    expect(local.stdout()).toContain('local cluster stopped\n');
    expect(code).toBe(0);
    await eventually(
      async () => ([...childPids].every((pid) => !alive(pid)) ? true : undefined),
      10_000,
      'every service to be gone',
    );
  }

  it(
    'serves S3 with a key of its own on the port it was given, and the same key again next run',
    { timeout: 240_000 },
    async () => {
      const data = world.tempDir('3fs-local-s3-');
      const basePort = await freeBasePort();
      const port = await freePort();
      const credentials = join(data, 'etc', 's3-credentials');
      const first = await startLocal(data, basePort, port);
      expect(first.stdout()).toContain(`s3:      http://127.0.0.1:${port}`);
      expect(statSync(credentials).mode & 0o777).toBe(0o600);
      const key = keyIn(credentials);
      const client = (): S3Client =>
        new S3Client({
          endpoint: `http://127.0.0.1:${port}`,
          region: 'us-east-1',
          forcePathStyle: true,
          credentials: { ...key },
          maxAttempts: 1,
        });
      const s3 = client();
      await s3.send(new CreateBucketCommand({ Bucket: 'local' }));
      await s3.send(new PutObjectCommand({ Bucket: 'local', Key: 'kept/object', Body: 'across runs' }));
      s3.destroy();
      await stopLocal(first);

      const second = await startLocal(data, basePort, port);
      expect(keyIn(credentials)).toEqual(key);
      const again = client();
      const got = await again.send(new GetObjectCommand({ Bucket: 'local', Key: 'kept/object' }));
      expect(await got.Body?.transformToString()).toBe('across runs');
      again.destroy();
      await stopLocal(second);
    },
  );
});
