// Proves the handshake proofs bind the secret, both nonces and the direction, and compare safely.
import { describe, expect, it } from 'vitest';
import {
  clientProof,
  createNonce,
  handshakeNonceBytes,
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
