// Proves a read through the mount is served whole by the other replicas while one storage service
// refuses the FUSE daemon's connections (it accepts only a secret the daemon lacks), and while
// another also fails its disk reads, never cut short and never zeros; that a read no serving
// replica will answer fails with EIO instead of ending early (the kernel's length stays the
// file's); and that writes the chain's head refuses fail on every handle open on the file, with no
// length reported for bytes storage did not take.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsClient } from '../../../src/client/index.js';
import { silentLogger } from '../../../src/common/logger.js';
import {
  fuseClusterSkipReason,
  startFuseCluster,
  storageTargetId,
  type FuseCluster,
} from '../helpers/fuse-cluster.js';
import { clusterSecret } from '../helpers/meta-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('refused replica tests');

/** Proved by every process but the FUSE daemon, and the only secret the refusing node accepts. */
const otherSecret = 'a-secret-the-fuse-daemon-lacks-0123456789';
const chunkSizeBytes = 64 * 1024;
/** Seven chunks: reads go round the three replicas, so some of them are first sent to node 13. */
const fileBytes = 7 * chunkSizeBytes;
/** A storage node that is not its chain's head (create-chain-table orders a chain by target id). */
const refusingNodeId = 13;
/** The storage node whose chunk files are made unreadable in one test. */
const failingDiskNodeId = 12;

/**
 * Makes every chunk data file under a target of the files chunk engine fail its reads with an I/O
 * error (EISDIR): each becomes a directory of the same name. Returns how many it replaced.
 */
