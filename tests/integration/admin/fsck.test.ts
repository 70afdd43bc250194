// Proves `admin fsck` on a running cluster: clean after ordinary writes; then it finds each kind of
// damage planted by hand (an orphan chunk written to a chain, a chunk removed from one replica, a
// replica given other bytes than the rest, a replica whose bytes on disk were flipped, a directory
// entry planted in the KV naming no inode); `--repair` repairs each, a second run is clean, and
// every file reads back as written.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsClient } from '../../../src/client/index.js';
import { crc32c } from '../../../src/common/crc32c.js';
import { silentLogger } from '../../../src/common/logger.js';
import { openSqliteKvEngine } from '../../../src/kv/sqlite-engine.js';
import { Placement, type FileInode } from '../../../src/meta/protocol/index.js';
import { MetaWriter } from '../../../src/meta/store/meta-store.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { storageMethods, type ChunkId } from '../../../src/storage/index.js';
import { damageChunkFiles } from '../helpers/chunk-damage.js';
import { fuseClusterSkipReason, startFuseCluster, type FuseCluster } from '../helpers/fuse-cluster.js';
import { clusterSecret } from '../helpers/meta-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('admin fsck tests');
const chunkSizeBytes = 64 * 1024;

interface FsckJson {
  findings: Array<{ kind: string; where: string; detail: string; repaired?: boolean; error?: string }>;
  chunksScanned: number;
  clean: boolean;
}

