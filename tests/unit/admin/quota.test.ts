// Proves how admin quota commands read limits and grace periods (binary units for bytes, decimal
// for inodes, `none` to drop a limit) and name a quota's state.
import { describe, expect, it } from 'vitest';
import {
  parseBytesLimit,
  parseGrace,
  parseInodesLimit,
  quotaStateText,
} from '../../../src/admin/commands/quota.js';
import type { QuotaInfo } from '../../../src/meta/protocol/index.js';

describe('limits on the command line', () => {
  it('read bytes with binary units and inodes with decimal ones', () => {
    expect(parseBytesLimit('1048576')).toBe(1_048_576n);
    expect(parseBytesLimit('512K')).toBe(512n * 1024n);
    expect(parseBytesLimit('10G')).toBe(10n << 30n);
    expect(parseBytesLimit('2TiB')).toBe(2n << 40n);
    expect(parseBytesLimit('none')).toBeNull();
    expect(parseInodesLimit('2M')).toBe(2_000_000n);
    expect(parseInodesLimit('50k')).toBe(50_000n);
  });

  it('refuse what is not a whole amount', () => {
    for (const text of ['', '1.5G', '-1', '10X', '10GB5', '99999999999999999999']) {
      expect(() => parseBytesLimit(text), text).toThrow();
    }
    expect(() => parseInodesLimit('10KiB')).toThrow();
  });

  it('read grace periods, 0 included', () => {
    expect(parseGrace('0')).toBe(0);
    expect(parseGrace('7d')).toBe(7 * 86_400);
    expect(() => parseGrace('soon')).toThrow();
  });
});

describe('quotaStateText', () => {
  const base: QuotaInfo = {
    quotaId: 1n,
    directory: 2n,
    limits: { hardBytes: 100n, softInodes: 5n, graceS: 60 },
    setAtNs: 0n,
    counting: false,
    usage: { inodes: 1n, bytes: 10n, reservedBytes: 0n },
    path: '/q',
  };

  it('names counting, over the hard limit, over the soft one and ok', () => {
    expect(quotaStateText(base)).toBe('ok');
    expect(quotaStateText({ ...base, counting: true })).toBe('counting');
    expect(quotaStateText({ ...base, usage: { ...base.usage, bytes: 90n, reservedBytes: 20n } })).toBe(
      'over hard limit',
    );
    expect(quotaStateText({ ...base, softInodesSinceNs: 1_700_000_000_000_000_000n })).toBe(
      'over soft limit since 2023-11-14T22:13:20Z',
    );
  });
});
