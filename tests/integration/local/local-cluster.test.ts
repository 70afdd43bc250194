// Proves that `3fs local --mount` brings up a whole cluster and mounts it, stops everything cleanly on SIGINT (unmounted, no process left), and that a second run on the same data directory finds the files written before.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  postgresAvailability,
  startPostgresTestServer,
  type PostgresTestServer,
} from '../../helpers/postgres-server.js';
import { isMounted } from '../fuse-binding/harness.js';
import { fuseClusterSkipReason } from '../helpers/fuse-cluster.js';
import { TestWorld, eventually, type RunningProcess } from '../helpers/processes.js';
import { alive, freeBasePort } from './local-run.js';

const skipReason = fuseClusterSkipReason('3fs local mount tests');
const postgres = postgresAvailability();
if (!postgres.available) console.warn(`skipping 3fs local on postgres: ${postgres.reason}`);

describe.skipIf(skipReason !== undefined)('3fs local --mount', () => {
  let world: TestWorld;
  let mount: string;
  const childPids = new Set<number>();
  let running: RunningProcess | undefined;
  let server: PostgresTestServer | undefined;

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
    if (mount !== undefined && isMounted(mount))
      spawnSync('fusermount3', ['-u', '-z', mount], { timeout: 10_000 });
    for (const pid of childPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await world.cleanup();
    await server?.close();
    server = undefined;
  }, 60_000);

  /** Starts `3fs local` and waits until it says the cluster is up. */
  async function start(args: string[]): Promise<RunningProcess> {
    const local = world.spawnBinary('3fs', ['local', ...args]);
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
    // Every service logs its pid; none may outlive the run.
    for (const line of local.stderr().split('\n')) {
      const match = /"pid":(\d+)/.exec(line);
      if (match !== null) childPids.add(Number(match[1]));
    }
    return local;
  }

  /** SIGINT, then: exit code 0, the mount gone, no service left. */
  async function stop(local: RunningProcess): Promise<void> {
    local.child.kill('SIGINT');
    const timer = setTimeout(() => local.child.kill('SIGKILL'), 45_000);
    const { code } = await local.exited;
    clearTimeout(timer);
    expect(local.stdout()).toContain('local cluster stopped\n');
    expect(code).toBe(0);
    expect(isMounted(mount)).toBe(false);
    await eventually(
      async () => ([...childPids].every((pid) => !alive(pid)) ? true : undefined),
      10_000,
      'every service to be gone',
    );
  }

  it('mounts a working cluster, stops cleanly, and a second run finds the files', async () => {
    const dir = world.tempDir('3fs-local-');
    const data = join(dir, 'data');
    mount = join(dir, 'mnt');
    const base = await freeBasePort();
    const first = await start(['--data', data, '--mount', mount, '--mgmtd-port', String(base)]);
    const summary = first.stdout();
    expect(summary).toContain(`mgmtd:   127.0.0.1:${base}`);
    expect(summary).toContain(`meta:    127.0.0.1:${base + 10}`);
    expect(summary).toContain(`storage: 127.0.0.1:${base + 21}`);
    expect(summary).toContain(`mount:   ${mount}`);
    expect(isMounted(mount)).toBe(true);

    const blob = randomBytes(8 * 1024 * 1024 + 5);
    const sha = createHash('sha256').update(blob).digest('hex');
    await writeFile(join(mount, 'hello.txt'), 'hello, world\n');
    await writeFile(join(mount, 'blob'), blob);
    // The admin CLI reads through the client library, without the mount.
    const admin = ['--config', join(data, 'etc/mgmtd.toml')];
    const cat = await world.runBinary('admin', [...admin, 'cat', '/hello.txt']);
    expect(cat.stdout).toBe('hello, world\n');
    const ls = await world.runBinary('admin', [...admin, 'ls', '/']);
    expect(ls.stdout).toMatch(/file\s+0644\s+0\s+0\s+1\s+8388613\s+\S+\s+blob/);
    const stat = await world.runBinary('admin', [...admin, 'stat', '/blob']);
    expect(stat.stdout).toMatch(
      /chain 1 v\d+: 1[123]01\(serving\) -> 1[123]01\(serving\) -> 1[123]01\(serving\)/,
    );
    // A directory with small chunks: new files in it are cut into 64 KiB chunks.
    await mkdir(join(mount, 'small-chunks'));
    const layout = await world.runBinary('admin', [
      ...admin,
      'set-layout',
      '/small-chunks',
      '--chunk-size',
      '65536',
    ]);
    expect(layout.stdout).toContain('chunk 64.0 KiB');
    await writeFile(join(mount, 'small-chunks/blob'), blob);
    const smallStat = await world.runBinary('admin', [...admin, 'stat', '/small-chunks/blob']);
    expect(smallStat.stdout).toContain('chunk 64.0 KiB (65536 bytes)');
    await stop(first);

    // The second run takes its ports from the data directory, whatever the flags say.
    const second = await start(['--data', data, '--mount', mount]);
    expect(second.stdout()).toContain(`mgmtd:   127.0.0.1:${base}`);
    expect(await readFile(join(mount, 'hello.txt'), 'utf8')).toBe('hello, world\n');
    expect(
      createHash('sha256')
        .update(await readFile(join(mount, 'blob')))
        .digest('hex'),
    ).toBe(sha);
    const smallChunks = await readFile(join(mount, 'small-chunks/blob'));
    expect(createHash('sha256').update(smallChunks).digest('hex')).toBe(sha);
    await writeFile(join(mount, 'second.txt'), 'second run\n');
    expect(await readFile(join(mount, 'second.txt'), 'utf8')).toBe('second run\n');
    await stop(second);
  }, 180_000);

  it.skipIf(!postgres.available)(
    'runs on a PostgreSQL metadata engine with --kv',
    async () => {
      server = await startPostgresTestServer(postgres);
      const dir = world.tempDir('3fs-local-pg-');
      const data = join(dir, 'data');
      mount = join(dir, 'mnt');
      const url = `postgres://${server.user}@${server.host}:${server.port}/${server.database}`;
      const args = ['--data', data, '--mount', mount, '--mgmtd-port', String(await freeBasePort())];
      const first = await start([...args, '--kv', url]);
      expect(await readFile(join(data, 'etc/meta.toml'), 'utf8')).toContain('engine = "postgres"');
      await writeFile(join(mount, 'on-postgres.txt'), 'kept in PostgreSQL\n');
      await stop(first);
      // The second run finds the cluster initialized in PostgreSQL (there is no sqlite file).
      const second = await start(['--data', data, '--mount', mount]);
      expect(await readFile(join(mount, 'on-postgres.txt'), 'utf8')).toBe('kept in PostgreSQL\n');
      await stop(second);
    },
    180_000,
  );
});
