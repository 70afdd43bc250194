// Proves that file bytes cross a real mount intact: a 256 MiB random file read back with an equal SHA-256, overwrites, appends and truncates (holes read as zeros), readers of several files at once (streamed and direct, one file rewritten meanwhile) each getting their own bytes, and a read that outlives a killed storage service.
import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FuseCluster } from '../helpers/fuse-cluster.js';
import { fuseClusterSkipReason, startFuseCluster } from '../helpers/fuse-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('FUSE file data tests');
const mib = 1024 * 1024;
const bigBytes = 256 * mib;

/** SHA-256 of a file, streamed in 1 MiB reads (on the mount, that is 1 MiB FUSE reads). */
async function sha256(path: string, onProgress?: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: mib })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    onProgress?.(bytes);
  }
  return hash.digest('hex');
}

/** Applies the same write to the mounted file and its reference on the local disk. */
async function writeBoth(paths: string[], data: Buffer, position: number): Promise<void> {
  for (const path of paths) {
    const handle = await open(path, 'r+');
    try {
      await handle.write(data, 0, data.length, position);
    } finally {
      await handle.close();
    }
  }
}

describe.skipIf(skipReason !== undefined)('file data through the mount', () => {
  let world: TestWorld;
  let cluster: FuseCluster | undefined;
  let big: string;
  let reference: string;
  let bigSha: string;

  beforeAll(async () => {
    world = new TestWorld();
    // Short length reports, so a test can see one arrive.
    cluster = await startFuseCluster(world, { fuseSettings: 'length_report_interval_ms = 300' });
    big = join(cluster.mountPoint, 'big');
    reference = join(world.tempDir('3fs-reference-'), 'big');
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  it('writes a 256 MiB file of random bytes and reads it back with an equal SHA-256', async () => {
    const hash = createHash('sha256');
    const mounted = await open(big, 'w');
    const local = await open(reference, 'w');
    try {
      for (let offset = 0; offset < bigBytes; offset += mib) {
        const data = randomBytes(mib);
        hash.update(data);
        await mounted.write(data, 0, data.length, offset);
        await local.write(data, 0, data.length, offset);
      }
      await mounted.sync();
    } finally {
      await mounted.close();
      await local.close();
    }
    bigSha = hash.digest('hex');
    expect((await stat(big)).size).toBe(bigBytes);
    expect(await sha256(big)).toBe(bigSha);
  }, 150_000);

  it('overwrites in the middle, appends, truncates down and up; the hole reads as zeros', async () => {
    const paths = [big, reference];
    // Unaligned, across a chunk boundary.
    await writeBoth(paths, randomBytes(3 * mib + 12_345), 100 * mib - 7_000);
    for (const path of paths) await writeFile(path, randomBytes(mib + 17), { flag: 'a' });
    expect((await stat(big)).size).toBe(bigBytes + mib + 17);
    for (const path of paths) await truncate(path, 10 * mib + 4_321);
    expect((await stat(big)).size).toBe(10 * mib + 4_321);
    for (const path of paths) await truncate(path, 24 * mib);
    const hole = await readFile(big);
    expect(hole.length).toBe(24 * mib);
    expect(hole.subarray(10 * mib + 4_321).every((byte) => byte === 0)).toBe(true);
    // A write past the end leaves a hole too.
    await writeBoth(paths, Buffer.from('tail'), 30 * mib);
    expect((await stat(big)).size).toBe(30 * mib + 4);
    const [mountedSha, referenceSha] = await Promise.all([sha256(big), sha256(reference)]);
    expect(mountedSha).toBe(referenceSha);
  }, 120_000);

  it('cuts the old data on O_TRUNC and ftruncate, so extending again shows zeros', async () => {
    const path = join(cluster!.mountPoint, 'retruncated');
    await writeFile(path, randomBytes(3 * mib + 5));
    await writeFile(path, 'short');
    await truncate(path, 2 * mib);
    const afterOpenTruncate = await readFile(path);
    expect(afterOpenTruncate.subarray(0, 5).toString()).toBe('short');
    expect(afterOpenTruncate.subarray(5).every((byte) => byte === 0)).toBe(true);
    await writeFile(path, randomBytes(2 * mib));
    const handle = await open(path, 'r+');
    try {
      await handle.truncate(mib + 1);
      await handle.truncate(2 * mib);
    } finally {
      await handle.close();
    }
    expect((await readFile(path)).subarray(mib + 1).every((byte) => byte === 0)).toBe(true);
  });

  it('reports the length of a file still open for writing to meta', async () => {
    const path = join(cluster!.mountPoint, 'open-for-writing');
    const handle = await open(path, 'w');
    try {
      await handle.write(randomBytes(3 * mib + 1), 0, 3 * mib + 1, 0);
      // Another client sees the length once the daemon reported it, before any close or fsync.
      const client = await cluster!.client();
      await eventually(
        async () => {
          const inode = await client.stat('/open-for-writing');
          return inode.type === 'file' && inode.length === BigInt(3 * mib + 1) ? true : undefined;
        },
        10_000,
        'the length report',
      );
    } finally {
      await handle.close();
    }
  });

  it('readers of several files at once, streamed and in odd direct reads, all get their own bytes', async () => {
    // The daemon reads chunk replies into reused buffers and lends them to read-ahead and replies:
    // readers running side by side, with a file rewritten under one of them, must each see only
    // their own file's bytes.
    const files = ['mix-a', 'mix-b', 'mix-c'].map((name) => join(cluster!.mountPoint, name));
    const contents = files.map(() => randomBytes(24 * mib + 12_345));
    await Promise.all(files.map((path, index) => writeFile(path, contents[index]!)));
    const shaOf = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
    // Direct reads of 1.5 MiB at odd offsets: each spans read-ahead blocks.
    const directRead = async (path: string, expected: Buffer): Promise<void> => {
      const handle = await open(path, constants.O_RDONLY | constants.O_DIRECT);
      try {
        const piece = Buffer.alloc(3 * (mib / 2));
        for (let offset = 777; offset < expected.length; offset += piece.length) {
          const { bytesRead } = await handle.read(piece, 0, piece.length, offset);
          const want = expected.subarray(offset, offset + piece.length);
          expect(bytesRead).toBe(want.length);
          expect(piece.subarray(0, bytesRead).equals(want), `${path} at ${offset}`).toBe(true);
        }
      } finally {
        await handle.close();
      }
    };
    const rewritten = randomBytes(contents[2]!.length);
    await Promise.all([
      (async () => {
        for (let round = 0; round < 3; round += 1) expect(await sha256(files[0]!)).toBe(shaOf(contents[0]!));
      })(),
      (async () => {
        for (let round = 0; round < 2; round += 1) await directRead(files[1]!, contents[1]!);
      })(),
      (async () => {
        expect(await sha256(files[2]!)).toBe(shaOf(contents[2]!));
        await writeFile(files[2]!, rewritten);
        expect(await sha256(files[2]!)).toBe(shaOf(rewritten));
      })(),
    ]);
  }, 120_000);

  it('a read completes from the other replicas when a storage service is killed midway', async () => {
    const path = join(cluster!.mountPoint, 'survivor');
    const data = randomBytes(64 * mib);
    await writeFile(path, data);
    const expected = createHash('sha256').update(data).digest('hex');
    const victim = cluster!.storage[1]!;
    let killed = false;
    const sha = await sha256(path, (bytes) => {
      if (!killed && bytes >= 16 * mib) {
        killed = true;
        victim.process.child.kill('SIGKILL');
      }
    });
    expect(killed).toBe(true);
    expect(sha).toBe(expected);
    // And again, now that reads may meet the dead replica from the start.
    expect(await sha256(path)).toBe(expected);
  }, 90_000);
});
