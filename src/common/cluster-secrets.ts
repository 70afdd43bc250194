/**
 * The cluster secrets a process holds, and the file they come from.
 *
 * A cluster secret file lists one secret per line. The first is the one this process proves when
 * it connects out; every listed one is accepted from peers, the server proving back with the one
 * the peer used. Two lines let a cluster change its secret without stopping anything (README,
 * "Rotating the cluster secret"): every node accepts both while some connect with the old one and
 * others with the new one.
 *
 * Invariants: a ClusterSecrets always holds 1..clusterSecretsMax distinct secrets, each within the
 * length bounds; a file that breaks any rule is refused whole, never taken in part.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { FsError, assert, describeError } from './errors.js';
import { limits } from './limits.js';
import { CommonCode } from './status-code.js';

/** Largest secret file read: every secret at its longest with a CRLF line end. */
export const clusterSecretFileBytesMax = limits.clusterSecretsMax * (limits.clusterSecretCharsMax + 2);

/** Why `secrets` cannot be a node's secrets, or undefined when they can. */
function problemOf(secrets: readonly string[]): string | undefined {
  if (secrets.length === 0) return 'it lists no secret';
  if (secrets.length > limits.clusterSecretsMax) {
    return `it lists ${secrets.length} secrets; at most ${limits.clusterSecretsMax} are allowed`;
  }
  for (const [index, secret] of secrets.entries()) {
    const line = index + 1;
    if (secret.length === 0) return `line ${line} is empty`;
    if (secret.length < limits.clusterSecretCharsMin) {
      return `the secret on line ${line} is shorter than ${limits.clusterSecretCharsMin} characters`;
    }
    if (secret.length > limits.clusterSecretCharsMax) {
      return `the secret on line ${line} is longer than ${limits.clusterSecretCharsMax} characters`;
    }
    const first = secrets.indexOf(secret);
    if (first !== index) return `line ${line} repeats line ${first + 1}`;
  }
  return undefined;
}

/**
 * Parses a cluster secret file's text: one secret per line, surrounding whitespace ignored (so a
 * trailing newline or CRLF line ends are fine), no empty line between secrets. Throws
 * ConfigInvalid naming `source` and the first problem.
 */
export function parseClusterSecrets(text: string, source: string): string[] {
  const trimmed = text.trim();
  const secrets = trimmed === '' ? [] : trimmed.split('\n').map((line) => line.trim());
  const problem = problemOf(secrets);
  if (problem !== undefined) {
    throw new FsError(CommonCode.ConfigInvalid, `cluster secret file ${source}: ${problem}`);
  }
  return secrets;
}

/** Reads and parses a cluster secret file (see parseClusterSecrets), at start-up. */
export function readClusterSecretsFile(path: string): string[] {
  let text: string;
  try {
    const fd = openSync(path, 'r');
    try {
      text = readBounded(path, (buffer, offset) =>
        readSync(fd, buffer, offset, buffer.length - offset, null),
      );
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw readError(path, error);
  }
  return parseClusterSecrets(text, path);
}

/**
 * Reads and parses a cluster secret file without blocking the event loop: the FUSE daemon must
 * keep serving its mount while it reads (the file could even live on that mount).
 */
export async function readClusterSecretsFileAsync(path: string): Promise<string[]> {
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      text = await readBoundedAsync(path, async (buffer, offset) => {
        const { bytesRead } = await handle.read(buffer, offset, buffer.length - offset, null);
        return bytesRead;
      });
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw readError(path, error);
  }
  return parseClusterSecrets(text, path);
}

function readError(path: string, error: unknown): FsError {
  if (error instanceof FsError) return error;
  return new FsError(
    CommonCode.ConfigInvalid,
    `cannot read cluster secret file ${path}: ${describeError(error)}`,
    {
      cause: error,
    },
  );
}

function tooLarge(path: string): FsError {
  return new FsError(
    CommonCode.ConfigInvalid,
    `cluster secret file ${path}: more than ${clusterSecretFileBytesMax} bytes`,
  );
}

/** Reads until end of file into a buffer one byte larger than allowed, so an oversized file is caught. */
function readBounded(path: string, read: (buffer: Buffer, offset: number) => number): string {
  const buffer = Buffer.alloc(clusterSecretFileBytesMax + 1);
  let length = 0;
  for (let bytes = read(buffer, 0); bytes > 0; bytes = read(buffer, length)) {
    length += bytes;
    if (length === buffer.length) throw tooLarge(path);
  }
  return buffer.subarray(0, length).toString('utf8');
}

async function readBoundedAsync(
  path: string,
  read: (buffer: Buffer, offset: number) => Promise<number>,
): Promise<string> {
  const buffer = Buffer.alloc(clusterSecretFileBytesMax + 1);
  let length = 0;
  for (let bytes = await read(buffer, 0); bytes > 0; bytes = await read(buffer, length)) {
    length += bytes;
    if (length === buffer.length) throw tooLarge(path);
  }
  return buffer.subarray(0, length).toString('utf8');
}

/**
 * A short, one-way name of a secret for logs and `admin secret-rotate status`: it tells secrets
 * apart without revealing them (12 hex digits of a labelled SHA-256).
 */
export function secretFingerprint(secret: string): string {
  return createHash('sha256')
    .update('3fs-ts cluster secret fingerprint v1\0')
    .update(secret)
    .digest('hex')
    .slice(0, 12);
}

/**
 * The secrets a process holds now, shared by its RPC clients and servers: read at each new
 * connection's handshake only, so replacing them changes nothing for established connections and
 * costs calls nothing.
 */
export class ClusterSecrets {
  private secrets: readonly string[];

  constructor(secrets: readonly string[]) {
    this.secrets = ClusterSecrets.checked(secrets);
  }

  /** The secret proved when connecting out: the file's first line. */
  get current(): string {
    const current = this.secrets[0];
    assert(current !== undefined, 'a ClusterSecrets holds at least one secret');
    return current;
  }

  /** Every secret accepted from a connecting peer, the current one first. */
  get accepted(): readonly string[] {
    return this.secrets;
  }

  /** Fingerprints of the secrets held, in order (logs). */
  fingerprints(): string[] {
    return this.secrets.map(secretFingerprint);
  }

  /** Whether `secrets` are the ones held, in the same order. */
  holds(secrets: readonly string[]): boolean {
    return (
      secrets.length === this.secrets.length &&
      secrets.every((secret, index) => secret === this.secrets[index])
    );
  }

  /** Takes new secrets (already parsed); new connections use them, established ones stay. */
  replace(secrets: readonly string[]): void {
    this.secrets = ClusterSecrets.checked(secrets);
  }

  private static checked(secrets: readonly string[]): readonly string[] {
    const problem = problemOf(secrets);
    assert(problem === undefined, `cluster secrets are valid: ${problem ?? ''}`);
    return Object.freeze([...secrets]);
  }
}

/** One secret or a set of them, as RPC clients and servers take it. */
export type ClusterSecretsLike = string | ClusterSecrets;

/** A ClusterSecrets from what a caller passed: a single secret becomes a fixed set of one. */
export function toClusterSecrets(value: ClusterSecretsLike): ClusterSecrets {
  return typeof value === 'string' ? new ClusterSecrets([value]) : value;
}
