/**
 * Node authentication by the cluster secret: a mutual HMAC-SHA256 challenge/response run on every
 * new connection before any request is accepted.
 *
 *   server -> client  HandshakeChallenge { nonce: serverNonce }
 *   client -> server  HandshakeAnswer    { nonce: clientNonce,
 *                                          proof: HMAC(secret, clientLabel | serverNonce | clientNonce) }
 *   server -> client  HandshakeResult    status 0 { proof: HMAC(secret, serverLabel | clientNonce | serverNonce) }
 *                                        or status AuthFailed { message }
 *
 * Each side proves the secret over a fresh nonce chosen by the other, so a recorded handshake cannot
 * be replayed; the two labels differ, so a server's proof can never be reflected back as a client's.
 *
 * During a secret rotation a node holds several secrets (common/cluster-secrets.ts): the client
 * proves its current one; the server accepts any it holds and proves back with the one the client
 * used, adding `current: true` when that is also the server's own current secret (what `admin
 * secret-rotate status` shows; a server of an earlier version leaves the field out).
 * A client holding a user token instead of the secret names the token and proves its key the same
 * way (caller.ts); the server proves the same key back, so the client knows it reached the cluster.
 * This file holds the pure parts (nonces, proofs, message shapes); the connections run the exchange.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { assert } from '../common/errors.js';

export const handshakeNonceBytes = 32;
const proofBytes = 32;
const clientProofLabel = '3fs-ts rpc client proof v1';
const serverProofLabel = '3fs-ts rpc server proof v1';
/** Separates the label from the nonces; nonces have a fixed size, so the input is unambiguous. */
const separator = Buffer.from([0]);

const bytesOf = (length: number): z.ZodType<Uint8Array> =>
  z.instanceof(Uint8Array).refine((bytes) => bytes.byteLength === length, `expected ${length} bytes`);

/** Body of a HandshakeChallenge frame. */
export const challengeSchema = z.strictObject({ nonce: bytesOf(handshakeNonceBytes) });
/** Body of a HandshakeAnswer frame. */
export const answerSchema = z.strictObject({
  nonce: bytesOf(handshakeNonceBytes),
  proof: bytesOf(proofBytes),
  /**
   * The id of the user token the proof was made with (caller.ts); absent when the client proved
   * the cluster secret. Both proofs then use the token's key in place of the secret.
   */
  token: z.string().max(64).optional(),
});
/** Body of a HandshakeResult frame with status 0. */
export const acceptSchema = z.strictObject({
  proof: bytesOf(proofBytes),
  /** Whether the secret the client proved is the server's current one (absent: not told). */
  current: z.boolean().optional(),
});

/** A fresh random nonce from the operating system's CSPRNG. */
export function createNonce(): Buffer {
  return randomBytes(handshakeNonceBytes);
}

function proof(options: { secret: string; label: string; first: Uint8Array; second: Uint8Array }): Buffer {
  assert(options.first.byteLength === handshakeNonceBytes, 'nonces have a fixed size');
  assert(options.second.byteLength === handshakeNonceBytes, 'nonces have a fixed size');
  return createHmac('sha256', options.secret)
    .update(options.label)
    .update(separator)
    .update(options.first)
    .update(options.second)
    .digest();
}

/** What the client sends to prove the secret. */
export function clientProof(options: {
  secret: string;
  serverNonce: Uint8Array;
  clientNonce: Uint8Array;
}): Buffer {
  return proof({
    secret: options.secret,
    label: clientProofLabel,
    first: options.serverNonce,
    second: options.clientNonce,
  });
}

/** What the server sends back to prove the secret in turn. */
export function serverProof(options: {
  secret: string;
  serverNonce: Uint8Array;
  clientNonce: Uint8Array;
}): Buffer {
  return proof({
    secret: options.secret,
    label: serverProofLabel,
    first: options.clientNonce,
    second: options.serverNonce,
  });
}

/** Compares proofs in constant time, so the comparison leaks nothing about the expected proof. */
export function proofMatches(expected: Buffer, received: Uint8Array): boolean {
  if (received.byteLength !== expected.length) return false;
  return timingSafeEqual(expected, received);
}

/**
 * Which of `secrets` the client proved with `proof`, or undefined for none. Each candidate costs
 * one HMAC, at the handshake only; the list is bounded (limits.clusterSecretsMax).
 */
export function matchClientProof(options: {
  secrets: readonly string[];
  serverNonce: Uint8Array;
  clientNonce: Uint8Array;
  proof: Uint8Array;
}): string | undefined {
  const { serverNonce, clientNonce } = options;
  return options.secrets.find((secret) =>
    proofMatches(clientProof({ secret, serverNonce, clientNonce }), options.proof),
  );
}
