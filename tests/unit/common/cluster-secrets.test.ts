// Proves a cluster secret file is taken whole or refused with a clear reason, and that ClusterSecrets keeps its rules.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ClusterSecrets,
  clusterSecretFileBytesMax,
  parseClusterSecrets,
  readClusterSecretsFile,
  readClusterSecretsFileAsync,
  secretFingerprint,
  toClusterSecrets,
} from '../../../src/common/cluster-secrets.js';
import { readSecretFile } from '../../../src/common/config.js';
import { AssertionError, FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { CommonCode } from '../../../src/common/status-code.js';

const oldSecret = 'the-old-cluster-secret-0123456789';
const newSecret = 'the-new-cluster-secret-9876543210';

const dir = mkdtempSync(join(tmpdir(), '3fs-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function secretFile(text: string | Buffer): string {
  const path = join(dir, `secret-${files++}`);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

function refusal(run: () => unknown): FsError {
  try {
    run();
  } catch (error) {
    if (error instanceof FsError) return error;
    throw error;
  }
  throw new Error('expected the secret file to be refused');
}

describe('parsing a cluster secret file', () => {
  it('takes one secret with or without a trailing newline', () => {
    expect(parseClusterSecrets(`${oldSecret}\n`, 'f')).toEqual([oldSecret]);
    expect(parseClusterSecrets(oldSecret, 'f')).toEqual([oldSecret]);
  });

  it('takes several secrets, one per line, the first first, with LF or CRLF line ends', () => {
    expect(parseClusterSecrets(`${newSecret}\n${oldSecret}\n`, 'f')).toEqual([newSecret, oldSecret]);
    expect(parseClusterSecrets(`${oldSecret}\r\n${newSecret}\r\n`, 'f')).toEqual([oldSecret, newSecret]);
    expect(parseClusterSecrets(`  ${oldSecret}  \n\t${newSecret}\n\n`, 'f')).toEqual([oldSecret, newSecret]);
  });

  it('gives back any list of valid secrets written one per line', () => {
    const secretChar = fc.constantFrom(
      ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=-_. '.split(''),
    );
    const secret = fc
      .array(secretChar, { minLength: limits.clusterSecretCharsMin, maxLength: 80 })
      .map((chars) => chars.join('').trim())
      .filter((text) => text.length >= limits.clusterSecretCharsMin);
    fc.assert(
      fc.property(
        fc.uniqueArray(secret, { minLength: 1, maxLength: limits.clusterSecretsMax }),
        (secrets) => {
          expect(parseClusterSecrets(`${secrets.join('\n')}\n`, 'f')).toEqual(secrets);
        },
      ),
    );
  });

  it.each([
    ['an empty file', '', /lists no secret/],
    ['a file of blank lines', '\n  \n\n', /lists no secret/],
    ['an empty line between secrets', `${oldSecret}\n\n${newSecret}\n`, /line 2 is empty/],
    ['a short secret', `${oldSecret}\nshort\n`, /line 2 is shorter than 16 characters/],
    ['a long secret', `${'x'.repeat(limits.clusterSecretCharsMax + 1)}\n`, /line 1 is longer than 1024/],
    ['a repeated secret', `${oldSecret}\n${oldSecret}\n`, /line 2 repeats line 1/],
    [
      'too many secrets',
      Array.from({ length: limits.clusterSecretsMax + 1 }, (_, index) => `${oldSecret}-${index}`).join('\n'),
      /lists 5 secrets; at most 4/,
    ],
  ])('refuses %s with ConfigInvalid naming the file and the problem', (_, text, reason) => {
    const error = refusal(() => parseClusterSecrets(text, '/etc/3fs/cluster-secret'));
    expect(error.code).toBe(CommonCode.ConfigInvalid);
    expect(error.message).toContain('/etc/3fs/cluster-secret');
    expect(error.message).toMatch(reason);
  });

  it('never puts a secret in an error message', () => {
    const error = refusal(() => parseClusterSecrets(`${oldSecret}\n${oldSecret}\n`, 'f'));
    expect(error.message).not.toContain(oldSecret);
  });
});

describe('reading a cluster secret file', () => {
  it('reads the secrets in order, at start-up and without blocking', async () => {
    const path = secretFile(`${newSecret}\n${oldSecret}\n`);
    expect(readClusterSecretsFile(path)).toEqual([newSecret, oldSecret]);
    expect(await readClusterSecretsFileAsync(path)).toEqual([newSecret, oldSecret]);
  });

  it('gives readSecretFile the first line: the secret to connect with', () => {
    expect(readSecretFile(secretFile(`${newSecret}\n${oldSecret}\n`))).toBe(newSecret);
    expect(readSecretFile(secretFile(`${oldSecret}\n`))).toBe(oldSecret);
  });

  it('refuses a file larger than any valid one without parsing it', async () => {
    const path = secretFile(Buffer.alloc(clusterSecretFileBytesMax + 1, 'a'));
    expect(refusal(() => readClusterSecretsFile(path)).message).toMatch(/more than \d+ bytes/);
    await expect(readClusterSecretsFileAsync(path)).rejects.toMatchObject({
      code: CommonCode.ConfigInvalid,
      message: expect.stringMatching(/more than \d+ bytes/),
    });
  });

  it('refuses a missing file with ConfigInvalid naming it', async () => {
    const path = join(dir, 'absent');
    const error = refusal(() => readClusterSecretsFile(path));
    expect(error.code).toBe(CommonCode.ConfigInvalid);
    expect(error.message).toMatch(/cannot read cluster secret file .*absent/);
    await expect(readClusterSecretsFileAsync(path)).rejects.toMatchObject({ code: CommonCode.ConfigInvalid });
  });
});

describe('ClusterSecrets', () => {
  it('connects with the first secret and accepts all of them', () => {
    const secrets = new ClusterSecrets([newSecret, oldSecret]);
    expect(secrets.current).toBe(newSecret);
    expect(secrets.accepted).toEqual([newSecret, oldSecret]);
    expect(secrets.holds([newSecret, oldSecret])).toBe(true);
    expect(secrets.holds([oldSecret, newSecret])).toBe(false);
  });

  it('takes new secrets in place, so every holder of the object sees them', () => {
    const secrets = new ClusterSecrets([oldSecret]);
    const holder = toClusterSecrets(secrets);
    secrets.replace([newSecret]);
    expect(holder.current).toBe(newSecret);
    expect(holder.accepted).toEqual([newSecret]);
  });

  it('makes a fixed set of one from a single secret', () => {
    expect(toClusterSecrets(oldSecret).accepted).toEqual([oldSecret]);
  });

  it('treats invalid secrets handed to it in code as a bug', () => {
    expect(() => new ClusterSecrets([])).toThrow(AssertionError);
    expect(() => new ClusterSecrets(['short'])).toThrow(AssertionError);
    expect(() => new ClusterSecrets([oldSecret]).replace([oldSecret, oldSecret])).toThrow(AssertionError);
  });

  it('names secrets by fingerprints that tell them apart and reveal nothing', () => {
    const fingerprint = secretFingerprint(oldSecret);
    expect(fingerprint).toMatch(/^[0-9a-f]{12}$/);
    expect(secretFingerprint(oldSecret)).toBe(fingerprint);
    expect(secretFingerprint(newSecret)).not.toBe(fingerprint);
    expect(new ClusterSecrets([newSecret, oldSecret]).fingerprints()).toEqual([
      secretFingerprint(newSecret),
      fingerprint,
    ]);
  });
});
