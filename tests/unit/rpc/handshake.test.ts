// Proves the handshake proofs bind the secret, both nonces and the direction, and compare safely.
import { describe, expect, it } from 'vitest';
import {
  acceptSchema,
  clientProof,
  createNonce,
  handshakeNonceBytes,
  matchClientProof,
  proofMatches,
  serverProof,
} from '../../../src/rpc/handshake.js';

const secret = 'a cluster secret of some length';

describe('handshake proofs', () => {
  it('makes fresh nonces of the fixed size', () => {
    const first = createNonce();
    expect(first).toHaveLength(handshakeNonceBytes);
    expect(first.equals(createNonce())).toBe(false);
  });

  it('accepts the proof made with the same secret and nonces', () => {
    const serverNonce = createNonce();
    const clientNonce = createNonce();
    const expected = clientProof({ secret, serverNonce, clientNonce });
    expect(proofMatches(expected, clientProof({ secret, serverNonce, clientNonce }))).toBe(true);
  });

  it('rejects a proof made with another secret', () => {
    const serverNonce = createNonce();
    const clientNonce = createNonce();
    const expected = clientProof({ secret, serverNonce, clientNonce });
    expect(proofMatches(expected, clientProof({ secret: 'another secret', serverNonce, clientNonce }))).toBe(
      false,
    );
  });

  it('rejects a proof replayed over another nonce', () => {
    const clientNonce = createNonce();
    const expected = clientProof({ secret, serverNonce: createNonce(), clientNonce });
    expect(proofMatches(expected, clientProof({ secret, serverNonce: createNonce(), clientNonce }))).toBe(
      false,
    );
  });

  it('never lets a server proof pass as a client proof', () => {
    const serverNonce = createNonce();
    const clientNonce = createNonce();
    const asClient = clientProof({ secret, serverNonce, clientNonce });
    expect(proofMatches(asClient, serverProof({ secret, serverNonce, clientNonce }))).toBe(false);
  });

  it('rejects a proof of the wrong length without throwing', () => {
    const expected = clientProof({ secret, serverNonce: createNonce(), clientNonce: createNonce() });
    expect(proofMatches(expected, new Uint8Array(3))).toBe(false);
  });
});

describe('handshake proofs during a secret rotation', () => {
  const previous = 'the previous cluster secret';
  const next = 'the next cluster secret';

  it('finds which of several secrets the client proved', () => {
    const serverNonce = createNonce();
    const clientNonce = createNonce();
    for (const proved of [previous, next]) {
      const proof = clientProof({ secret: proved, serverNonce, clientNonce });
      expect(matchClientProof({ secrets: [next, previous], serverNonce, clientNonce, proof })).toBe(proved);
    }
  });

  it('finds none when the client proved a secret not held, or proved over other nonces', () => {
    const serverNonce = createNonce();
    const clientNonce = createNonce();
    const stranger = clientProof({ secret: 'a secret nobody holds', serverNonce, clientNonce });
    expect(matchClientProof({ secrets: [next, previous], serverNonce, clientNonce, proof: stranger })).toBe(
      undefined,
    );
    const replayed = clientProof({ secret: next, serverNonce: createNonce(), clientNonce });
    expect(matchClientProof({ secrets: [next, previous], serverNonce, clientNonce, proof: replayed })).toBe(
      undefined,
    );
  });

  it('reads a result with or without the current flag, so servers of either version are understood', () => {
    const proof = Buffer.alloc(32, 1);
    expect(acceptSchema.parse({ proof }).current).toBeUndefined();
    expect(acceptSchema.parse({ proof, current: true }).current).toBe(true);
    expect(acceptSchema.safeParse({ proof, current: 'yes' }).success).toBe(false);
  });
});
