// Proves what statfs (df) shows inside a directory quota: the quota's byte limit as the size, its
// usage as used, room below the limit less granted bytes as available (never more than the file
// system has), its inode limit as the inode total; what the quota does not limit stays as is.
import { describe, expect, it } from 'vitest';
import { statfsWithinQuota } from '../../../src/fuse/quota-statfs.js';
import type { StatfsReply } from '../../../src/fuse/lowlevel/index.js';
import type { QuotaInfo } from '../../../src/meta/protocol/index.js';

const base: StatfsReply = {
  blockSize: 4096,
  fragmentSize: 4096,
  blocks: 1_000_000,
  blocksFree: 900_000,
  blocksAvailable: 900_000,
  files: 1_000_100,
  filesFree: 1_000_000,
  filesAvailable: 1_000_000,
  nameMax: 255,
};
const mib = 1024n * 1024n;

function quota(limits: Partial<QuotaInfo['limits']>, usage: Partial<QuotaInfo['usage']> = {}): QuotaInfo {
  return {
    quotaId: 9n,
    directory: 8n,
    limits: { graceS: 0, ...limits },
    setAtNs: 0n,
    counting: false,
    usage: { inodes: 0n, bytes: 0n, reservedBytes: 0n, ...usage },
    path: null,
  };
}

describe('statfsWithinQuota', () => {
  it('shows the file system without a quota', () => {
    expect(statfsWithinQuota(base, null)).toEqual(base);
  });

  it('shows the byte limit as the size and what is left as free', () => {
    const reply = statfsWithinQuota(
      base,
      quota({ hardBytes: 100n * mib }, { bytes: 40n * mib, reservedBytes: 8n * mib }),
    );
    expect(reply.blocks).toBe(25_600);
    expect(reply.blocksFree).toBe(15_360);
    expect(reply.blocksAvailable).toBe(13_312);
    expect(reply.files).toBe(base.files);
  });

  it('never shows more free than the file system has, nor less than nothing', () => {
    const huge = statfsWithinQuota(base, quota({ hardBytes: 1n << 50n }));
    expect(huge.blocksFree).toBe(900_000);
    const over = statfsWithinQuota(base, quota({ hardBytes: mib }, { bytes: 2n * mib }));
    expect(over.blocksFree).toBe(0);
    expect(over.blocksAvailable).toBe(0);
  });

  it('shows the inode limit (hard, else soft) as the inode total', () => {
    const reply = statfsWithinQuota(base, quota({ softInodes: 1_000n }, { inodes: 250n }));
    expect(reply.files).toBe(1_000);
    expect(reply.filesFree).toBe(750);
    expect(reply.blocks).toBe(base.blocks);
  });
});
