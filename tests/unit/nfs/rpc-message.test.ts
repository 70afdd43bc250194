// Proves ONC RPC calls decode with their AUTH_SYS credential, that bad versions and credentials get the RPC answer for them, and that random or truncated messages only ever fail with MalformedXdr.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { NfsCode } from '../../../src/common/status-code.js';
import {
  AuthStatus,
  decodeCall,
  decodeReply,
  writeCall,
  type AuthSys,
} from '../../../src/nfs/rpc-message.js';
import { XdrWriter } from '../../../src/nfs/xdr.js';

const authSys = fc.record({
  stamp: fc.integer({ min: 0, max: 0xffff_ffff }),
  machineName: fc.string({ maxLength: 60 }),
  uid: fc.integer({ min: 0, max: 0xffff_ffff }),
  gid: fc.integer({ min: 0, max: 0xffff_ffff }),
  groups: fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { maxLength: 16 }),
});

function callBytes(credential: AuthSys | undefined, args: Uint8Array = new Uint8Array()): Buffer {
  const writer = new XdrWriter(4096);
  writeCall(writer, { xid: 77, program: 100003, version: 3, procedure: 1, credential });
  writer.fixedOpaque(args);
  return writer.toBuffer();
}

describe('RPC messages', () => {
  it('decodes a call with its AUTH_SYS credential and leaves the arguments to read', () => {
    fc.assert(
      fc.property(authSys, fc.uint8Array({ maxLength: 64 }), (sys, args) => {
        const padded = new Uint8Array(args.length + ((4 - (args.length % 4)) % 4));
        padded.set(args);
        const decoded = decodeCall(callBytes(sys, padded));
        expect(decoded.kind).toBe('call');
        if (decoded.kind !== 'call') return;
        expect(decoded.call).toMatchObject({ xid: 77, program: 100003, version: 3, procedure: 1 });
        expect(decoded.call.credential).toEqual({
          flavor: 'sys',
          sys: { ...sys, machineName: Buffer.from(sys.machineName, 'utf8').toString('utf8') },
        });
        expect(decoded.call.args.remaining).toBe(padded.length);
      }),
    );
  });

  it('answers another RPC version with RPC_MISMATCH', () => {
    const bytes = callBytes(undefined);
    bytes.writeUInt32BE(3, 8);
    const decoded = decodeCall(bytes);
    expect(decoded.kind).toBe('reject');
    if (decoded.kind !== 'reject') return;
    const writer = new XdrWriter(64);
    decoded.reply(writer);
    expect(decodeReply(writer.toBuffer())).toEqual({ kind: 'denied', xid: 77, reject: 0, detail: 2 });
  });

  it('answers a malformed AUTH_SYS body with AUTH_BADCRED', () => {
    const writer = new XdrWriter(256);
    writer.u32(5).u32(0).u32(2).u32(100003).u32(3).u32(0);
    writer.u32(1).opaque(Buffer.from([0, 0, 0, 1, 0, 0]));
    writer.u32(0).u32(0);
    const decoded = decodeCall(writer.toBuffer());
    expect(decoded.kind).toBe('reject');
    if (decoded.kind !== 'reject') return;
    const reply = new XdrWriter(64);
    decoded.reply(reply);
    expect(decodeReply(reply.toBuffer())).toEqual({
      kind: 'denied',
      xid: 5,
      reject: 1,
      detail: AuthStatus.BadCredentials,
    });
  });

  it('refuses a reply where a call belongs', () => {
    const bytes = callBytes(undefined);
    bytes.writeUInt32BE(1, 4);
    expect(() => decodeCall(bytes)).toThrow(FsError);
  });

  it('fails only with MalformedXdr on truncated calls and random bytes', () => {
    fc.assert(
      fc.property(authSys, fc.nat(), fc.uint8Array({ maxLength: 300 }), (sys, cut, noise) => {
        const valid = callBytes(sys);
        for (const bytes of [valid.subarray(0, cut % valid.length), Buffer.from(noise)]) {
          try {
            decodeCall(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(FsError);
            expect((error as FsError).code).toBe(NfsCode.MalformedXdr);
          }
        }
      }),
    );
  });
});
