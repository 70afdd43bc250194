// Proves NFSv4 client ids and stateids are recognized by any gateway with the cluster's secret (and after a restart) and by no other, that a stateid names its file, and that settable attributes decode and unknown ones are refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NfsStatus } from '../../../src/nfs/nfs-status.js';
import { idOfOwner, readSettable } from '../../../src/nfs/nfs4/nfs4-attributes.js';
import { Nfs4State } from '../../../src/nfs/nfs4/nfs4-state.js';
import { XdrReader, XdrWriter } from '../../../src/nfs/xdr.js';

const secret = 'a-cluster-secret-of-some-length';

describe('NFSv4 state', () => {
  it('recognizes client ids and confirmations made with the same secret only', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        (id, verifier) => {
          const made = new Nfs4State(secret, 1_000).clientId(Buffer.from(id), Buffer.from(verifier));
          const restarted = new Nfs4State(secret, 2_000);
          expect(restarted.knowsClient(made)).toBe(true);
          expect(restarted.confirmVerifier(made)).toEqual(new Nfs4State(secret, 3_000).confirmVerifier(made));
          expect(new Nfs4State('another-secret-entirely', 1_000).knowsClient(made)).toBe(false);
        },
      ),
    );
    expect(new Nfs4State(secret, 1).knowsClient(12345n)).toBe(false);
  });

  it('makes stateids that name their file, with growing sequence numbers', () => {
    const state = new Nfs4State(secret, 1_000);
    const first = state.openStateId(42n);
    const second = state.openStateId(42n);
    expect(second.seqid).toBeGreaterThan(first.seqid);
    expect(first.other).toEqual(second.other);
    const elsewhere = new Nfs4State(secret, 5_000);
    expect(elsewhere.validFor(first, 42n)).toBe(true);
    expect(elsewhere.validFor(first, 43n)).toBe(false);
    expect(elsewhere.isOurs(first)).toBe(true);
    expect(elsewhere.openStateId(1n).seqid).toBeGreaterThan(first.seqid);
    const forged = { seqid: 1, other: Buffer.from(first.other) };
    forged.other[11] = (forged.other[11] ?? 0) ^ 1;
    expect(elsewhere.isOurs(forged)).toBe(false);
    expect(elsewhere.validFor({ seqid: 0, other: Buffer.alloc(12) }, 7n)).toBe(true);
    expect(elsewhere.validFor({ seqid: 0, other: Buffer.alloc(12, 0xff) }, 7n)).toBe(true);
    expect(state.next(first).seqid).toBe(first.seqid + 1);
  });

  it('decodes settable attributes and refuses the others', () => {
    const writer = new XdrWriter(256);
    // size (4) and mode (33): words 0x10 and 0x2.
    writer.u32(2).u32(0x10).u32(0x2);
    writer.opaque(new XdrWriter(64).u64(10n).u32(0o4755).toBuffer());
    expect(readSettable(new XdrReader(writer.toBuffer()))).toEqual({
      changes: { size: 10n, mode: 0o4755 },
      set: [4, 33],
    });
    const acl = new XdrWriter(64)
      .u32(1)
      .u32(1 << 12)
      .opaque(Buffer.alloc(4))
      .toBuffer();
    expect(() => readSettable(new XdrReader(acl))).toThrow(
      expect.objectContaining({ status: NfsStatus.AttrNotSupp }),
    );
    const type = new XdrWriter(64)
      .u32(1)
      .u32(1 << 1)
      .opaque(Buffer.alloc(4))
      .toBuffer();
    expect(() => readSettable(new XdrReader(type))).toThrow(
      expect.objectContaining({ status: NfsStatus.Inval }),
    );
    expect(idOfOwner('1000')).toBe(1000);
    expect(idOfOwner('1000@example.org')).toBe(1000);
    expect(() => idOfOwner('alice@example.org')).toThrow(
      expect.objectContaining({ status: NfsStatus.BadOwner }),
    );
  });
});
