// Proves real S3 clients from Debian work against the gateway: the AWS CLI copies, syncs, lists and removes a tree of 1,000 small files and a 256 MiB file (uploaded in parts) byte for byte, the same files show through a FUSE mount of the cluster with the same content, a file written through FUSE comes back through the CLI, and s3cmd and rclone make a round trip.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuseClusterSkipReason, startFuseCluster, type FuseCluster } from '../helpers/fuse-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';
import {
  addS3Key,
  startS3Gateway,
  testRegion,
  writeS3GatewayConfig,
  type RunningS3Gateway,
  type TestKey,
} from '../helpers/s3-gateway.js';
import { skipWithout } from '../../helpers/requirements.js';

/** The Debian packages' binaries (a pyenv shim may shadow `aws` on PATH). */
const aws = '/usr/bin/aws';
const s3cmd = '/usr/bin/s3cmd';
const rclone = '/usr/bin/rclone';

function clientsSkipReason(): string | undefined {
  const missing = [aws, s3cmd, rclone].filter((binary) => !existsSync(binary));
  const reason =
    missing.length === 0 ? undefined : `${missing.join(', ')} missing (apt-get install awscli s3cmd rclone)`;
  skipWithout('awscli, s3cmd and rclone (for the S3 client tests)', reason);
  return reason;
}

const skipReason = fuseClusterSkipReason('the S3 client tests') ?? clientsSkipReason();
const bigFileBytes = 256 * 1024 * 1024;
const smallFiles = 1000;

/** Runs a client with a deadline; resolves with its output and exit code. */
function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 300_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Relative path → SHA-256 of every file below `root`. */
async function treeHashes(root: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  const visit = async (directory: string): Promise<void> => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) await visit(path);
      else hashes.set(relative(root, path), await sha256Of(path));
    }
  };
  await visit(root);
  return hashes;
}

