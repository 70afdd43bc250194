// Proves file handles round-trip their export, kind and inode, read the same under every codec with the cluster's secret, and are refused when any byte changes, their size is wrong, or another cluster's secret made them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandleCodec, HandleKind, handleBytes } from '../../../src/nfs/handles.js';

const secret = 'a-cluster-secret-of-some-length';

describe('file handles', () => {
  it('decodes what it encodes, on another codec with the same secret too (another gateway, a restart)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(HandleKind.Export, HandleKind.Pseudo),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        (kind, exportTag, ino) => {
          const bytes = new HandleCodec(secret).encode({ kind, exportTag, ino });
          expect(bytes.length).toBe(handleBytes);
          expect(new HandleCodec(secret).decode(bytes)).toEqual({ kind, exportTag, ino });
        },
      ),
    );
  });

  it('refuses a handle with any byte changed, and one made with another secret', () => {
    const codec = new HandleCodec(secret);
    const bytes = codec.encode({ kind: HandleKind.Export, exportTag: 7, ino: 42n });
    for (let index = 2; index < bytes.length; index++) {
      for (const bit of [0x01, 0x80]) {
        const changed = Buffer.from(bytes);
        changed[index] = (changed[index] ?? 0) ^ bit;
        expect(codec.decode(changed)).toBe('forged');
      }
    }
    expect(new HandleCodec('another-cluster-secret-value').decode(bytes)).toBe('forged');
  });

  it('calls handles of another size, version or kind malformed', () => {
    const codec = new HandleCodec(secret);
    const bytes = codec.encode({ kind: HandleKind.Export, exportTag: 7, ino: 42n });
    expect(codec.decode(bytes.subarray(0, handleBytes - 1))).toBe('malformed');
    expect(codec.decode(Buffer.concat([bytes, Buffer.alloc(1)]))).toBe('malformed');
    expect(codec.decode(Buffer.alloc(0))).toBe('malformed');
    const version = Buffer.from(bytes);
    version[0] = 2;
    expect(codec.decode(version)).toBe('malformed');
    const kind = Buffer.from(bytes);
    kind[1] = 9;
    expect(codec.decode(kind)).toBe('malformed');
  });

  it('never accepts random bytes', () => {
    const codec = new HandleCodec(secret);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (bytes) => {
        expect(typeof codec.decode(bytes)).toBe('string');
      }),
    );
  });
});