describe.skipIf(skipReason !== undefined)('admin fsck', () => {
  let world: TestWorld;
  let cluster: FuseCluster;
  let client: FsClient;
  let rpc: RpcClient;
  const files = new Map<string, Buffer>();

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world, { chunkSizeBytes });
    client = await cluster.client();
    rpc = new RpcClient({ clusterSecret, logger: silentLogger() });
    for (const [name, size] of [
      ['a', 200_000],
      ['b', 300_000],
      ['c', 130_000],
    ] as const) {
      const data = randomBytes(size);
      await writeFile(join(cluster.mountPoint, name), data);
      files.set(name, data);
    }
  }, 120_000);

  afterAll(async () => {
    await rpc?.close();
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  async function fsck(...args: string[]): Promise<{ code: number | null; report: FsckJson; stderr: string }> {
    const result = await world.runBinary(
      'admin',
      ['--mgmtd', cluster.mgmtdAddress, '--secret-file', cluster.secretFile, '--json', 'fsck', ...args],
      60_000,
    );
    let report: FsckJson;
    try {
      report = JSON.parse(result.stdout) as FsckJson;
    } catch {
      throw new Error(`fsck printed no report (exit ${result.code}): ${result.stdout}${result.stderr}`);
    }
    return { code: result.code, report, stderr: result.stderr };
  }

  /** Chunk `index` of file `name`: its id, its chain's targets (head first) and the chain version. */
  async function locate(name: string, index: number) {
    const inode = (await client.stat(`/${name}`)) as FileInode;
    const chainId = new Placement(inode.layout).chainOf(BigInt(index));
    const routing = await client.routing.refresh();
    const chain = routing.chains.find((candidate) => candidate.chainId === chainId);
    if (chain === undefined) throw new Error(`chain ${chainId} is not in routing info`);
    const targets = chain.targets.map((target) => target.targetId);
    const address = (targetId: number): string => {
      const address = client.routing.addressOfTarget(targetId);
      if (address === undefined) throw new Error(`no address for target ${targetId}`);
      return address;
    };
    return {
      chunkId: { inode: inode.ino, index } as ChunkId,
      chainId,
      chainVersion: chain.chainVersion,
      targets,
      address,
    };
  }

  /** The tail's committed version of a chunk. */
  async function tailVersion(where: Awaited<ReturnType<typeof locate>>): Promise<number> {
    const tail = where.targets.at(-1) as number;
    const { chunkId } = where;
    const after =
      chunkId.index > 0
        ? { inode: chunkId.inode, index: chunkId.index - 1 }
        : { inode: chunkId.inode - 1n, index: 0xffff_ffff };
    const page = await rpc.call(where.address(tail), storageMethods.dumpChunkMeta, {
      targetId: tail,
      after,
      limit: 1,
    });
    const found = page.chunks[0];
    if (found === undefined || found.chunkId.inode !== chunkId.inode || found.chunkId.index !== chunkId.index)
      throw new Error('the tail does not hold the chunk');
    return found.version;
  }

  /** Sends an update to the tail only, as if its predecessor had forwarded it. */
  async function forwardToTail(
    where: Awaited<ReturnType<typeof locate>>,
    op: { kind: 'remove' } | { kind: 'write'; data: Buffer },
  ): Promise<void> {
    const tail = where.targets.at(-1) as number;
    const updateVersion = (await tailVersion(where)) + 1;
    const common = {
      targetId: tail,
      chainId: where.chainId,
      chainVersion: where.chainVersion,
      chunkId: where.chunkId,
      chunkSizeBytes,
      timeoutMs: 5_000,
      updateVersion,
      fromTargetId: where.targets.at(-2) as number,
    };
    if (op.kind === 'remove') {
      await rpc.call(where.address(tail), storageMethods.forward, { ...common, op: { kind: 'remove' } });
      return;
    }
    const checksum = crc32c(op.data);
    await rpc.call(
      where.address(tail),
      storageMethods.forward,
      { ...common, op: { kind: 'write', offset: 0, length: op.data.length, checksum } },
      { payload: op.data, payloadCrc32c: checksum },
    );
  }

  it('finds nothing wrong after ordinary writes', async () => {
    const { code, report } = await fsck();
    expect(report.findings).toEqual([]);
    expect(report.clean).toBe(true);
    // Three files of 4, 5 and 2 chunks, three replicas each.
    expect(report.chunksScanned).toBe(33);
    expect(code).toBe(0);
  }, 90_000);

  it('finds each planted kind of damage, repairs it, and is clean afterwards', async () => {
    // An orphan: a chunk of an inode that does not exist, written through a chain.
    const orphan = await locate('a', 0);
    const orphanData = randomBytes(10_000);
    const orphanChecksum = crc32c(orphanData);
    const head = orphan.targets[0] as number;
    await rpc.call(
      orphan.address(head),
      storageMethods.write,
      {
        targetId: head,
        chainId: orphan.chainId,
        chainVersion: orphan.chainVersion,
        chunkId: { inode: 0xfeed_0000_0001n, index: 0 },
        chunkSizeBytes,
        op: { kind: 'write', offset: 0, length: orphanData.length, checksum: orphanChecksum },
        timeoutMs: 5_000,
      },
      { payload: orphanData, payloadCrc32c: orphanChecksum },
    );
    // A replica missing one chunk, and a replica holding other bytes than the rest.
    const missing = await locate('b', 1);
    await forwardToTail(missing, { kind: 'remove' });
    const disagreeing = await locate('c', 0);
    await forwardToTail(disagreeing, { kind: 'write', data: randomBytes(1_000) });
    // A replica whose bytes on disk were flipped: every chunk of storage node 13's target.
    damageChunkFiles(join(cluster.dir, 'storage-13'));
    // A directory entry naming no inode, planted in the KV.
    const kv = await openSqliteKvEngine({ path: join(cluster.dir, 'meta.db'), logger: silentLogger() });
    try {
      await kv.transact(async (tx) =>
        new MetaWriter(tx).putEntry(1n, 'ghost', { ino: 0xfeed_0000_0002n, type: 'file' }),
      );
    } finally {
      await kv.close();
    }

    const found = await fsck();
    expect(found.code).toBe(1);
    const kinds = new Set(found.report.findings.map((finding) => finding.kind));
    expect([...kinds].sort()).toEqual([
      'corrupt-replica',
      'dangling-entry',
      'missing-replica',
      'orphan-chunk',
      'replicas-disagree',
    ]);
    const at = (kind: string) => found.report.findings.filter((finding) => finding.kind === kind);
    expect(
      at('orphan-chunk')
        .map((finding) => finding.detail)
        .join(),
    ).toContain(`inode ${0xfeed_0000_0001n}`);
    expect(at('missing-replica').map((finding) => finding.where)).toContain(
      `chain ${missing.chainId} chunk ${missing.chunkId.inode.toString(16).padStart(16, '0')}-00000001`,
    );
    expect(at('dangling-entry').map((finding) => finding.where)).toEqual(['1/"ghost"']);
    // Reading only: nothing changed, so the same findings come again.
    expect((await fsck()).report.findings.length).toBe(found.report.findings.length);

    const repaired = await fsck('--repair');
    expect(repaired.report.findings.filter((finding) => finding.repaired !== true)).toEqual([]);
    expect(repaired.code).toBe(0);

    const after = await fsck();
    expect(after.report.findings).toEqual([]);
    expect(after.code).toBe(0);
    for (const [name, data] of files) expect((await client.readFile(`/${name}`)).equals(data)).toBe(true);
  }, 240_000);
});