describe.skipIf(skipReason !== undefined)('S3 clients from Debian against the gateway', () => {
  const world = new TestWorld();
  let cluster: FuseCluster;
  let gateway: RunningS3Gateway;
  let key: TestKey;
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    cluster = await startFuseCluster(world, { chunkSizeBytes: 4 * 1024 * 1024 });
    gateway = await startS3Gateway(cluster, writeS3GatewayConfig(cluster, { nodeId: 400 }));
    key = await addS3Key(cluster, { name: 'cli', uid: 0, gid: 0 });
    work = world.tempDir('3fs-s3-cli-');
    // A home of their own: no configuration of this machine's user leaks into the clients.
    env = {
      PATH: process.env['PATH'],
      HOME: work,
      AWS_ACCESS_KEY_ID: key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
      AWS_DEFAULT_REGION: testRegion,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
    };
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  const awsCli = (...args: string[]) => run(aws, ['--endpoint-url', gateway.endpoint, ...args], env);

  it(
    'syncs, copies, lists and removes 1,000 small files and 256 MiB with the AWS CLI, as FUSE sees them',
    { timeout: 600_000 },
    async () => {
      const source = join(work, 'source');
      for (let index = 0; index < smallFiles; index++) {
        const directory = join(source, `dir-${index % 10}`, `sub-${index % 3}`);
        mkdirSync(directory, { recursive: true });
        writeFileSync(join(directory, `file-${index}.txt`), randomBytes(index % 4096));
      }
      const big = randomBytes(bigFileBytes);
      writeFileSync(join(source, 'big.bin'), big);
      const expected = await treeHashes(source);

      expect((await awsCli('s3', 'mb', 's3://cli')).code).toBe(0);
      const synced = await awsCli('s3', 'sync', '--only-show-errors', source, 's3://cli/tree');
      expect(synced.code, synced.stderr).toBe(0);
      const listed = await awsCli('s3', 'ls', '--recursive', 's3://cli/tree/');
      expect(listed.code, listed.stderr).toBe(0);
      const lines = listed.stdout.trim().split('\n');
      expect(lines).toHaveLength(smallFiles + 1);
      expect(lines.some((line) => line.includes(`${bigFileBytes} tree/big.bin`))).toBe(true);

      // The same files through FUSE, with the same bytes.
      expect(await treeHashes(join(cluster.mountPoint, 'cli/tree'))).toEqual(expected);

      // Back down: a second sync and a plain copy of the big file.
      const target = join(work, 'target');
      const down = await awsCli('s3', 'sync', '--only-show-errors', 's3://cli/tree', target);
      expect(down.code, down.stderr).toBe(0);
      expect(await treeHashes(target)).toEqual(expected);
      const copied = await awsCli(
        's3',
        'cp',
        '--only-show-errors',
        's3://cli/tree/big.bin',
        join(work, 'big-copy'),
      );
      expect(copied.code, copied.stderr).toBe(0);
      expect(readFileSync(join(work, 'big-copy')).equals(big)).toBe(true);
      // A second sync has nothing to do: sizes and times agree.
      const again = await awsCli('s3', 'sync', source, 's3://cli/tree');
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout.trim()).toBe('');

      const removed = await awsCli('s3', 'rm', '--recursive', '--only-show-errors', 's3://cli/tree');
      expect(removed.code, removed.stderr).toBe(0);
      expect((await awsCli('s3', 'ls', '--recursive', 's3://cli/tree/')).stdout.trim()).toBe('');
      expect(existsSync(join(cluster.mountPoint, 'cli/tree'))).toBe(false);
    },
  );

  it('reads a file written through FUSE with aws s3 cp, and writes one FUSE reads', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 3);
    mkdirSync(join(cluster.mountPoint, 'cli/fuse'), { recursive: true });
    writeFileSync(join(cluster.mountPoint, 'cli/fuse/written.bin'), data);
    const local = join(work, 'from-fuse.bin');
    const fetched = await awsCli('s3', 'cp', '--only-show-errors', 's3://cli/fuse/written.bin', local);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(readFileSync(local).equals(data)).toBe(true);
    const uploaded = await awsCli('s3', 'cp', '--only-show-errors', local, 's3://cli/fuse/uploaded.bin');
    expect(uploaded.code, uploaded.stderr).toBe(0);
    // Another client's change: the mount sees it once its metadata cache has heard of it (a poll
    // of meta's change log, README "Metadata caching").
    await eventually(
      async () =>
        existsSync(join(cluster.mountPoint, 'cli/fuse/uploaded.bin')) &&
        statSync(join(cluster.mountPoint, 'cli/fuse/uploaded.bin')).size === data.length
          ? true
          : undefined,
      10_000,
      'the uploaded object to show through FUSE',
    );
    expect(readFileSync(join(cluster.mountPoint, 'cli/fuse/uploaded.bin')).equals(data)).toBe(true);
  });

  it('makes a round trip with s3cmd', async () => {
    const host = `127.0.0.1:${gateway.port}`;
    const config = join(work, 's3cmd.cfg');
    writeFileSync(
      config,
      [
        '[default]',
        `access_key = ${key.accessKeyId}`,
        `secret_key = ${key.secretAccessKey}`,
        `host_base = ${host}`,
        `host_bucket = ${host}`,
        `bucket_location = ${testRegion}`,
        'use_https = False',
        'signature_v2 = False',
        '',
      ].join('\n'),
    );
    const s3cmdRun = (...args: string[]) => run(s3cmd, ['-c', config, ...args], env);
    const data = randomBytes(70_000);
    writeFileSync(join(work, 's3cmd.bin'), data);
    const made = await s3cmdRun('mb', 's3://s3cmd-bucket');
    expect(made.code, made.stderr).toBe(0);
    const put = await s3cmdRun('put', join(work, 's3cmd.bin'), 's3://s3cmd-bucket/dir/object.bin');
    expect(put.code, put.stderr).toBe(0);
    const listed = await s3cmdRun('ls', '--recursive', 's3://s3cmd-bucket');
    expect(listed.stdout).toContain('s3://s3cmd-bucket/dir/object.bin');
    const got = await s3cmdRun(
      'get',
      '--force',
      's3://s3cmd-bucket/dir/object.bin',
      join(work, 's3cmd-back.bin'),
    );
    expect(got.code, got.stderr).toBe(0);
    expect(readFileSync(join(work, 's3cmd-back.bin')).equals(data)).toBe(true);
    const deleted = await s3cmdRun('del', 's3://s3cmd-bucket/dir/object.bin');
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await s3cmdRun('rb', 's3://s3cmd-bucket')).code).toBe(0);
  });

  it('makes a round trip with rclone', async () => {
    const rcloneEnv = {
      ...env,
      RCLONE_CONFIG: join(work, 'rclone.conf'),
      RCLONE_CONFIG_GW_TYPE: 's3',
      RCLONE_CONFIG_GW_PROVIDER: 'Other',
      RCLONE_CONFIG_GW_ACCESS_KEY_ID: key.accessKeyId,
      RCLONE_CONFIG_GW_SECRET_ACCESS_KEY: key.secretAccessKey,
      RCLONE_CONFIG_GW_ENDPOINT: gateway.endpoint,
      RCLONE_CONFIG_GW_REGION: testRegion,
      RCLONE_CONFIG_GW_FORCE_PATH_STYLE: 'true',
    };
    const rcloneRun = (...args: string[]) => run(rclone, args, rcloneEnv);
    const source = join(work, 'rclone-source');
    for (let index = 0; index < 20; index++) {
      mkdirSync(join(source, `d${index % 3}`), { recursive: true });
      writeFileSync(join(source, `d${index % 3}`, `f${index}`), randomBytes(1000 * index));
    }
    writeFileSync(join(source, 'large.bin'), randomBytes(12 * 1024 * 1024));
    expect((await rcloneRun('mkdir', 'gw:rclone-bucket')).code).toBe(0);
    const up = await rcloneRun('copy', source, 'gw:rclone-bucket/tree');
    expect(up.code, up.stderr).toBe(0);
    const checked = await rcloneRun('check', source, 'gw:rclone-bucket/tree');
    expect(checked.code, checked.stderr).toBe(0);
    const back = join(work, 'rclone-back');
    const down = await rcloneRun('copy', 'gw:rclone-bucket/tree', back);
    expect(down.code, down.stderr).toBe(0);
    expect(await treeHashes(back)).toEqual(await treeHashes(source));
    const purged = await rcloneRun('purge', 'gw:rclone-bucket');
    expect(purged.code, purged.stderr).toBe(0);
    expect(spawnSync('ls', [join(cluster.mountPoint, 'rclone-bucket')]).status).not.toBe(0);
  });
});