function breakChunkFiles(targetDir: string): number {
  let replaced = 0;
  for (const entry of readdirSync(join(targetDir, 'data'), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    unlinkSync(path);
    mkdirSync(path);
    replaced += 1;
  }
  return replaced;
}

/** Every byte of the file at `path`, read as `cat` does: until read(2) returns 0 or fails. */
async function readUntilEnd(path: string, requestBytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const parts: Buffer[] = [];
    for (let offset = 0; ;) {
      const buffer = Buffer.alloc(requestBytes);
      const { bytesRead } = await handle.read(buffer, 0, requestBytes, offset);
      if (bytesRead === 0) return Buffer.concat(parts);
      parts.push(buffer.subarray(0, bytesRead));
      offset += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/**
 * A cluster whose storage node `refusing` accepts only a secret the FUSE daemon lacks: every other
 * process proves that secret and accepts both, the daemon holds only the test secret. With a client
 * proving the other secret, which every node accepts.
 */
async function startRefusingCluster(
  world: TestWorld,
  refusing: number,
): Promise<{ cluster: FuseCluster; client: FsClient }> {
  const dir = world.tempDir('3fs-refused-secrets-');
  const secretFile = (name: string, secrets: readonly string[]): string => {
    const path = join(dir, name);
    writeFileSync(path, `${secrets.join('\n')}\n`, { mode: 0o600 });
    return path;
  };
  const cluster = await startFuseCluster(world, {
    chunkSizeBytes,
    stripe: 2,
    // Short, so that an I/O nothing can serve fails within the test.
    fuseSettings: 'io_deadline_ms = 3000',
    // One file per chunk, so a test can make one replica's chunks unreadable.
    storageSettings: 'chunk_engine = "files"',
    secretFiles: {
      cluster: secretFile('cluster', [otherSecret, clusterSecret]),
      storage: { [refusing]: secretFile(`storage-${refusing}`, [otherSecret]) },
      fuse: secretFile('fuse', [clusterSecret]),
    },
  });
  const client = await FsClient.connect({
    mgmtdAddresses: [cluster.mgmtdAddress],
    clusterSecret: otherSecret,
    logger: silentLogger(),
    tuning: { routingRefreshMs: 200 },
  });
  return { cluster, client };
}

describe.skipIf(skipReason !== undefined)(
  'reading through the mount while a replica refuses the daemon',
  () => {
    const world = new TestWorld();
    let cluster: FuseCluster | undefined;
    let client: FsClient;

    beforeAll(async () => {
      ({ cluster, client } = await startRefusingCluster(world, refusingNodeId));
    }, 90_000);

    afterAll(async () => {
      await client?.close().catch(() => undefined);
      await cluster?.stop();
      await world.cleanup();
    }, 60_000);

    it('reads files whole, however the reads are cut, while one replica refuses the daemon', async () => {
      const mount = cluster?.mountPoint as string;
      for (let round = 0; round < 3; round++) {
        const data = randomBytes(fileBytes);
        await client.writeFile(`/whole-${round}`, data);
        const path = join(mount, `whole-${round}`);
        // fs.promises.readFile reads a file of this size with one read(2) and takes a short one for
        // the end of the file, so a read cut short by a failure would show here as a short file.
        const read = await readFile(path);
        expect(read.length, `round ${round}: readFile`).toBe(fileBytes);
        expect(read.equals(data), `round ${round}: readFile's bytes`).toBe(true);
        for (const requestBytes of [4096, chunkSizeBytes, fileBytes]) {
          const back = await readUntilEnd(path, requestBytes);
          expect(back.length, `round ${round}: reads of ${requestBytes}`).toBe(fileBytes);
          expect(back.equals(data), `round ${round}: bytes of reads of ${requestBytes}`).toBe(true);
        }
        expect((await stat(path)).size).toBe(fileBytes);
      }
      // The daemon did meet the refusal: it is a replica's, not the file's.
      expect(cluster?.fuse?.stderr()).toContain('refused the connection');
    }, 60_000);

    it('reads files whole while a second replica fails its disk reads', async () => {
      const data = randomBytes(fileBytes);
      await client.writeFile('/disk-errors', data);
      expect(breakChunkFiles(join(cluster?.dir as string, `storage-${failingDiskNodeId}`))).toBeGreaterThan(
        0,
      );
      const path = join(cluster?.mountPoint as string, 'disk-errors');
      const read = await readFile(path);
      expect(read.length).toBe(fileBytes);
      expect(read.equals(data)).toBe(true);
      expect((await readUntilEnd(path, chunkSizeBytes)).equals(data)).toBe(true);
      expect((await stat(path)).size).toBe(fileBytes);
    }, 60_000);

    it('fails a read with EIO, never a short one, when the only serving replica refuses the daemon', async () => {
      const data = randomBytes(fileBytes);
      await client.writeFile('/only-refusing', data);
      const path = join(cluster?.mountPoint as string, 'only-refusing');
      const others = cluster?.storage.filter((node) => node.nodeId !== refusingNodeId) ?? [];
      for (const node of others) {
        node.process.child.kill('SIGKILL');
        await node.process.exited;
      }
      await eventually(
        async () => {
          const routing = await client.routing.refresh();
          const gone = new Set(others.map((node) => node.targetId));
          const stillServing = routing.chains.some((chain) =>
            chain.targets.some((target) => gone.has(target.targetId) && target.publicState === 'serving'),
          );
          return stillServing ? undefined : true;
        },
        30_000,
        'the killed replicas out of service',
      );
      // The refusing replica serves the file to others.
      expect((await client.readFile('/only-refusing')).equals(data)).toBe(true);
      await expect(readFile(path)).rejects.toMatchObject({ code: 'EIO' });
      await expect(readUntilEnd(path, chunkSizeBytes)).rejects.toMatchObject({ code: 'EIO' });
      expect((await stat(path)).size).toBe(fileBytes);
    }, 90_000);
  },
);

describe.skipIf(skipReason !== undefined)(
  'writing through the mount while the head refuses the daemon',
  () => {
    const world = new TestWorld();
    const headNodeId = 11;
    let cluster: FuseCluster | undefined;
    let client: FsClient;

    beforeAll(async () => {
      ({ cluster, client } = await startRefusingCluster(world, headNodeId));
    }, 90_000);

    afterAll(async () => {
      await client?.close().catch(() => undefined);
      await cluster?.stop();
      await world.cleanup();
    }, 60_000);

    it('fails the write on every handle open on the file, and reports no length for it', async () => {
      const routing = await client.routing.refresh();
      expect(routing.chains.map((chain) => chain.targets[0]?.targetId)).toEqual([
        storageTargetId(headNodeId),
      ]);
      const mount = cluster?.mountPoint as string;
      await expect(writeFile(join(mount, 'refused'), randomBytes(fileBytes))).rejects.toMatchObject({
        code: 'EIO',
      });

      // Two handles: the one that did not write closes first, and both are told.
      const path = join(mount, 'two-handles');
      const writer = await open(path, 'w');
      const other = await open(path, 'r+');
      const wrote = await writer.write(randomBytes(fileBytes), 0, fileBytes, 0).then(
        () => 'written',
        (error: NodeJS.ErrnoException) => error.code,
      );
      // Buffered: the refusal shows here or, at the latest, when the handles close.
      expect(['written', 'EIO']).toContain(wrote);
      await expect(other.close()).rejects.toMatchObject({ code: 'EIO' });
      await expect(writer.close()).rejects.toMatchObject({ code: 'EIO' });
      // Storage took nothing: meta holds no length for it, and reads find no bytes.
      for (const name of ['refused', 'two-handles']) {
        await eventually(
          async () => {
            const inode = await client.stat(`/${name}`);
            return inode.type === 'file' && inode.length === 0n ? true : undefined;
          },
          5_000,
          `${name}: no length reported`,
        );
        expect((await readFile(join(mount, name))).length).toBe(0);
      }
    }, 60_000);
  },
);
